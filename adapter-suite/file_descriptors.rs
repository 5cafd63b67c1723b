//! A driver keeps serving after the process runs out of file
//! descriptors: accepting fails for a while, then works again once
//! descriptors are free. (Alone in its test binary: it lowers the
//! process's limit.)
//!
//! Unix only. Windows has no per-process limit on open sockets that a test
//! can lower (no `RLIMIT_NOFILE`; handles are capped only at about 16
//! million per process, and Winsock's own resources are system-wide), so
//! the condition this test provokes cannot be made to happen there, and
//! the accept back-off it checks is the same code on both systems.
//!
//! The suite both engines run (`adapters-std` and `adapters-mio` each name
//! their driver `engine` and include this file).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::engine::serve;
use commlab_core::testing::Shout;

#[test]
fn running_out_of_file_descriptors_is_survived() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(listener, Shout::new(1 << 20), |_, _| {}).unwrap();
    let addr = server.local_addr();
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let open = std::fs::read_dir("/proc/self/fd").map_or(16, |d| d.count() as u64);
    rlimit::setrlimit(rlimit::Resource::NOFILE, open + 24, hard).unwrap();
    // Connect until descriptors run out on one side or the other.
    let mut many = Vec::new();
    let mut ran_out = false;
    for _ in 0..200 {
        match TcpStream::connect(addr) {
            Ok(s) => many.push(s),
            Err(_) => {
                ran_out = true;
                break;
            }
        }
    }
    // Each connection takes descriptors on both sides: this side runs out
    // within the limit, the server's accepts fail on the way.
    assert!(
        ran_out,
        "200 connections under a limit of {} descriptors",
        open + 24
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(many);
    rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard).unwrap();
    // Served again once descriptors are free.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (&s).write_all(b"de volta\n").unwrap();
        let mut l = String::new();
        if BufReader::new(&s).read_line(&mut l).is_ok() && l == "DE VOLTA\n" {
            break;
        }
        assert!(Instant::now() < deadline, "not served again: {l:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.shutdown();
}
