//! A driver over loopback with a tiny test service (core's
//! `testing::Shout`), the suite both engines run (`adapters-std` and
//! `adapters-mio` each name their driver `engine` and include this file): lines back in capitals for several clients at once,
//! a half-close answered before the close, a client that stops reading
//! dropped while the others go on, commands from outside, shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::engine::{serve, serve_on, ServerHandle};
use commlab_core::testing::{Shout, ShoutEvent};

const TIMEOUT: Duration = Duration::from_secs(20);

fn start(cap: usize) -> (ServerHandle<Shout>, Receiver<ShoutEvent>) {
    let (tx, rx) = mpsc::channel();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(listener, Shout::new(cap), move |_, e| {
        let _ = tx.send(e);
    })
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

fn wait(rx: &Receiver<ShoutEvent>, pick: impl Fn(&ShoutEvent) -> bool) -> ShoutEvent {
    loop {
        let e = rx.recv_timeout(TIMEOUT).expect("an event in time");
        if pick(&e) {
            return e;
        }
    }
}

#[test]
fn many_clients_get_their_own_lines_back() {
    let (server, _rx) = start(1 << 20);
    let mut clients: Vec<_> = (0..20).map(|_| connect(&server)).collect();
    for (i, (s, _)) in clients.iter_mut().enumerate() {
        s.write_all(format!("olá {i}\nsegunda {i}\n").as_bytes())
            .unwrap();
    }
    for (i, (_, r)) in clients.iter_mut().enumerate() {
        assert_eq!(line(r), format!("OLÁ {i}\n"));
        assert_eq!(line(r), format!("SEGUNDA {i}\n"));
    }
    assert_eq!(server.command(|s, _| s.say_all("aviso")).unwrap(), 20);
    for (_, r) in &mut clients {
        assert_eq!(line(r), "aviso\n");
    }
    server.shutdown();
    for (_, r) in &mut clients {
        assert_eq!(line(r), "shutdown\n");
        assert_eq!(line(r), "", "closed after the goodbye");
    }
}

#[test]
fn a_half_close_is_answered_before_the_close() {
    let (server, rx) = start(1 << 20);
    let (s, mut r) = connect(&server);
    (&s).write_all(b"last words\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "LAST WORDS\nbye\n");
    wait(&rx, |e| matches!(e, ShoutEvent::Eof(_)));
    server.shutdown();
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_the_others_go_on() {
    let (server, rx) = start(64 * 1024);
    let (deaf, _deaf_reader) = connect(&server);
    (&deaf).write_all(b"flood 100000\n").unwrap();
    let dropped = wait(&rx, |e| matches!(e, ShoutEvent::Dropped(..)));
    assert!(
        matches!(&dropped, ShoutEvent::Dropped(_, why) if why.contains("stopped reading")),
        "{dropped:?}"
    );
    let (mut s, mut r) = connect(&server);
    s.write_all(b"still here\n").unwrap();
    assert_eq!(line(&mut r), "STILL HERE\n");
    server.shutdown();
}

#[test]
fn data_and_the_end_arriving_together_are_both_read_every_time() {
    // A short read no longer reads again for WouldBlock; the peer's end,
    // arriving with the data, must still be seen.
    let (server, rx) = start(1 << 20);
    for i in 0..200 {
        let (s, mut r) = connect(&server);
        (&s).write_all(format!("fim {i}\n").as_bytes()).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, format!("FIM {i}\nbye\n"));
    }
    for _ in 0..200 {
        wait(&rx, |e| matches!(e, ShoutEvent::Eof(_)));
    }
    server.shutdown();
}

/// Each line in a write of its own, with pauses: every read is answered,
/// not only the first (on Windows, mio re-arms a socket only after a read
/// returned WouldBlock).
#[test]
fn lines_sent_one_at_a_time_with_pauses_are_all_answered() {
    let (server, _rx) = start(1 << 20);
    let (mut s, mut r) = connect(&server);
    for i in 0..5 {
        s.write_all(format!("linha {i}\n").as_bytes()).unwrap();
        assert_eq!(line(&mut r), format!("LINHA {i}\n"));
        std::thread::sleep(Duration::from_millis(50));
    }
    // And several readers at once, interleaved.
    let mut more: Vec<_> = (0..3).map(|_| connect(&server)).collect();
    for i in 0..3 {
        for (j, (s, _)) in more.iter_mut().enumerate() {
            s.write_all(format!("c{j} l{i}\n").as_bytes()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(30));
        for (j, (_, r)) in more.iter_mut().enumerate() {
            assert_eq!(line(r), format!("C{j} L{i}\n"));
        }
    }
}

/// A server on two listeners (the same port on both loopbacks) answers on
/// each, and says both addresses.
#[test]
fn one_server_answers_on_every_listener() {
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = v4.local_addr().unwrap().port();
    let v6 = TcpListener::bind(("::1", port)).unwrap();
    let server = serve_on(
        vec![v4, v6],
        Shout::new(1 << 20),
        |_: &mut Shout, _| {},
        None,
        100,
    )
    .unwrap();
    let addrs = server.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert_eq!(server.local_addr(), addrs[0]);
    for addr in addrs {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        (&s).write_all(b"ambos\n").unwrap();
        assert_eq!(line(&mut BufReader::new(s)), "AMBOS\n");
    }
    server.shutdown();
}

/// Past the cap on sockets (`serve_on`'s `max_connections`) a new
/// connection is closed at once; the others are served on, and a place
/// freed is taken.
#[test]
fn past_the_cap_a_new_connection_is_closed_at_once_and_a_freed_place_is_used() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve_on(
        vec![listener],
        Shout::new(1 << 20),
        |_: &mut Shout, _| {},
        None,
        3,
    )
    .unwrap();
    let talk = |s: &TcpStream, text: &str| {
        (&*s).write_all(format!("{text}\n").as_bytes())?;
        let mut l = String::new();
        BufReader::new(s).read_line(&mut l)?;
        Ok::<_, std::io::Error>(l)
    };
    let held: Vec<TcpStream> = (0..3)
        .map(|i| {
            let s = TcpStream::connect(server.local_addr()).unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            assert_eq!(talk(&s, &format!("c{i}")).unwrap(), format!("C{i}\n"));
            s
        })
        .collect();
    // A fourth is accepted by the kernel, then closed: no answer, the end.
    let extra = TcpStream::connect(server.local_addr()).unwrap();
    extra.set_read_timeout(Some(TIMEOUT)).unwrap();
    let refused = talk(&extra, "d");
    assert!(
        matches!(&refused, Ok(l) if l.is_empty()) || refused.is_err(),
        "{refused:?}"
    );
    // The three still served; one leaves and its place is taken.
    assert_eq!(talk(&held[0], "ainda").unwrap(), "AINDA\n");
    drop(held);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let s = TcpStream::connect(server.local_addr()).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        if talk(&s, "de novo").is_ok_and(|l| l == "DE NOVO\n") {
            break;
        }
        assert!(Instant::now() < deadline, "no place freed");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.shutdown();
}
