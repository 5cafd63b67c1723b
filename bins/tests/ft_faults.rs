//! Exercise 5's faults over loopback: every fault leaves the old file as
//! it was and no temporary file; Ctrl-C, SIGKILL and a full disk mid-upload;
//! a second server on the same folder.

mod common;

use std::fs;
use std::io::BufReader;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use commlab::Engine;
use commlab_core::filexfer::{DigestAlg, Frame};
use common::ft::*;
use common::*;

#[test]
fn faults_leave_the_old_file_and_no_temporary_file() {
    for (engine, loops) in SETUPS {
        let dir = Dir::new(&format!("faults-{engine}-{loops}"));
        let old = b"the old version".to_vec();
        fs::write(dir.srv().join("FT_teste.xlsx"), &old).unwrap();
        let server = start_ft_on(engine, loops, &dir, 1000);
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
#[cfg_attr(
    windows,
    ignore = "stops or kills the server with the kill command (SIGINT, SIGKILL), which Windows has not; scripts/windows/run checks Ctrl-C on every server under Wine"
)]
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

#[test]
#[cfg_attr(
    windows,
    ignore = "stops or kills the server with the kill command (SIGINT, SIGKILL), which Windows has not; scripts/windows/run checks Ctrl-C on every server under Wine"
)]
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
#[cfg_attr(
    windows,
    ignore = "stops or kills the server with the kill command (SIGINT, SIGKILL), which Windows has not; scripts/windows/run checks Ctrl-C on every server under Wine"
)]
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
#[cfg_attr(
    windows,
    ignore = "limits the file size with python3's resource.setrlimit (RLIMIT_FSIZE), which Windows has not"
)]
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
