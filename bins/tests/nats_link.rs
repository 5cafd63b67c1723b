//! core's NATS client against the real broker: Debian's `nats-server` on
//! an ephemeral loopback port, driven by the std adapter. `echo:false`
//! holds (a publisher is not sent its own messages), request-reply on an
//! inbox works, and a broker that dies is a closed link.
//!
//! Needs `nats-server` (`apt-get install nats-server`; `.ci/run` installs it).

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use commlab_core::nats::{NatsClient, NatsEvent};
use commlab_core::Session as _;
use commlab_std::BlockingSession;
use common::nats::broker;
use common::TIMEOUT;

fn connect(port: u16, name: &str) -> BlockingSession<NatsClient> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut s = BlockingSession::new(stream, NatsClient::new(name, Instant::now()));
    match s.next_event(TIMEOUT).unwrap() {
        Some(NatsEvent::Connected(info)) => assert!(!info.server_id.is_empty()),
        other => panic!("{name}: {other:?}"),
    }
    s
}

/// The next message within `wait`, `None` if none came.
fn message(
    s: &mut BlockingSession<NatsClient>,
    wait: Duration,
) -> Option<(String, Vec<u8>, Option<String>)> {
    match s.next_event(wait).unwrap() {
        Some(NatsEvent::Message(m)) => Some((m.subject, m.payload, m.reply)),
        None => None,
        Some(other) => panic!("{other:?}"),
    }
}

/// Waits until the broker confirmed everything `s` sent.
fn flushed(s: &mut BlockingSession<NatsClient>) {
    s.command(NatsClient::flush).unwrap().unwrap();
    assert_eq!(s.next_event(TIMEOUT).unwrap(), Some(NatsEvent::Flushed));
}

#[test]
#[ignore = "needs nats-server (apt-get install nats-server); .ci/run installs it"]
fn publish_subscribe_echo_false_and_request_reply_through_nats_server() {
    let (_broker, port) = broker();
    let mut a = connect(port, "room a");
    let mut b = connect(port, "room b");
    a.command(|c| c.subscribe("commlab.room.geral"))
        .unwrap()
        .unwrap();
    b.command(|c| c.subscribe("commlab.room.geral"))
        .unwrap()
        .unwrap();
    // b's subscription, on another connection, must reach the broker
    // before a publishes: a flush confirms it.
    flushed(&mut b);
    for i in 0..100 {
        let line = format!("linha {i} çã\r\n com CRLF dentro");
        a.command(|c| c.publish("commlab.room.geral", None, line.as_bytes()))
            .unwrap()
            .unwrap();
    }
    for i in 0..100 {
        let (subject, payload, _) = message(&mut b, TIMEOUT).expect("a message");
        assert_eq!(subject, "commlab.room.geral");
        assert_eq!(
            payload,
            format!("linha {i} çã\r\n com CRLF dentro").as_bytes()
        );
    }
    // echo:false: a saw none of its own.
    assert_eq!(message(&mut a, Duration::from_millis(300)), None);

    // Request-reply: b answers on the inbox a names.
    a.command(|c| c.subscribe("_INBOX.a.1")).unwrap().unwrap();
    flushed(&mut a);
    a.command(|c| c.publish("commlab.room.geral", Some("_INBOX.a.1"), b"/who"))
        .unwrap()
        .unwrap();
    let (_, asked, reply) = message(&mut b, TIMEOUT).expect("the request");
    assert_eq!(asked, b"/who");
    let reply = reply.expect("a reply subject");
    b.command(|c| c.publish(&reply, None, b"bia, caio"))
        .unwrap()
        .unwrap();
    let (subject, answer, _) = message(&mut a, TIMEOUT).expect("the answer");
    assert_eq!(
        (subject.as_str(), answer.as_slice()),
        ("_INBOX.a.1", &b"bia, caio"[..])
    );
}

#[test]
#[ignore = "needs nats-server (apt-get install nats-server); .ci/run installs it"]
fn a_broker_that_dies_is_a_closed_link() {
    let (mut broker, port) = broker();
    let mut a = connect(port, "room a");
    broker.interrupt();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match a.next_event(Duration::from_millis(200)) {
            Ok(Some(NatsEvent::Closed | NatsEvent::Failed(_))) | Err(_) => break,
            Ok(_) => assert!(Instant::now() < deadline, "the link never ended"),
        }
    }
    assert!(a.session().is_closed());
}
