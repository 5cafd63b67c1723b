//! Outgoing connections: a service that dials at start (the federated
//! room's broker link) gets its connection, talks over it, and hears of a
//! dial that cannot connect. The suite both engines run (`adapters-std` and
//! `adapters-mio` each name their driver `engine` and include this file).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use crate::engine::serve;
use commlab_core::testing::{Dialer, DialerEvent};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_service_dials_out_talks_and_hears_the_end() {
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let (tx, events) = mpsc::channel();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(
        listener,
        Dialer::new(target.local_addr().unwrap()),
        move |_, e| {
            let _ = tx.send(e);
        },
    )
    .unwrap();
    let (peer, _) = target.accept().unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(peer.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "hello\n");
    assert!(matches!(
        events.recv_timeout(WAIT).unwrap(),
        DialerEvent::Dialed(_)
    ));
    (&peer).write_all(b"back\n").unwrap();
    assert_eq!(
        events.recv_timeout(WAIT).unwrap(),
        DialerEvent::Line("back".into())
    );
    drop(reader);
    drop(peer);
    assert_eq!(events.recv_timeout(WAIT).unwrap(), DialerEvent::Ended);
    server.shutdown();
}

#[test]
fn a_dial_nobody_answers_is_reported() {
    // A port bound, then released: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (tx, events) = mpsc::channel();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(listener, Dialer::new(closed), move |_, e| {
        let _ = tx.send(e);
    })
    .unwrap();
    match events.recv_timeout(WAIT).unwrap() {
        DialerEvent::Failed(why) => assert!(why.to_lowercase().contains("refused"), "{why}"),
        other => panic!("{other:?}"),
    }
    server.shutdown();
}
