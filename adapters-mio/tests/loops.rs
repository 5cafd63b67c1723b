//! Several event loops (`serve_loops`, `--threads`): connections spread
//! evenly, each loop serves its own with its own service, ids carry their
//! loop, a command reaches every loop, shutdown says goodbye on all of
//! them, and the connection cap counts every loop's sockets.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use commlab_core::testing::{Shout, ShoutEvent};
use commlab_core::ConnId;
use commlab_mio::{serve_loops, ServerHandle, MAX_CONNECTIONS};

const TIMEOUT: Duration = Duration::from_secs(20);
const LOOPS: usize = 3;

fn start(cap: usize) -> (ServerHandle<Shout>, Receiver<ShoutEvent>) {
    let (tx, rx) = mpsc::channel();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve_loops(
        vec![listener],
        LOOPS,
        |_| {
            let tx = tx.clone();
            let on_event = move |_: &mut Shout, e| {
                let _ = tx.send(e);
            };
            Ok((Shout::new(1 << 20), on_event))
        },
        None,
        cap,
    )
    .unwrap();
    (server, rx)
}

fn connect(server: &ServerHandle<Shout>) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

#[test]
fn connections_spread_over_every_loop_and_each_is_served() {
    let (server, rx) = start(MAX_CONNECTIONS);
    assert_eq!(server.loops(), LOOPS);
    let mut clients: Vec<_> = (0..30).map(|_| connect(&server)).collect();
    for (i, (s, _)) in clients.iter_mut().enumerate() {
        s.write_all(format!("olá {i}\n").as_bytes()).unwrap();
    }
    for (i, (_, r)) in clients.iter_mut().enumerate() {
        assert_eq!(line(r), format!("OLÁ {i}\n"));
    }
    // Every loop holds its share: the acceptor hands each connection to
    // the loop holding the fewest.
    let loads = server.loads();
    assert_eq!(loads.iter().sum::<usize>(), 30, "{loads:?}");
    assert!(loads.iter().all(|&n| n == 10), "{loads:?}");
    // Each loop publishes its service's count at the end of a turn, which
    // may come just after the answer it wrote.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while server.connections() != 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} connections counted, not 30",
            server.connections()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Ids carry their loop, and no two connections share one.
    let mut ids = BTreeSet::new();
    while ids.len() < 30 {
        if let ShoutEvent::Connected(id) = rx.recv_timeout(TIMEOUT).unwrap() {
            assert!(ids.insert(id), "{id} twice");
        }
    }
    let loops: BTreeSet<u16> = ids.iter().map(|id: &ConnId| id.loop_index()).collect();
    assert_eq!(loops, (0..LOOPS as u16).collect());

    // A command for every loop reaches every client once.
    let said = server.command_all(|s, _| s.say_all("para todos")).unwrap();
    assert_eq!(said, vec![10, 10, 10]);
    for (_, r) in &mut clients {
        assert_eq!(line(r), "para todos\n");
    }

    // Shutdown says goodbye on every loop, then closes.
    server.shutdown();
    for (_, r) in &mut clients {
        assert_eq!(line(r), "shutdown\n");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
}

#[test]
fn the_cap_counts_the_sockets_of_every_loop() {
    let (server, _rx) = start(4);
    let mut held: Vec<_> = (0..4).map(|_| connect(&server)).collect();
    for (s, r) in &mut held {
        s.write_all(b"oi\n").unwrap();
        assert_eq!(line(r), "OI\n");
    }
    // The fifth is closed as soon as it is accepted, whichever loop would
    // have taken it.
    let (mut s, mut r) = connect(&server);
    let _ = s.write_all(b"oi\n");
    let mut got = String::new();
    let n = r.read_line(&mut got).unwrap_or(0);
    assert_eq!(n, 0, "a connection past the cap was served: {got:?}");
    // Once one leaves, a new one is served.
    drop(held.pop());
    let mut served = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(50));
        let (mut s, mut r) = connect(&server);
        if s.write_all(b"oi\n").is_ok() && r.read_line(&mut String::new()).unwrap_or(0) > 0 {
            served = true;
            break;
        }
    }
    assert!(served, "no connection served after one left");
}

/// An application that tells its sibling loops every line its clients
/// send, and passes what siblings tell it to its own clients.
struct Relay {
    index: u16,
}

impl commlab_core::App<Shout> for Relay {
    type Done = (u16, String);

    fn on_event(
        &mut self,
        _: &mut Shout,
        event: ShoutEvent,
        jobs: &mut commlab_core::Jobs<'_, (u16, String)>,
    ) {
        assert_eq!(jobs.siblings(), LOOPS - 1);
        if let ShoutEvent::Line(_, line) = event {
            jobs.tell_siblings(&(self.index, line));
        }
    }

    fn on_sibling(
        &mut self,
        shout: &mut Shout,
        (from, line): (u16, String),
        _: &mut commlab_core::Jobs<'_, (u16, String)>,
    ) {
        assert_ne!(from, self.index, "a loop never hears itself");
        shout.say_all(&format!("from loop {from}: {line}"));
    }
}

#[test]
fn a_loop_tells_every_sibling_once_in_the_order_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve_loops(
        vec![listener],
        LOOPS,
        |index| Ok((Shout::new(1 << 20), Relay { index })),
        None,
        MAX_CONNECTIONS,
    )
    .unwrap();
    // One client per loop (the acceptor hands each to the emptiest).
    let mut clients: Vec<_> = (0..LOOPS).map(|_| connect(&server)).collect();
    while server.loads().iter().any(|&n| n != 1) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (s, _) = &mut clients[0];
    for i in 0..100 {
        s.write_all(format!("linha {i}\n").as_bytes()).unwrap();
    }
    for (_, r) in &mut clients[1..] {
        for i in 0..100 {
            let got = line(r);
            assert!(
                got.ends_with(&format!(": linha {i}\n")) && got.starts_with("from loop "),
                "{got:?}"
            );
        }
    }
    // The sender's own loop never relays to itself: it only shouted back.
    let (_, r) = &mut clients[0];
    for i in 0..100 {
        assert_eq!(line(r), format!("LINHA {i}\n"));
    }
    server.shutdown();
}

#[test]
fn posted_commands_run_on_every_loop_without_the_caller_waiting() {
    let (server, _rx) = start(MAX_CONNECTIONS);
    let mut clients: Vec<_> = (0..LOOPS).map(|_| connect(&server)).collect();
    while server.loads().iter().any(|&n| n != 1) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (done, finished) = mpsc::channel();
    server
        .post_all(move |shout: &mut Shout, _| {
            let _ = done.send(shout.say_all("aviso"));
        })
        .unwrap();
    for (_, r) in &mut clients {
        assert_eq!(line(r), "aviso\n");
    }
    let reached: usize = (0..LOOPS).map(|_| finished.recv().unwrap()).sum();
    assert_eq!(reached, LOOPS);
    server
        .post(|shout: &mut Shout, _| {
            shout.say_all("só o primeiro");
        })
        .unwrap();
    server.shutdown();
    assert!(
        server.post(|_: &mut Shout, _| {}).is_err(),
        "a stopped loop takes no command"
    );
}

/// A listener on 127.0.0.1 bound with `SO_REUSEPORT` when `reuse_port`.
fn listener(reuse_port: bool) -> TcpListener {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    #[cfg(unix)]
    socket.set_reuse_port(reuse_port).unwrap();
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(1024).unwrap();
    socket.into()
}

/// Serves 60 clients on three loops taking connections as `accept` says;
/// returns how each loop came to take them, and how many each took.
fn spread(accept: commlab_mio::Accept, reuse_port: bool) -> (commlab_mio::Accept, Vec<u64>) {
    let server = commlab_mio::serve_loops_with(
        vec![listener(reuse_port)],
        LOOPS,
        accept,
        |_| Ok((Shout::new(1 << 20), |_: &mut Shout, _| {})),
        None,
        MAX_CONNECTIONS,
    )
    .unwrap();
    let mut clients: Vec<_> = (0..60).map(|_| connect(&server)).collect();
    for (i, (s, r)) in clients.iter_mut().enumerate() {
        s.write_all(format!("olá {i}\n").as_bytes()).unwrap();
        assert_eq!(line(r), format!("OLÁ {i}\n"));
    }
    let served = server.served();
    assert_eq!(served.iter().sum::<u64>(), 60, "{served:?}");
    let how = server.accept();
    server.shutdown();
    (how, served)
}

#[test]
fn the_hand_off_spreads_connections_evenly() {
    let (how, served) = spread(commlab_mio::Accept::Handoff, false);
    assert_eq!(
        (how, served.as_slice()),
        (commlab_mio::Accept::Handoff, &[20, 20, 20][..])
    );
}

#[test]
fn without_so_reuseport_on_the_listener_the_loops_fall_back_to_the_hand_off() {
    let (how, served) = spread(commlab_mio::Accept::ReusePort, false);
    assert_eq!(
        (how, served.as_slice()),
        (commlab_mio::Accept::Handoff, &[20, 20, 20][..])
    );
}

#[cfg(target_os = "linux")]
#[test]
fn with_so_reuseport_every_loop_accepts_for_itself() {
    let (how, served) = spread(commlab_mio::Accept::ReusePort, true);
    assert_eq!(how, commlab_mio::Accept::ReusePort);
    // The kernel spreads by a hash of the addresses: not evenly, but with
    // 60 clients every loop gets some.
    assert!(served.iter().all(|&n| n > 0), "{served:?}");
}
