//! A login storm does not stop the file server (issue 26): password hashes
//! run on the engine's workers, so while a burst of logins waits for them,
//! a client already logged in keeps transferring, on both engines.
//!
//! A test of behaviour, not of timing: each login costs a deliberately
//! slow hash, and the storm is several hashes per worker long, so the
//! storm cannot all be answered by the time a download of a few MiB and a
//! listing are done, unless hashing stopped those too (as it did when the
//! hash ran on the event loop, or under the std engine's lock).

mod common;

use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use commlab::ft::{FtServerConfig, Users};
use commlab::Engine;
use commlab_core::filexfer::{Frame, FrameDecoder};
use common::ft::*;
use common::*;

/// A users file line for `aluno:senha` whose check takes a while: 32 MiB
/// and 6 passes of argon2id (tens of milliseconds optimised, against a
/// download of a few MiB on loopback that takes a few).
fn slow_users(dir: &Dir) -> Users {
    let params = Params::new(32 * 1024, 6, 1, None).unwrap();
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
    let hash = a.hash_password(b"senha", &salt).unwrap().to_string();
    let file = dir.0.join("users");
    fs::write(&file, format!("aluno:{hash}\n")).unwrap();
    Users::load(&file).unwrap()
}

/// A storm socket's login answer (OK or ERR), if it came already:
/// looked for without waiting.
fn answer_so_far(s: &mut TcpStream, d: &mut FrameDecoder) -> Option<Frame> {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let mut answer = None;
    loop {
        while let Ok(Some(f)) = d.next_frame() {
            if matches!(f, Frame::Ok { .. } | Frame::Err { .. }) {
                answer = Some(f);
            }
        }
        match s.read(&mut buf) {
            Ok(n) if n > 0 => d.feed(&buf[..n]),
            _ => break,
        }
    }
    s.set_nonblocking(false).unwrap();
    answer
}

#[test]
fn a_transfer_keeps_moving_while_a_login_storm_waits_for_its_hashes() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let storm = 4 * cores.max(2);
    for (engine, threads) in [(Engine::Std, 1), (Engine::Mio, 1), (Engine::Mio, 3)] {
        let dir = Dir::new(&format!("storm-{engine}-{threads}"));
        let data = random_bytes(4 * 1024 * 1024, 7);
        fs::write(dir.srv().join("big.bin"), &data).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = FtServerConfig {
            sink: Box::new(|_| {}),
            threads,
            ..FtServerConfig::new(&dir.srv(), slow_users(&dir))
        };
        let server = commlab::ft::start(engine, listener, config).unwrap();
        let addr = server.local_addr();
        let started = Instant::now();
        let mut client = login(addr);
        let one_hash = started.elapsed();

        // The storm: every socket sends its login at once.
        let mut sockets: Vec<(TcpStream, FrameDecoder)> = (0..storm)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                send(
                    &mut s,
                    &[Frame::Login {
                        user: "aluno".into(),
                        password: "senha".into(),
                    }],
                );
                (s, FrameDecoder::new())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));

        // Meanwhile the logged-in client downloads and lists.
        let back = dir.cli("big.bin");
        let (size, _, _) = client.get("big.bin", &back).unwrap();
        assert_eq!(size, data.len() as u64);
        assert!(fs::read(&back).unwrap() == data, "engine {engine}");
        assert!(client
            .list()
            .unwrap()
            .contains(&("big.bin".into(), data.len() as u64)));
        let mut answers: Vec<Option<Frame>> = sockets
            .iter_mut()
            .map(|(s, d)| answer_so_far(s, d))
            .collect();
        let waiting = answers.iter().filter(|a| a.is_none()).count();
        assert!(
            waiting > 0,
            "engine {engine} with {threads} loop(s): all {storm} storm logins were answered before a download and a \
             listing finished (one login took {one_hash:?}): the transfer waited for the hashes"
        );

        // And every login of the storm is answered, and right.
        for ((s, d), answer) in sockets.iter_mut().zip(&mut answers) {
            while answer.is_none() {
                match next_frame(s, d) {
                    Frame::Hello { .. } => {}
                    f => *answer = Some(f),
                }
            }
            assert!(
                matches!(answer, Some(Frame::Ok { .. })),
                "engine {engine}: a storm login got {answer:?}"
            );
        }
        client.quit();
        server.shutdown();
    }
}
