//! Exercise 5 over loopback: round trips on both engines, faults that must
//! leave the old file as it was (a crash included), refusals. The class's
//! raw-mode programs are in `class_programs.rs`.

mod common;

use std::fs;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use commlab::ft::{FtConnection, FtServerConfig, Users};
use commlab::{Engine, Server};
use commlab_core::filexfer::{DigestAlg, Frame, FrameDecoder, FtServer, MAX_FILE_SIZE};
use common::*;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("commlab-ft-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("srv")).unwrap();
        fs::create_dir_all(dir.join("cli")).unwrap();
        Self(dir)
    }
    fn srv(&self) -> PathBuf {
        self.0.join("srv")
    }
    fn cli(&self, name: &str) -> PathBuf {
        self.0.join("cli").join(name)
    }
    /// Names in the server folder (temporary files included).
    fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.srv())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Deterministic pseudo-random bytes (xorshift).
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

fn users() -> Users {
    let mut u = Users::default();
    u.add_plain("aluno:senha").unwrap();
    u
}

fn start(engine: Engine, dir: &Dir, max: u64) -> Server<FtServer> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = FtServerConfig {
        max_file_size: max,
        sink: Box::new(|_| {}),
        ..FtServerConfig::new(&dir.srv(), users())
    };
    commlab::ft::start(engine, listener, config).unwrap()
}

fn login(addr: SocketAddr) -> FtConnection {
    FtConnection::open(
        "127.0.0.1",
        addr.port(),
        "aluno",
        "senha",
        DigestAlg::Blake3,
    )
    .unwrap()
}

/// A raw socket speaking frames by hand, logged in.
fn raw_login(addr: SocketAddr) -> (TcpStream, FrameDecoder) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut d = FrameDecoder::new();
    let mut out = Vec::new();
    Frame::Login {
        user: "aluno".into(),
        password: "senha".into(),
    }
    .encode(&mut out);
    s.write_all(&out).unwrap();
    assert!(matches!(next_frame(&mut s, &mut d), Frame::Hello { .. }));
    assert!(matches!(next_frame(&mut s, &mut d), Frame::Ok { .. }));
    (s, d)
}

fn next_frame(s: &mut TcpStream, d: &mut FrameDecoder) -> Frame {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = d.next_frame().unwrap() {
            return f;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed");
        d.feed(&buf[..n]);
    }
}

fn send(s: &mut TcpStream, frames: &[Frame]) {
    let mut out = Vec::new();
    for f in frames {
        f.encode(&mut out);
    }
    let _ = s.write_all(&out);
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn files_of_every_edge_size_round_trip_on_both_engines() {
    for engine in ENGINES {
        let dir = Dir::new(&format!("sizes-{engine}"));
        let server = start(engine, &dir, MAX_FILE_SIZE);
        let addr = server.local_addr();
        let mut c = login(addr);
        let sizes = [0usize, 1, 65_535, 65_536, 65_537, 50 * 1024 * 1024];
        for (i, size) in sizes.into_iter().enumerate() {
            let data = random_bytes(size, i as u64 + 1);
            let local = dir.cli(&format!("up{i}.bin"));
            fs::write(&local, &data).unwrap();
            let name = format!("f{i}.bin");
            let (message, digest) = c.put(&local, &name).unwrap();
            assert!(
                message.starts_with(&format!("stored {name}: {size} bytes, blake3 ")),
                "{message}"
            );
            assert_eq!(digest, blake3::hash(&data).to_hex().to_string());
            assert!(
                fs::read(dir.srv().join(&name)).unwrap() == data,
                "engine {engine}: upload of {size} bytes"
            );
            let back = dir.cli(&format!("down{i}.bin"));
            let (got_size, got_digest, _) = c.get(&name, &back).unwrap();
            assert_eq!((got_size, got_digest), (size as u64, digest));
            assert!(
                fs::read(&back).unwrap() == data,
                "engine {engine}: download of {size} bytes"
            );
        }
        let listed = c.list().unwrap();
        assert_eq!(listed.len(), sizes.len());
        assert!(listed.contains(&("f5.bin".to_owned(), 50 * 1024 * 1024)));
        c.quit();
        server.shutdown();
    }
}

#[test]
fn twenty_clients_at_once_on_both_engines() {
    for engine in ENGINES {
        let dir = Dir::new(&format!("twenty-{engine}"));
        for i in 0..20u64 {
            fs::write(
                dir.srv().join(format!("d{i}.bin")),
                random_bytes(300_000 + i as usize, i + 100),
            )
            .unwrap();
        }
        let server = start(engine, &dir, MAX_FILE_SIZE);
        let addr = server.local_addr();
        let threads: Vec<_> = (0..20u64)
            .map(|i| {
                let down = dir.cli(&format!("d{i}.bin"));
                let up = dir.cli(&format!("u{i}.bin"));
                let srv = dir.srv();
                std::thread::spawn(move || {
                    let mut c = login(addr);
                    c.get(&format!("d{i}.bin"), &down).unwrap();
                    assert_eq!(
                        fs::read(&down).unwrap(),
                        fs::read(srv.join(format!("d{i}.bin"))).unwrap()
                    );
                    let data = random_bytes(200_000 + i as usize, i + 500);
                    fs::write(&up, &data).unwrap();
                    c.put(&up, &format!("u{i}.bin")).unwrap();
                    assert_eq!(fs::read(srv.join(format!("u{i}.bin"))).unwrap(), data);
                    c.quit();
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a client failed");
        }
        server.shutdown();
    }
}

#[test]
fn faults_leave_the_old_file_and_no_temporary_file() {
    for engine in ENGINES {
        let dir = Dir::new(&format!("faults-{engine}"));
        let old = b"the old version".to_vec();
        fs::write(dir.srv().join("FT_teste.xlsx"), &old).unwrap();
        let server = start(engine, &dir, 1000);
        let addr = server.local_addr();
        let intact = |what: &str| {
            wait_until(what, || dir.listing() == ["FT_teste.xlsx"]);
            assert_eq!(
                fs::read(dir.srv().join("FT_teste.xlsx")).unwrap(),
                old,
                "{what}"
            );
        };

        // A client that vanishes mid-upload.
        let (mut s, _) = raw_login(addr);
        send(
            &mut s,
            &[Frame::Put {
                size: 900,
                alg: DigestAlg::Blake3,
                name: "FT_teste.xlsx".into(),
            }],
        );
        std::thread::sleep(Duration::from_millis(100));
        send(&mut s, &[Frame::Data(vec![7; 500])]);
        std::thread::sleep(Duration::from_millis(100));
        drop(s);
        intact("a client killed mid-upload");

        // An end marker with a wrong digest.
        let (mut s, mut d) = raw_login(addr);
        send(
            &mut s,
            &[Frame::Put {
                size: 4,
                alg: DigestAlg::Blake3,
                name: "FT_teste.xlsx".into(),
            }],
        );
        assert!(matches!(next_frame(&mut s, &mut d), Frame::Ready { .. }));
        send(
            &mut s,
            &[
                Frame::Data(b"novo".to_vec()),
                Frame::End {
                    total: 4,
                    alg: DigestAlg::Blake3,
                    digest: [9; 32],
                },
            ],
        );
        assert!(matches!(
            next_frame(&mut s, &mut d),
            Frame::Err { code: 461, .. }
        ));
        intact("a wrong digest");

        // More bytes than the PUT announced.
        send(
            &mut s,
            &[Frame::Put {
                size: 4,
                alg: DigestAlg::Blake3,
                name: "FT_teste.xlsx".into(),
            }],
        );
        assert!(matches!(next_frame(&mut s, &mut d), Frame::Ready { .. }));
        send(&mut s, &[Frame::Data(b"muito mais".to_vec())]);
        assert!(matches!(
            next_frame(&mut s, &mut d),
            Frame::Err { code: 460, .. }
        ));
        intact("more bytes than announced");

        // Over --max-file-size (1000 here).
        let mut c = login(addr);
        let big = dir.cli("big.bin");
        fs::write(&big, vec![1u8; 1001]).unwrap();
        let err = c.put(&big, "FT_teste.xlsx").unwrap_err().to_string();
        assert!(
            err.contains("over this server's limit of 1000 bytes"),
            "{err}"
        );
        intact("a PUT over the limit");
        c.quit();
        server.shutdown();
    }
}

#[test]
fn stopping_the_server_mid_upload_keeps_the_old_file() {
    let dir = Dir::new("ctrl-c");
    let old = b"old".to_vec();
    fs::write(dir.srv().join("FT_teste.xlsx"), &old).unwrap();
    let (mut child, addr, _out) = spawn_ft_server(Engine::Mio, &dir);
    let _upload = start_upload(addr);
    wait_until("the temporary file", || dir.listing().len() == 2);
    signal(&child, "INT");
    assert!(child.wait().unwrap().success());
    assert_eq!(dir.listing(), ["FT_teste.xlsx"]);
    assert_eq!(fs::read(dir.srv().join("FT_teste.xlsx")).unwrap(), old);
}

/// Starts `commlab ft server` on `dir` as a process.
fn spawn_ft_server(
    engine: Engine,
    dir: &Dir,
) -> (
    std::process::Child,
    SocketAddr,
    BufReader<std::process::ChildStdout>,
) {
    let srv = dir.srv();
    spawn_server(&[
        "ft",
        "server",
        "--engine",
        &engine.to_string(),
        "--user",
        "aluno:senha",
        "--root",
        srv.to_str().unwrap(),
    ])
}

/// Logs in and starts an upload of FT_teste.xlsx that never ends.
fn start_upload(addr: SocketAddr) -> TcpStream {
    let (mut s, mut d) = raw_login(addr);
    send(
        &mut s,
        &[Frame::Put {
            size: 1_000_000,
            alg: DigestAlg::Blake3,
            name: "FT_teste.xlsx".into(),
        }],
    );
    assert!(matches!(next_frame(&mut s, &mut d), Frame::Ready { .. }));
    send(&mut s, &[Frame::Data(vec![1; 60_000])]);
    s
}

#[test]
fn a_crash_mid_upload_leaves_nothing_behind_after_a_restart() {
    for engine in ENGINES {
        let dir = Dir::new(&format!("crash-{engine}"));
        let old = b"old".to_vec();
        fs::write(dir.srv().join("FT_teste.xlsx"), &old).unwrap();
        // A user's own dot-file that only looks like ours stays.
        fs::write(dir.srv().join(".notas.part"), b"mine").unwrap();
        let (mut child, addr, _out) = spawn_ft_server(engine, &dir);
        let _upload = start_upload(addr);
        wait_until("the temporary file", || dir.listing().len() == 3);
        child.kill().unwrap(); // SIGKILL: no clean-up runs
        child.wait().unwrap();
        let left = dir.listing();
        assert_eq!(
            left.len(),
            3,
            "{engine}: the crash left its partial upload: {left:?}"
        );
        assert!(left.iter().any(|n| commlab::ft::is_temp(n)));

        let (child, addr, _out) = spawn_ft_server(engine, &dir);
        assert_eq!(
            dir.listing(),
            [".notas.part", "FT_teste.xlsx"],
            "{engine}: the partial upload is gone, the rest stays"
        );
        assert_eq!(fs::read(dir.srv().join("FT_teste.xlsx")).unwrap(), old);
        let mut c = login(addr);
        assert_eq!(
            c.list().unwrap(),
            [
                (".notas.part".to_owned(), 4),
                ("FT_teste.xlsx".to_owned(), 3)
            ]
        );
        c.quit();
        signal(&child, "INT");
        let out = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            log.contains("removed 1 partial upload(s) left in"),
            "{engine}: {log}"
        );
    }
}

#[test]
fn a_second_server_on_the_same_folder_keeps_a_live_upload() {
    let dir = Dir::new("live-temp");
    fs::write(dir.srv().join("FT_teste.xlsx"), b"old").unwrap();
    let (first, addr, _out) = spawn_ft_server(Engine::Mio, &dir);
    let _upload = start_upload(addr);
    wait_until("the temporary file", || dir.listing().len() == 2);
    let (second, _, _out2) = spawn_ft_server(Engine::Std, &dir);
    assert_eq!(dir.listing().len(), 2, "the live upload's file stays");
    // Its name is not a file a client may read, replace or see.
    let temp = dir
        .listing()
        .into_iter()
        .find(|n| commlab::ft::is_temp(n))
        .unwrap();
    let (mut s, mut d) = raw_login(addr);
    send(
        &mut s,
        &[Frame::Get {
            alg: DigestAlg::Blake3,
            name: temp.clone(),
        }],
    );
    assert!(
        matches!(next_frame(&mut s, &mut d), Frame::Err { code: 422, .. }),
        "GET {temp} is refused"
    );
    for child in [first, second] {
        signal(&child, "INT");
        let mut child = child;
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn refusals() {
    let dir = Dir::new("refusals");
    fs::write(dir.srv().join("a.txt"), b"a").unwrap();
    let server = start(Engine::Std, &dir, MAX_FILE_SIZE);
    let addr = server.local_addr();

    // A transfer before login.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut d = FrameDecoder::new();
    assert!(matches!(next_frame(&mut s, &mut d), Frame::Hello { .. }));
    send(
        &mut s,
        &[Frame::Get {
            alg: DigestAlg::Blake3,
            name: "a.txt".into(),
        }],
    );
    assert!(matches!(
        next_frame(&mut s, &mut d),
        Frame::Err { code: 401, .. }
    ));

    // Wrong passwords: the third closes the connection; the message never says which part was wrong.
    for i in 1..=3 {
        send(
            &mut s,
            &[Frame::Login {
                user: "aluno".into(),
                password: "errada".into(),
            }],
        );
        assert_eq!(
            next_frame(&mut s, &mut d),
            Frame::Err {
                code: 403,
                message: "login failed".into()
            },
            "attempt {i}"
        );
    }
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "closed after the third failure");
    let err = FtConnection::open(
        "127.0.0.1",
        addr.port(),
        "ninguem",
        "senha",
        DigestAlg::Blake3,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "login failed");

    // Names that leave the folder, and an over-long one.
    let mut c = login(addr);
    let out = dir.cli("x");
    for bad in [
        "../a.txt",
        "/etc/passwd",
        "..",
        "sub/a.txt",
        "..\\a.txt",
        "C:a.txt",
        &"n".repeat(300),
    ] {
        let err = c.get(bad, &out).unwrap_err().to_string();
        assert!(!err.is_empty() && !out.exists(), "{bad:?} was served");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/hostname", dir.srv().join("link.txt")).unwrap();
        let err = c.get("link.txt", &out).unwrap_err().to_string();
        assert!(err.contains("leads outside the server's folder"), "{err}");
    }
    c.quit();
    server.shutdown();
}

#[test]
fn raw_mode_survives_a_client_that_leaves_early_on_both_engines() {
    for engine in ENGINES {
        let dir = Dir::new(&format!("raw-early-{engine}"));
        // Far more than the socket buffers hold, so the server is still
        // sending when the first client leaves.
        let data = random_bytes(20_000_017, 5);
        let file = dir.srv().join("teste.xlsx");
        fs::write(&file, &data).unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = commlab::ft::start_raw(
            engine,
            listener,
            &file,
            Box::new(move |l| {
                let _ = tx.send(l);
            }),
        )
        .unwrap();
        let addr = server.local_addr();
        // One reads 1 KiB and leaves while the server is still sending.
        let mut early = TcpStream::connect(addr).unwrap();
        early.read_exact(&mut [0u8; 1024]).unwrap();
        drop(early);
        // The next ones get the whole file, then the connection closes.
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert!(got == data, "{engine}: the whole file");
        }
        // Three connections closed, two of them after the whole file.
        let mut out = Vec::new();
        while out.iter().filter(|l| *l == "Conexão fechada").count() < 3 {
            match lines.recv_timeout(TIMEOUT) {
                Ok(commlab::ServerLine::Out(t)) => out.push(t),
                Ok(commlab::ServerLine::Log(_)) => {}
                Err(_) => panic!("{engine}: only {out:?}"),
            }
        }
        assert_eq!(
            out.iter().filter(|l| *l == "Envio completo").count(),
            2,
            "{engine}: {out:?}"
        );
        server.shutdown();
    }
}

#[test]
fn roundtrip_downloads_waits_and_uploads_back() {
    let dir = Dir::new("roundtrip");
    fs::write(dir.srv().join("FT_teste.xlsx"), b"version 1").unwrap();
    let srv = dir.srv();
    let (mut child, addr, _out) = spawn_server(&[
        "ft",
        "server",
        "--user",
        "aluno:senha",
        "--root",
        srv.to_str().unwrap(),
    ]);
    let local = dir.cli("FT_arquivo_recebido.xlsx");
    let client = Command::new(env!("CARGO_BIN_EXE_commlab"))
        .args([
            "ft",
            "client",
            "--port",
            &addr.port().to_string(),
            "--user",
            "aluno",
        ])
        .args([
            "roundtrip",
            "FT_teste.xlsx",
            "--local",
            local.to_str().unwrap(),
            "--wait-for-change",
        ])
        .env("COMMLAB_PASSWORD", "senha")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the download", || {
        fs::read(&local).map(|d| d == b"version 1").unwrap_or(false)
    });
    std::thread::sleep(Duration::from_millis(1100));
    // The person edits and saves the spreadsheet.
    fs::write(&local, b"version 2, edited").unwrap();
    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(dir.srv().join("FT_teste.xlsx")).unwrap(),
        b"version 2, edited"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("Transferência realizada com sucesso") && stdout.contains("Envio completo"),
        "{stdout}"
    );
    signal(&child, "INT");
    let _ = child.wait();
}

#[test]
fn users_files_from_other_argon2_tools_verify_and_greedy_hashes_never_match() {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let dir = std::env::temp_dir().join(format!("commlab-users-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    // Made by the argon2 crate itself, with other parameters than ours.
    let params = argon2::Params::new(4096, 2, 1, None).unwrap();
    let other = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(b"segredo", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    let greedy = other.replace("m=4096", &format!("m={}", commlab::ft::MAX_ARGON2_KIB + 1));
    let path = dir.join("users");
    fs::write(
        &path,
        format!(
            "ana:{other}\nbia:{greedy}\ncaio:{}\n",
            commlab::ft::hash_password("senha").unwrap()
        ),
    )
    .unwrap();
    let users = Users::load(&path).unwrap();
    assert!(users.verify("ana", "segredo"));
    assert!(!users.verify("ana", "segredo "));
    assert!(
        !users.verify("bia", "segredo"),
        "over the memory cap: refused"
    );
    assert!(users.verify("caio", "senha"));
    assert!(!users.verify("caio", "Senha"));
    assert!(!users.verify("davi", "senha"), "unknown user");
    fs::remove_dir_all(&dir).unwrap();
}

/// `commlab ARGS --port 0` with the file-size limit set to `limit` bytes and
/// SIGXFSZ ignored, so a write past it fails with EFBIG as on a full disk
/// (python3, already a prerequisite, sets both up and execs commlab). Keep
/// the returned stdout open: the server prints to it.
fn spawn_with_file_limit(
    limit: u64,
    args: &[&str],
) -> (
    std::process::Child,
    SocketAddr,
    BufReader<std::process::ChildStdout>,
) {
    let setup = "import os, resource, signal, sys\n\
                 signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n\
                 n = int(sys.argv[1])\n\
                 resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))\n\
                 os.execv(sys.argv[2], sys.argv[2:])";
    let child = Command::new("python3")
        .args([
            "-c",
            setup,
            &limit.to_string(),
            env!("CARGO_BIN_EXE_commlab"),
        ])
        .args(args)
        .args(["--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is a prerequisite");
    listening(child)
}

#[test]
fn a_full_disk_fails_the_upload_cleanly_and_the_server_goes_on() {
    const LIMIT: u64 = 100_000;
    for engine in ENGINES {
        let dir = Dir::new(&format!("full-disk-{engine}"));
        let old = b"the old version".to_vec();
        fs::write(dir.srv().join("FT_teste.xlsx"), &old).unwrap();
        let srv = dir.srv();
        let (mut child, addr, _out) = spawn_with_file_limit(
            LIMIT,
            &[
                "ft",
                "server",
                "--engine",
                &engine.to_string(),
                "--user",
                "aluno:senha",
                "--root",
                srv.to_str().unwrap(),
            ],
        );
        let mut c = login(addr);
        let big = dir.cli("big.bin");
        fs::write(&big, random_bytes(3 * LIMIT as usize, 7)).unwrap();
        let err = c.put(&big, "FT_teste.xlsx").unwrap_err().to_string();
        assert!(
            err.contains("cannot write FT_teste.xlsx"),
            "{engine}: {err}"
        );
        wait_until("the temporary file to go", || {
            dir.listing() == ["FT_teste.xlsx"]
        });
        assert_eq!(fs::read(dir.srv().join("FT_teste.xlsx")).unwrap(), old);
        // The server is still up and a file that fits goes through.
        let mut c = login(addr);
        let small = dir.cli("small.bin");
        let data = random_bytes(LIMIT as usize / 2, 8);
        fs::write(&small, &data).unwrap();
        c.put(&small, "FT_teste.xlsx").unwrap();
        assert_eq!(fs::read(dir.srv().join("FT_teste.xlsx")).unwrap(), data);
        c.quit();
        signal(&child, "INT");
        assert!(child.wait().unwrap().success(), "{engine}: clean exit");
    }
}
