//! (The suite both engines run: each names its driver `engine` and
//! includes this file.)
//!
//! Connections the service closed while their clients stay silent and
//! hold them open are freed within LINGER: the driver's sockets, and on
//! Linux its threads and file descriptors, return to where they were.
//! (Alone in its test binary: it counts the process's threads and
//! descriptors.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::engine::{serve_on, LINGER};
use commlab_core::testing::Shout;

const TIMEOUT: Duration = Duration::from_secs(20);

/// The process's threads and open descriptors (Linux), else nothing
/// (under Wine, /proc is the Linux process behind Wine's, not this one).
fn os_counts() -> Option<(usize, usize)> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let count = |dir: &str| std::fs::read_dir(dir).ok().map(|d| d.count());
    Some((count("/proc/self/task")?, count("/proc/self/fd")?))
}

#[test]
fn closed_connections_held_open_by_silent_clients_are_freed_within_linger() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve_on(
        vec![listener],
        Shout::new(1 << 20),
        |_: &mut Shout, _| {},
        None,
        1000,
    )
    .unwrap();
    let before = os_counts();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let s = TcpStream::connect(server.local_addr()).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        (&s).write_all(b"quit\n").unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        assert_eq!(l, "bye\n");
        // The service closed it: the end comes, and the client says
        // nothing more and keeps its socket open.
        assert_eq!(r.read(&mut [0u8; 16]).unwrap(), 0);
        clients.push(s);
    }
    // Within LINGER of the close (twice that where the reader wakes by
    // itself: the std engine's READER_WAKE), with room for a slow host.
    let deadline = Instant::now() + 2 * LINGER + Duration::from_secs(5);
    loop {
        let freed = server.sockets() == 0
            && match (before, os_counts()) {
                // The clients' own 20 descriptors stay.
                (Some((t0, f0)), Some((t, f))) => t == t0 && f == f0 + 20,
                _ => true,
            };
        if freed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not freed {:?} after the close: {} sockets held; threads and descriptors {:?}, before {:?}",
            2 * LINGER + Duration::from_secs(5),
            server.sockets(),
            os_counts(),
            before
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(clients);
    server.shutdown();
}
