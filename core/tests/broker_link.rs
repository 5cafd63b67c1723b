//! The broker link layer in memory, around a federated chat room: the
//! dial through the driver, the NATS handshake on the dialed connection,
//! messages both ways, and every fault: a refused dial, garbage, an
//! oversized message, a broker that stops reading (the outgoing cap), the
//! backoff from 100 ms to 5 s across the seeds, and shutdown.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::net::SocketAddr;

use commlab_core::chat::federation::{Outbound, RoomUpdate};
use commlab_core::chat::FederationConfig;
use commlab_core::nats::{
    BrokerLink, LinkError, LinkEvent, Linked, NatsError, BACKOFF_MAX, BACKOFF_START, LINK_BACKLOG,
};
use commlab_core::testing::ServicePump;
use commlab_core::{ChatConfig, ChatEvent, ChatMode, ChatServer, ConnId, Dial, Service};

const INFO: &str = "INFO {\"server_id\":\"NDZ\",\"server_name\":\"b1\",\"version\":\"2.9.11\",\"proto\":1,\"max_payload\":1048576}\r\n";
/// The connection id the test gives the link (clients use small ones).
const LINK: u64 = 1000;

type Room = BrokerLink<ChatServer>;

fn seeds() -> Vec<SocketAddr> {
    vec![
        "127.0.0.1:4222".parse().unwrap(),
        "127.0.0.1:4223".parse().unwrap(),
    ]
}

fn room(id: &str) -> ServicePump<Room> {
    let fed = FederationConfig {
        room: "geral".into(),
        server: id.into(),
        run: 1,
    };
    let chat = ChatServer::federated(ChatConfig::new(ChatMode::Room), &fed).unwrap();
    ServicePump::new(
        BrokerLink::new(chat, seeds(), "test"),
        std::time::Instant::now(),
    )
}

fn dial(p: &mut ServicePump<Room>) -> Dial {
    p.service.poll_dial().expect("a dial")
}

/// Dials, connects as `conn` and completes the NATS handshake.
fn link(p: &mut ServicePump<Room>, conn: u64) -> String {
    let d = dial(p);
    p.service
        .handle_dialed(p.now, d.token, ConnId(conn), d.addr);
    p.pump();
    p.send(conn, INFO);
    p.send(conn, "PONG\r\n");
    p.take_text(conn)
}

fn link_events(p: &mut ServicePump<Room>) -> Vec<LinkEvent> {
    p.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Linked::Link(e) => Some(e),
            Linked::Inner(_) => None,
        })
        .collect()
}

fn msg(subject: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = format!("MSG {subject} 1 {}\r\n", payload.len()).into_bytes();
    m.extend_from_slice(payload);
    m.extend_from_slice(b"\r\n");
    m
}

#[test]
fn the_link_subscribes_then_carries_the_room_both_ways() {
    let mut p = room("a");
    p.connect(1);
    let wire = link(&mut p, LINK);
    assert!(wire.starts_with("CONNECT {"), "{wire}");
    assert!(wire.contains("SUB commlab.room.geral 1\r\n"), "{wire}");
    assert!(wire.contains("SUB _INBOX.commlab.a.1.* 2\r\n"), "{wire}");
    assert!(p.service.is_linked());
    assert!(p.take_text(1).contains("* linked to the other servers\n"));
    let ev = link_events(&mut p);
    assert!(
        matches!(&ev[..], [LinkEvent::Dialing(_), LinkEvent::Up { broker, .. }] if broker == "b1"),
        "{ev:?}"
    );

    // A local line goes out as a PUB on the room's subject.
    p.send(1, "oi\n");
    let wire = p.take_text(LINK);
    assert!(wire.starts_with("PUB commlab.room.geral "), "{wire}");
    assert!(wire.contains("\"kind\":\"line\""), "{wire}");
    // Another server's line reaches the local client; a PING is answered.
    let env = Outbound::new("b", 9).wrap(RoomUpdate::Line {
        nick: "bia".into(),
        text: "olá".into(),
    });
    p.send(LINK, msg("commlab.room.geral", &env.encode()));
    p.send(LINK, "PING\r\n");
    assert_eq!(p.take_text(1), "bia: olá\n");
    assert_eq!(p.take_text(LINK), "PONG\r\n");
}

#[test]
fn a_refused_dial_keeps_the_local_room_and_backs_off_across_the_seeds() {
    let mut p = room("a");
    p.connect(1);
    p.connect(2);
    let mut waits = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..8 {
        let d = dial(&mut p);
        addrs.push(d.addr.port());
        p.service
            .handle_dial_failed(p.now, d.token, "connection refused");
        p.pump();
        match &link_events(&mut p)[..] {
            [LinkEvent::Dialing(_), LinkEvent::Down {
                reason: LinkError::Dial(_),
                retry_in,
                ..
            }] => waits.push(*retry_in),
            other => panic!("{other:?}"),
        }
        assert!(p.service.poll_dial().is_none(), "dialed before the backoff");
        let wait = waits[waits.len() - 1];
        p.advance(wait);
    }
    assert_eq!(waits[0], BACKOFF_START);
    assert_eq!(waits[1], BACKOFF_START * 2);
    assert_eq!(*waits.last().unwrap(), BACKOFF_MAX);
    assert_eq!(addrs[..4], [4222, 4223, 4222, 4223]);
    // The local room works all along.
    p.take_all();
    p.send(1, "sozinho\n");
    assert_eq!(p.take_text(2), "guest1@a: sozinho\n");
    // A link that comes up resets the backoff.
    let _ = link(&mut p, LINK);
    p.eof(LINK);
    let ev = link_events(&mut p);
    assert!(
        matches!(&ev[..], [.., LinkEvent::Down { reason: LinkError::Closed, retry_in, attempt: 1, .. }] if *retry_in == BACKOFF_START),
        "{ev:?}"
    );
    assert!(p
        .take_text(1)
        .contains("* link to the other servers lost\n"));
}

#[test]
fn garbage_or_an_oversized_message_drops_the_link_and_it_comes_back() {
    for bad in [
        b"HELLO WORLD\r\n".to_vec(),
        msg("commlab.room.geral", &vec![b'x'; 2 * 1024 * 1024]),
    ] {
        let mut p = room("a");
        p.connect(1);
        let _ = link(&mut p, LINK);
        p.take_all();
        p.take_events();
        p.send(LINK, &bad);
        assert_eq!(
            p.ended(LINK),
            Some(commlab_core::testing::Ended::Aborted),
            "the link is dropped"
        );
        let ev = link_events(&mut p);
        assert!(
            matches!(
                &ev[..],
                [LinkEvent::Down {
                    reason: LinkError::Nats(NatsError::Protocol(_)),
                    ..
                }]
            ),
            "{ev:?}"
        );
        assert_eq!(p.take_text(1), "* link to the other servers lost\n");
        p.advance(BACKOFF_START);
        let _ = link(&mut p, LINK + 1);
        assert_eq!(p.take_text(1), "* linked again\n");
        // The room never stopped.
        // Just linked, /who waits for the others until its deadline.
        p.send(1, "/who\n");
        p.advance(commlab_core::chat::WHO_DEADLINE);
        assert!(p.take_text(1).starts_with("* 1 online: guest1@a"));
    }
}

#[test]
fn a_broker_that_stops_reading_is_dropped_at_the_cap() {
    // Driven by hand: the link's bytes are never taken, as when the
    // broker's socket does not drain.
    let fed = FederationConfig {
        room: "geral".into(),
        server: "a".into(),
        run: 1,
    };
    let chat = ChatServer::federated(ChatConfig::new(ChatMode::Room), &fed).unwrap();
    let mut link = BrokerLink::new(chat, seeds(), "test");
    let now = std::time::Instant::now();
    let d = link.poll_dial().unwrap();
    link.handle_dialed(now, d.token, ConnId(LINK), d.addr);
    link.handle_input(now, ConnId(LINK), INFO.as_bytes());
    link.handle_input(now, ConnId(LINK), b"PONG\r\n");
    link.handle_connect(now, ConnId(1), d.addr);
    let line = format!("{}\n", "y".repeat(32 * 1024));
    let mut down = None;
    for _ in 0..(2 * LINK_BACKLOG / line.len()) {
        link.handle_input(now, ConnId(1), line.as_bytes());
        while let Some(e) = link.poll_event() {
            if let Linked::Link(LinkEvent::Down { reason, .. }) = e {
                down = Some(reason);
            }
        }
        if down.is_some() {
            break;
        }
    }
    assert!(
        matches!(down, Some(LinkError::Backlog(n)) if n > LINK_BACKLOG),
        "{down:?}"
    );
    assert!(!link.is_linked());
}

#[test]
fn shutdown_sends_the_leaves_then_closes_the_link() {
    let mut p = room("a");
    p.connect(1);
    let _ = link(&mut p, LINK);
    p.take_all();
    p.shutdown();
    let wire = p.take_text(LINK);
    assert!(wire.contains("\"kind\":\"leave\""), "{wire}");
    assert_eq!(p.ended(LINK), Some(commlab_core::testing::Ended::Closed));
    assert!(p
        .take_events()
        .iter()
        .all(|e| !matches!(e, Linked::Inner(ChatEvent::Federation(_)))));
    assert_eq!(p.service.connections(), 0);
}
