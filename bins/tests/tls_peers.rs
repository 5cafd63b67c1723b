//! Every server over TLS (`--tls-cert/--tls-key`, certificates made here
//! with rcgen), on both engines, against TLS stacks no one here wrote:
//! `openssl s_client`, `gnutls-cli` and Python's `ssl` (xmlrpc.client and
//! urllib); and each server's answer to peers that fail the handshake.
//!
//! Needs `openssl` and `python3`; the gnutls test (ignored unless asked
//! for) needs `gnutls-cli` (Debian's `gnutls-bin`; `.ci/run` installs it).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::process::Proc;
use common::TIMEOUT;

const ENGINES: [&str; 2] = ["std", "mio"];

/// A CA, and a certificate it signed for localhost and 127.0.0.1, as
/// files.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// Another CA, which signed nothing here.
    other_ca: PathBuf,
}

fn pki(name: &str) -> Pki {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let made = commlab::tls::make_for(&["localhost", "127.0.0.1"]).unwrap();
    let other = commlab::tls::make_for(&["localhost"]).unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        other_ca: dir.join("other-ca.pem"),
    };
    std::fs::write(&pki.ca, &made.ca_pem).unwrap();
    std::fs::write(&pki.cert, &made.cert_pem).unwrap();
    std::fs::write(&pki.key, &made.key_pem).unwrap();
    std::fs::write(&pki.other_ca, &other.ca_pem).unwrap();
    pki
}

/// Fails with how to install `tool` when it is missing.
fn need(tool: &str, probe: &str, install: &str) {
    let found = Command::new(tool)
        .arg(probe)
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty());
    assert!(found, "{tool} is needed for the TLS tests: {install}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `commlab ARGS --engine ENGINE --tls-cert .. --tls-key ..`, listening.
fn tls_server(args: &[&str], engine: &str, pki: &Pki) -> (Proc, SocketAddr) {
    let mut all = args.to_vec();
    all.extend([
        "--engine",
        engine,
        "--tls-cert",
        s(&pki.cert),
        "--tls-key",
        s(&pki.key),
    ]);
    Proc::commlab_server(&all)
}

fn s_client(addr: SocketAddr, ca: &Path) -> Proc {
    need("openssl", "version", "apt-get install openssl");
    Proc::spawn(
        "openssl s_client",
        Command::new("openssl").args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-CAfile",
            s(ca),
            "-verify_return_error",
            "-verify_ip",
            "127.0.0.1",
            "-quiet",
            "-no_ign_eof",
        ]),
    )
}

fn gnutls_cli(addr: SocketAddr, ca: &Path) -> Proc {
    need("gnutls-cli", "--version", "apt-get install gnutls-bin");
    Proc::spawn(
        "gnutls-cli",
        Command::new("gnutls-cli").args([
            "--x509cafile",
            s(ca),
            "--port",
            &addr.port().to_string(),
            "127.0.0.1",
        ]),
    )
}

/// Two chat exchanges with `peer`, then its close_notify; the server
/// logged a TLS 1.3 handshake and no refusal.
fn chat_with(peer_of: impl Fn(SocketAddr, &Path) -> Proc, name: &str) {
    let pki = pki(name);
    for engine in ENGINES {
        let (server, addr) = tls_server(&["chat", "server", "--mode", "echo"], engine, &pki);
        let mut peer = peer_of(addr, &pki.ca);
        peer.type_in("olá\n");
        peer.wait_out("Eco=>olá\n");
        peer.type_in("tudo bem?\n");
        peer.wait_out("Eco=>tudo bem?\n");
        // End of input: the peer sends close_notify and leaves.
        peer.close_stdin();
        peer.wait_exit();
        let log = server.wait_err("closed: client closed the connection");
        assert!(log.contains("TLS handshake done: TLS 1.3"), "{log}");
        assert!(!log.contains("TLS refused"), "{log}");
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "needs openssl (s_client, certificate checks), which the Windows test run has not"
)]
fn openssl_s_client_exchanges_chat_lines_on_both_engines() {
    chat_with(s_client, "openssl");
}

#[test]
#[ignore = "needs gnutls-cli (apt-get install gnutls-bin); .ci/run installs it"]
fn gnutls_cli_exchanges_chat_lines_on_both_engines() {
    chat_with(gnutls_cli, "gnutls");
}

#[test]
#[cfg_attr(
    windows,
    ignore = "calls through Python's ssl (python3), which the Windows test run has not"
)]
fn python_ssl_calls_xml_rpc_and_the_calc_api_on_both_engines() {
    let pki = pki("python");
    let script = r#"
import ssl, sys, urllib.request, xmlrpc.client
kind, url, ca = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
if kind == "rpc":
    proxy = xmlrpc.client.ServerProxy(url, context=ctx)
    print(proxy.add(2, 3), proxy.pow(2, 10))
else:
    with urllib.request.urlopen(url, context=ctx) as r:
        print(r.status, r.read().decode())
"#;
    for engine in ENGINES {
        let (_rpc, addr) = tls_server(&["rpc", "server"], engine, &pki);
        let out = Command::new("python3")
            .args([
                "-c",
                script,
                "rpc",
                &format!("https://127.0.0.1:{}/RPC2", addr.port()),
                s(&pki.ca),
            ])
            .output()
            .expect("python3 is needed: apt-get install python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "5 1024\n");

        let (_calc, addr) = tls_server(&["calc", "server"], engine, &pki);
        let out = Command::new("python3")
            .args([
                "-c",
                script,
                "calc",
                &format!("https://127.0.0.1:{}/api/soma/4/5", addr.port()),
                s(&pki.ca),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("200 ") && text.contains('9'), "{text}");
    }
}

fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    got
}

#[test]
#[cfg_attr(
    windows,
    ignore = "needs openssl (s_client, certificate checks), which the Windows test run has not"
)]
fn bad_peers_get_one_log_line_each_and_the_server_serves_on_on_both_engines() {
    let pki = pki("faults");
    for engine in ENGINES {
        let (server, addr) = tls_server(&["chat", "server", "--mode", "echo"], engine, &pki);

        // Plaintext HTTP: a plaintext 400 that says why.
        let mut plain = TcpStream::connect(addr).unwrap();
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let answer = String::from_utf8(read_all(&mut plain)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        assert!(answer.contains("speaks TLS"), "{answer}");
        server.wait_err("TLS refused: plaintext HTTP on a TLS port");

        // Not TLS at all (a chat line in clear): an alert, then the close.
        let mut garbage = TcpStream::connect(addr).unwrap();
        garbage.write_all(b"hello\n").unwrap();
        let back = read_all(&mut garbage);
        assert!(
            !back.is_empty() && back[0] == 0x15,
            "an alert record: {back:?}"
        );
        server.wait_err("TLS refused: not TLS at all (first byte 0x68");

        // A handshake cut halfway.
        let mut cut = TcpStream::connect(addr).unwrap();
        cut.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03])
            .unwrap();
        cut.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = read_all(&mut cut);
        server.wait_err("TLS refused: connection closed during the handshake");

        // A client that does not trust the server's CA.
        let mut wrong = s_client(addr, &pki.other_ca);
        let status = wrong.wait_exit();
        assert!(!status.success());
        assert!(wrong.err.text().contains("verify"), "{}", wrong.err.text());
        server.wait_err("TLS refused: the peer refused the handshake");

        // A client offering only TLS 1.1 (which rustls does not speak).
        let old = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &addr.to_string(),
                "-tls1_1",
                "-cipher",
                "DEFAULT@SECLEVEL=0",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!old.status.success());
        let said = String::from_utf8_lossy(&old.stderr);
        assert!(said.contains("alert handshake failure"), "{said}");
        server.wait_err("TLS refused: no common TLS version or cipher suite");

        // Everyone else is still served.
        let mut good = s_client(addr, &pki.ca);
        good.type_in("ainda aqui\n");
        good.wait_out("Eco=>ainda aqui\n");
        let log = server.err.text();
        assert_eq!(
            log.matches("TLS refused").count(),
            5,
            "one line per bad peer:\n{log}"
        );
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "needs openssl (s_client, certificate checks), which the Windows test run has not"
)]
fn a_self_signed_server_writes_its_ca_and_clients_trust_it() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tls-self-signed");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("class-ca.pem");
    let _ = std::fs::remove_file(&ca);
    let (server, addr) = Proc::commlab_server(&[
        "chat",
        "server",
        "--mode",
        "echo",
        "--tls-self-signed",
        "--tls-ca-out",
        s(&ca),
    ]);
    let log = server.wait_err("fingerprint");
    assert!(
        log.contains(&format!("clients: --ca {}", ca.display())),
        "{log}"
    );
    let mut peer = s_client(addr, &ca);
    peer.type_in("oi\n");
    peer.wait_out("Eco=>oi\n");
}

#[test]
fn missing_or_mismatched_certificate_files_are_one_clear_error() {
    let pki = pki("files");
    let other = commlab::tls::make_for(&["localhost"]).unwrap();
    let wrong_key = pki.key.with_file_name("wrong-key.pem");
    std::fs::write(&wrong_key, &other.key_pem).unwrap();
    for (cert, key, says) in [
        (
            Path::new("/nonexistent/cert.pem"),
            pki.key.as_path(),
            "cannot read /nonexistent/cert.pem",
        ),
        (
            pki.cert.as_path(),
            wrong_key.as_path(),
            "not usable together",
        ),
        (
            pki.key.as_path(),
            pki.key.as_path(),
            "holds no PEM certificate",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_commlab"))
            .args([
                "chat",
                "server",
                "--port",
                "0",
                "--tls-cert",
                s(cert),
                "--tls-key",
                s(key),
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err} lacks {says:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(out.stdout.is_empty(), "nothing listens");
    }
}

/// A TLS 1.0 or 1.1 client (openssl s_client -tls1 / -tls1_1) is refused
/// with a `handshake_failure` alert (rustls refuses such a hello for its
/// missing signature_algorithms before it compares versions), and the
/// server logs one line: what docs/protocols/tls.md says.
#[test]
#[cfg_attr(
    windows,
    ignore = "needs openssl (s_client, certificate checks), which the Windows test run has not"
)]
fn tls_1_0_and_1_1_clients_get_handshake_failure_on_both_engines() {
    need("openssl", "version", "apt-get install openssl");
    let pki = pki("old-versions");
    for engine in ENGINES {
        let (server, addr) = tls_server(&["calc", "server"], engine, &pki);
        for version in ["-tls1", "-tls1_1"] {
            let out = Command::new("openssl")
                .args(["s_client", "-connect", &addr.to_string(), version])
                // OpenSSL 3 allows TLS 1.0/1.1 only at security level 0.
                .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{version} was accepted: {err}");
            assert!(
                err.contains("alert handshake failure"),
                "{version} on {engine}: {err}"
            );
        }
        let log = server.wait_err("SignatureAlgorithmsExtensionRequired");
        assert!(
            log.contains("TLS refused: no common TLS version or cipher suite"),
            "{log}"
        );
    }
}

/// `YYYY-MM-DD HH:MM:SSZ` (openssl's `-dateopt iso_8601`) as seconds since
/// the Unix epoch, by the `time` crate (commlab's, for certificate dates).
fn iso_to_unix(text: &str) -> i64 {
    let n: Vec<u16> = text
        .trim()
        .trim_end_matches('Z')
        .split(['-', ' ', ':'])
        .map(|p| p.parse::<u16>().unwrap())
        .collect();
    let month = time::Month::try_from(u8::try_from(n[1]).unwrap()).unwrap();
    let date = time::Date::from_calendar_date(i32::from(n[0]), month, n[2] as u8).unwrap();
    let hms = time::Time::from_hms(n[3] as u8, n[4] as u8, n[5] as u8).unwrap();
    time::PrimitiveDateTime::new(date, hms)
        .assume_utc()
        .unix_timestamp()
}

/// The validity of a PEM certificate, read by openssl.
fn validity(pem: &str, dir: &Path, name: &str) -> (i64, i64) {
    need("openssl", "version", "apt-get install openssl");
    let file = dir.join(name);
    std::fs::write(&file, pem).unwrap();
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-startdate",
            "-enddate",
            "-dateopt",
            "iso_8601",
            "-in",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{text}"));
        iso_to_unix(&line[key.len()..])
    };
    (field("notBefore="), field("notAfter="))
}

/// Certificates made at start (`--tls-self-signed`) start an hour before
/// the clock passed in; the server's lasts under the 398 days browsers
/// accept, the CA three years; only the server's is sent.
#[test]
#[cfg_attr(
    windows,
    ignore = "needs openssl (s_client, certificate checks), which the Windows test run has not"
)]
fn certificates_made_at_start_have_short_honest_lifetimes() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tls-lifetimes");
    std::fs::create_dir_all(&dir).unwrap();
    let now = 1_796_083_200u64; // 2026-12-01, a clock passed in
    let made =
        commlab::tls::make_for_at(&["localhost"], std::time::Duration::from_secs(now)).unwrap();
    let now = i64::try_from(now).unwrap();
    let backdate = i64::try_from(commlab::tls::BACKDATE.as_secs()).unwrap();
    let (start, end) = validity(&made.cert_pem, &dir, "leaf.pem");
    assert_eq!(start, now - backdate);
    assert!(
        end - start <= 398 * 86_400,
        "{} days",
        (end - start) / 86_400
    );
    assert_eq!(end - start, 397 * 86_400);
    let (ca_start, ca_end) = validity(&made.ca_pem, &dir, "ca.pem");
    assert_eq!(ca_start, now - backdate);
    assert_eq!(ca_end - ca_start, 3 * 365 * 86_400);
    assert_eq!(made.chain.len(), 1, "the CA is not sent unless asked");
    assert_eq!(made.with_ca().chain.len(), 2);
}
