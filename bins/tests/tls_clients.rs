//! commlab's own clients over TLS against commlab's servers, on both
//! engines: `chat client --tls`, `ft client --tls`, `calc client` and
//! `rpc` on `https://`, `ws client` on `wss://`; each client's one line
//! when the certificate is wrong; a TLS record cut mid-upload.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use commlab::tls::{ServerTls, TlsClientArgs};
use commlab_core::filexfer::{DigestAlg, FtClient, FtClientEvent};
use commlab_core::tls::{TlsClientEvent, TlsSession};
use commlab_core::Session;
use common::ft::{users, Dir};
use common::process::Proc;
use common::TIMEOUT;

const ENGINES: [&str; 2] = ["std", "mio"];

struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    other_ca: PathBuf,
    expired_cert: PathBuf,
    expired_key: PathBuf,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn pki(name: &str) -> Pki {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-clients-{name}"));
    fs::create_dir_all(&dir).unwrap();
    let made = commlab::tls::make_for(&["localhost", "127.0.0.1"]).unwrap();
    let other = commlab::tls::make_for(&["localhost"]).unwrap();
    let p = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        other_ca: dir.join("other-ca.pem"),
        expired_cert: dir.join("expired.pem"),
        expired_key: dir.join("expired-key.pem"),
    };
    fs::write(&p.ca, &made.ca_pem).unwrap();
    fs::write(&p.cert, &made.cert_pem).unwrap();
    fs::write(&p.key, &made.key_pem).unwrap();
    fs::write(&p.other_ca, &other.ca_pem).unwrap();
    // A certificate of 2020, signed by a CA of its own written beside it
    // (the client trusts that CA: only the dates are wrong).
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "old CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca).unwrap();
    fs::write(&p.expired_cert, cert.pem() + &ca.pem()).unwrap();
    fs::write(&p.expired_key, key.serialize_pem()).unwrap();
    fs::write(dir.join("old-ca.pem"), ca.pem()).unwrap();
    p
}

fn server(args: &[&str], engine: &str, cert: &Path, key: &Path) -> (Proc, SocketAddr) {
    let mut all = args.to_vec();
    all.extend([
        "--engine",
        engine,
        "--tls-cert",
        s(cert),
        "--tls-key",
        s(key),
    ]);
    Proc::commlab_server(&all)
}

fn commlab(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_commlab"))
        .args(args)
        .env_remove("COMMLAB_CALC_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_commlab_client_speaks_tls_to_its_server_on_both_engines() {
    let pki = pki("all");
    for engine in ENGINES {
        // Chat.
        let (chat, addr) = server(
            &["chat", "server", "--mode", "echo"],
            engine,
            &pki.cert,
            &pki.key,
        );
        let port = addr.port().to_string();
        let out = commlab(
            &[
                "chat",
                "client",
                "--port",
                &port,
                "--tls",
                "--ca",
                s(&pki.ca),
            ],
            "olá\n",
        );
        assert!(ok(&out).contains("Server recebeu: Eco=>olá"), "{out:?}");
        chat.wait_err("closed: client closed the connection");

        // REST calc over HTTPS (the class's client against --tls-cert).
        let (_calc, addr) = server(&["calc", "server"], engine, &pki.cert, &pki.key);
        let url = format!("https://127.0.0.1:{}/api", addr.port());
        let out = commlab(
            &[
                "calc",
                "client",
                "--base-url",
                &url,
                "--ca",
                s(&pki.ca),
                "soma",
                "4",
                "5",
            ],
            "",
        );
        assert_eq!(ok(&out), "{'A soma: ': 9}\n");

        // XML-RPC over HTTPS.
        let (_rpc, addr) = server(&["rpc", "server"], engine, &pki.cert, &pki.key);
        let url = format!("https://127.0.0.1:{}/RPC2", addr.port());
        let out = commlab(
            &[
                "rpc",
                "call",
                "--url",
                &url,
                "--ca",
                s(&pki.ca),
                "add",
                "2",
                "3",
            ],
            "",
        );
        assert_eq!(ok(&out), "5\n");

        // WebSocket over TLS (wss://), by name with --tls-server-name.
        let (_ws, addr) = server(&["ws", "server"], engine, &pki.cert, &pki.key);
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let out = commlab(
            &[
                "ws",
                "client",
                "--url",
                &url,
                "--ca",
                s(&pki.ca),
                "--tls-server-name",
                "localhost",
                "sum",
                "2",
                "3",
            ],
            "",
        );
        assert_eq!(ok(&out), "5\n");

        // File transfer over TLS: get and put.
        let dir = Dir::new(&format!("tls-{engine}"));
        let data = common::ft::random_bytes(300_000, 9);
        fs::write(dir.srv().join("FT_teste.xlsx"), &data).unwrap();
        let (_ft, addr) = server(
            &[
                "ft",
                "server",
                "--root",
                s(&dir.srv()),
                "--user",
                "aluno:senha",
            ],
            engine,
            &pki.cert,
            &pki.key,
        );
        let port = addr.port().to_string();
        let got = dir.cli("got.xlsx");
        let ft = |cmd: &[&str]| {
            let mut all = vec![
                "ft",
                "client",
                "--port",
                &port,
                "--tls",
                "--ca",
                s(&pki.ca),
                "--user",
                "aluno",
                "--password",
                "senha",
            ];
            all.extend_from_slice(cmd);
            commlab(&all, "")
        };
        ok(&ft(&["get", "FT_teste.xlsx", "--out", s(&got)]));
        assert_eq!(fs::read(&got).unwrap(), data);
        ok(&ft(&["put", s(&got), "--as", "back.xlsx"]));
        assert_eq!(fs::read(dir.srv().join("back.xlsx")).unwrap(), data);
    }
}

/// The client's stderr: one line, naming what is wrong; exit code 1.
fn one_error_line(out: &Output, says: &str) {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains(says), "{:?} lacks {says:?}", errors[0]);
}

#[test]
fn a_wrong_ca_name_or_date_is_one_clear_line_on_the_client_and_one_on_the_server() {
    let pki = pki("faults");
    let old_ca = pki.ca.with_file_name("old-ca.pem");
    for engine in ENGINES {
        let (calc, addr) = server(&["calc", "server"], engine, &pki.cert, &pki.key);
        let url = format!("https://127.0.0.1:{}/api", addr.port());
        let wrong_ca = commlab(
            &[
                "calc",
                "client",
                "--base-url",
                &url,
                "--ca",
                s(&pki.other_ca),
                "soma",
                "1",
                "2",
            ],
            "",
        );
        one_error_line(&wrong_ca, "UnknownIssuer");
        calc.wait_err("TLS refused: the peer refused the handshake: received fatal alert");
        let wrong_name = commlab(
            &[
                "calc",
                "client",
                "--base-url",
                &url,
                "--ca",
                s(&pki.ca),
                "--tls-server-name",
                "example.org",
                "soma",
                "1",
                "2",
            ],
            "",
        );
        one_error_line(&wrong_name, "not valid for name \"example.org\"");

        let (chat, addr) = server(
            &["chat", "server", "--mode", "echo"],
            engine,
            &pki.expired_cert,
            &pki.expired_key,
        );
        let out = commlab(
            &[
                "chat",
                "client",
                "--port",
                &addr.port().to_string(),
                "--tls",
                "--ca",
                s(&old_ca),
            ],
            "olá\n",
        );
        one_error_line(&out, "certificate expired");
        chat.wait_err("TLS refused");

        // The servers served the right clients all along.
        let out = commlab(
            &[
                "calc",
                "client",
                "--base-url",
                &url,
                "--ca",
                s(&pki.ca),
                "soma",
                "1",
                "2",
            ],
            "",
        );
        assert_eq!(ok(&out), "{'A soma: ': 3}\n");
    }
}

#[test]
fn the_ft_client_will_not_send_a_password_in_clear_off_this_machine() {
    // 192.0.2.1 is TEST-NET-1: never connected to, the refusal comes first.
    let out = commlab(
        &[
            "ft",
            "client",
            "--host",
            "192.0.2.1",
            "--user",
            "aluno",
            "--password",
            "senha",
            "list",
        ],
        "",
    );
    one_error_line(&out, "refusing to send the password in clear to 192.0.2.1");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls"));
}

/// Runs the session over `stream` until `done` says so.
fn drive(
    stream: &mut TcpStream,
    session: &mut TlsSession<FtClient>,
    mut done: impl FnMut(&FtClientEvent) -> bool,
) {
    let deadline = Instant::now() + TIMEOUT;
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let mut out = Vec::new();
        session.poll_transmit(&mut out);
        stream.write_all(&out).unwrap();
        while let Some(e) = session.poll_event() {
            match e {
                TlsClientEvent::Inner(e) if done(&e) => return,
                TlsClientEvent::Failed(e) => panic!("TLS failed: {e}"),
                _ => {}
            }
        }
        assert!(Instant::now() < deadline, "timed out");
        match stream.read(&mut buf) {
            Ok(0) => panic!("the server closed"),
            Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
            Err(_) => session.handle_timeout(Instant::now()),
        }
    }
}

#[test]
fn a_tls_record_cut_mid_upload_leaves_the_old_file_on_both_engines() {
    let made = commlab::tls::make_for(&["localhost", "127.0.0.1"]).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tls-cut");
    fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    fs::write(&ca, &made.ca_pem).unwrap();
    let trust = TlsClientArgs {
        ca: Some(ca),
        tls_server_name: None,
    };
    for engine in common::ENGINES {
        let files = Dir::new(&format!("tls-cut-{engine}"));
        let old = b"the old version".to_vec();
        fs::write(files.srv().join("FT_teste.xlsx"), &old).unwrap();
        let key = made.key.clone_key();
        let config = commlab::ft::FtServerConfig {
            sink: Box::new(|_| {}),
            tls: Some(ServerTls::new(made.chain.clone(), key).unwrap()),
            ..commlab::ft::FtServerConfig::new(&files.srv(), users())
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = commlab::ft::start(engine, listener, config).unwrap();

        let tls = trust.client("127.0.0.1").unwrap();
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        let mut session = TlsSession::new(
            FtClient::new(DigestAlg::Blake3),
            tls.config,
            tls.name,
            tls.clock,
            Instant::now(),
        )
        .unwrap();
        drive(&mut stream, &mut session, |e| {
            matches!(e, FtClientEvent::Hello { .. })
        });
        session.inner_mut().login("aluno", "senha").unwrap();
        drive(&mut stream, &mut session, |e| {
            matches!(e, FtClientEvent::Ok(_))
        });
        session.inner_mut().put("FT_teste.xlsx", 100_000).unwrap();
        drive(&mut stream, &mut session, |e| {
            matches!(e, FtClientEvent::UploadReady { .. })
        });
        session.inner_mut().upload_data(&[7u8; 50_000]).unwrap();
        let mut records = Vec::new();
        session.poll_transmit(&mut records);
        // Half the ciphertext, cut inside a record, then the TCP end.
        stream.write_all(&records[..records.len() / 2]).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let deadline = Instant::now() + TIMEOUT;
        while files.listing() != ["FT_teste.xlsx"] && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(files.listing(), ["FT_teste.xlsx"], "engine {engine}");
        assert_eq!(fs::read(files.srv().join("FT_teste.xlsx")).unwrap(), old);
        server.shutdown();
    }
}

/// A TLS server in Python that answers one XML-RPC request per
/// connection, then drops the TCP connection without close_notify (as
/// servers dropping idle kept-alive connections do).
const DROPPING_SERVER: &str = r#"
import socket, ssl, sys
cert, key = sys.argv[1:3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen()
print(ls.getsockname()[1], flush=True)
body = b'<?xml version="1.0"?><methodResponse><params><param><value><int>5</int></value></param></params></methodResponse>'
for _ in range(2):
    raw, _ = ls.accept()
    bare = raw.dup()
    tls = ctx.wrap_socket(raw, server_side=True)
    got = b""
    while b"</methodCall>" not in got:
        got += tls.recv(65536)
    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    bare.shutdown(socket.SHUT_RDWR)
    bare.close()
"#;

#[test]
#[cfg_attr(
    windows,
    ignore = "serves TLS from Python's ssl (python3), which the Windows test run has not"
)]
fn a_kept_alive_tls_connection_dropped_without_close_notify_is_reopened() {
    let pki = pki("dropping");
    let mut server = Proc::spawn(
        "python TLS server",
        Command::new("python3").args(["-c", DROPPING_SERVER, s(&pki.cert), s(&pki.key)]),
    );
    let port = server.wait_out("\n").trim().to_owned();
    let trust = TlsClientArgs {
        ca: Some(pki.ca.clone()),
        tls_server_name: None,
    };
    let url = format!("https://127.0.0.1:{port}/RPC2");
    let mut client = commlab::rpc::RpcClient::with_tls(&url, false, &trust).unwrap();
    let first = client.call("add", &[]).unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The kept-alive connection is gone, cut: the call goes on a new one.
    let second = client.call("add", &[]).unwrap().unwrap();
    assert_eq!(first, second);
    assert!(server.wait_exit().success(), "{}", server.err.text());
}

/// Every client told to speak TLS to a plaintext server says so at once
/// (the plaintext answer's first byte), not after the handshake timeout.
#[test]
fn every_tls_client_on_a_plaintext_port_says_so_at_once_on_both_engines() {
    let quick = commlab_core::tls::HANDSHAKE_TIMEOUT / 3;
    for engine in ENGINES {
        let (_calc, calc) = Proc::commlab_server(&["calc", "server", "--engine", engine]);
        let (_rpc, rpc) = Proc::commlab_server(&["rpc", "server", "--engine", engine]);
        let (_ws, ws) = Proc::commlab_server(&["ws", "server", "--engine", engine]);
        let (_chat, chat) =
            Proc::commlab_server(&["chat", "server", "--mode", "echo", "--engine", engine]);
        let dir = Dir::new(&format!("plain-{engine}"));
        let (_ft, ft) = Proc::commlab_server(&[
            "ft",
            "server",
            "--engine",
            engine,
            "--root",
            s(&dir.srv()),
            "--user",
            "aluno:senha",
        ]);
        let calc_url = format!("https://127.0.0.1:{}/api", calc.port());
        let rpc_url = format!("https://127.0.0.1:{}/RPC2", rpc.port());
        let ws_url = format!("wss://127.0.0.1:{}/", ws.port());
        let (chat_port, ft_port) = (chat.port().to_string(), ft.port().to_string());
        let clients: [&[&str]; 5] = [
            &["calc", "client", "--base-url", &calc_url, "soma", "1", "2"],
            &["rpc", "call", "--url", &rpc_url, "add", "2", "3"],
            &["ws", "client", "--url", &ws_url, "sum", "2", "3"],
            &["chat", "client", "--port", &chat_port, "--tls"],
            &[
                "ft",
                "client",
                "--port",
                &ft_port,
                "--tls",
                "--user",
                "aluno",
                "--password",
                "senha",
                "list",
            ],
        ];
        for args in clients {
            let started = Instant::now();
            let out = commlab(args, "olá\n");
            let took = started.elapsed();
            one_error_line(&out, "not TLS at all (first byte 0x");
            // Every client names the server it tried.
            one_error_line(&out, "TLS with ");
            one_error_line(&out, "127.0.0.1:");
            assert!(
                took < quick,
                "{args:?} on {engine} took {took:?} to see a plaintext server"
            );
        }
    }
}
