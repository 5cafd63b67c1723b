//! Exercise 5 over loopback: round trips on both engines, refusals, the
//! raw mode's service, the challenge's round trip, users files. Faults
//! (and crashes) are in `ft_faults.rs`; the class's raw-mode programs in
//! `class_programs.rs`.

mod common;

use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use commlab::ft::{FtConnection, Users};
use commlab::Engine;
use commlab_core::filexfer::{DigestAlg, Frame, FrameDecoder, MAX_FILE_SIZE};
use common::ft::*;
use common::*;

#[test]
fn files_of_every_edge_size_round_trip_on_both_engines() {
    for (engine, loops) in SETUPS {
        let dir = Dir::new(&format!("sizes-{engine}-{loops}"));
        let server = start_ft_on(engine, loops, &dir, MAX_FILE_SIZE);
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
    for (engine, loops) in SETUPS {
        let dir = Dir::new(&format!("twenty-{engine}-{loops}"));
        for i in 0..20u64 {
            fs::write(
                dir.srv().join(format!("d{i}.bin")),
                random_bytes(300_000 + i as usize, i + 100),
            )
            .unwrap();
        }
        let server = start_ft_on(engine, loops, &dir, MAX_FILE_SIZE);
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
fn refusals() {
    let dir = Dir::new("refusals");
    fs::write(dir.srv().join("a.txt"), b"a").unwrap();
    let server = start_ft(Engine::Std, &dir, MAX_FILE_SIZE);
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
            1,
            &file,
            Box::new(move |l| {
                let _ = tx.send(l);
            }),
            None,
            None,
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
#[cfg_attr(
    windows,
    ignore = "stops or kills the server with the kill command (SIGINT, SIGKILL), which Windows has not; scripts/windows/run checks Ctrl-C on every server under Wine"
)]
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

/// A password given on the command line is used (class use) with a
/// one-line warning naming the safer ways; one from COMMLAB_PASSWORD or a
/// users file draws none.
#[test]
fn passwords_on_the_command_line_are_warned_about() {
    let dir = Dir::new("password-warnings");
    fs::write(dir.srv().join("a.txt"), b"a").unwrap();
    let (server, addr) = common::process::Proc::commlab_server(&[
        "ft",
        "server",
        "--root",
        dir.srv().to_str().unwrap(),
        "--user",
        "aluno:senha",
    ]);
    server.wait_err("warning: --user NAME:PASSWORD on the command line can be read by every user");
    server.wait_err("use --users FILE instead");
    let port = addr.port().to_string();
    let list = |password: Option<&str>, env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_commlab"));
        cmd.args(["ft", "client", "--port", &port, "--user", "aluno"]);
        if let Some(p) = password {
            cmd.args(["--password", p]);
        }
        cmd.env_remove("COMMLAB_PASSWORD");
        if let Some(p) = env {
            cmd.env("COMMLAB_PASSWORD", p);
        }
        let out = cmd.arg("list").stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = list(Some("senha"), None);
    assert!(
        err.contains("warning: --password on the command line can be read by every user")
            && err.contains("COMMLAB_PASSWORD"),
        "{err}"
    );
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    let err = list(None, Some("senha"));
    assert!(!err.contains("warning"), "{err}");
}

/// A client that sends its requests without waiting for the answers (the
/// login, a listing, a download and an upload with its data, then QUIT, in
/// one write) is answered in order, each request once the one before it
/// was answered, although the server checks the password, lists, opens and
/// stores on its workers: the frames behind a question wait for its answer.
#[test]
fn requests_sent_without_waiting_are_answered_in_order_on_both_engines() {
    for (engine, loops) in SETUPS {
        let dir = Dir::new(&format!("pipelined-{engine}-{loops}"));
        fs::write(dir.srv().join("a.txt"), b"conteudo").unwrap();
        let server = start_ft_on(engine, loops, &dir, MAX_FILE_SIZE);
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let upload = b"enviado sem esperar".to_vec();
        let digest = blake3::hash(&upload);
        send(
            &mut s,
            &[
                Frame::Login {
                    user: "aluno".into(),
                    password: "senha".into(),
                },
                Frame::List,
                Frame::Get {
                    alg: DigestAlg::Blake3,
                    name: "a.txt".into(),
                },
                Frame::Put {
                    size: upload.len() as u64,
                    alg: DigestAlg::Blake3,
                    name: "b.txt".into(),
                },
                Frame::Data(upload.clone()),
                Frame::End {
                    total: upload.len() as u64,
                    alg: DigestAlg::Blake3,
                    digest: *digest.as_bytes(),
                },
                Frame::Quit,
            ],
        );
        let mut d = FrameDecoder::new();
        let mut names = Vec::new();
        loop {
            let f = next_frame(&mut s, &mut d);
            let name = match &f {
                Frame::Ok { message, .. } => format!("OK {message}"),
                Frame::Err { code, message } => format!("ERR {code} {message}"),
                other => other.name().to_owned(),
            };
            let bye = name == "OK bye";
            names.push(name);
            if bye {
                break;
            }
        }
        let stored = format!(
            "OK stored b.txt: {} bytes, blake3 {}",
            upload.len(),
            digest.to_hex()
        );
        assert_eq!(
            names,
            [
                "HELLO",
                "OK welcome, aluno",
                "ENTRY",
                "OK 1 file(s)",
                "READY",
                "DATA",
                "END",
                "READY",
                &stored,
                "OK bye"
            ],
            "engine {engine}"
        );
        assert_eq!(fs::read(dir.srv().join("b.txt")).unwrap(), upload);
        server.shutdown();
    }
}
