//! The NATS client protocol in memory: the handshake, every server op, the
//! limits, the keep-alive on a virtual clock, and the stream cut anywhere.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::time::{Duration, Instant};

use commlab_core::nats::{
    Message, NatsClient, NatsError, NatsEvent, OpDecoder, ProtoError, SendError, ServerOp,
    CONNECT_TIMEOUT, MAX_CONTROL_LINE, PING_INTERVAL, PONG_TIMEOUT,
};
use commlab_core::Session;
use proptest::prelude::*;

const INFO: &str = "INFO {\"server_id\":\"NDZ\",\"server_name\":\"b1\",\"version\":\"2.9.11\",\"proto\":1,\"max_payload\":1048576,\"headers\":true}\r\n";

fn sent(c: &mut NatsClient) -> String {
    let mut out = Vec::new();
    c.poll_transmit(&mut out);
    String::from_utf8(out).unwrap()
}

fn events(c: &mut NatsClient) -> Vec<NatsEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// A client past `INFO` and the first `PONG`.
fn ready(now: Instant) -> NatsClient {
    let mut c = NatsClient::new("commlab room test", now);
    c.handle_input(now, INFO.as_bytes());
    let _ = sent(&mut c);
    c.handle_input(now, b"PONG\r\n");
    assert!(matches!(events(&mut c)[..], [NatsEvent::Connected(_)]));
    c
}

#[test]
fn connect_says_echo_false_and_sends_early_subscriptions_after_it() {
    let now = Instant::now();
    let mut c = NatsClient::new("commlab room", now);
    let sid = c.subscribe("commlab.room.geral").unwrap();
    c.publish("commlab.room.geral", None, b"oi").unwrap();
    assert_eq!(sent(&mut c), "", "nothing before INFO");
    c.handle_input(now, INFO.as_bytes());
    let wire = sent(&mut c);
    let lines: Vec<&str> = wire.split("\r\n").collect();
    assert!(lines[0].starts_with("CONNECT {"), "{wire}");
    let connect: serde_json::Value = serde_json::from_str(&lines[0]["CONNECT ".len()..]).unwrap();
    assert_eq!(connect["echo"], false);
    assert_eq!(connect["verbose"], false);
    assert_eq!(connect["pedantic"], false);
    assert_eq!(connect["name"], "commlab room");
    assert_eq!(lines[1], format!("SUB commlab.room.geral {sid}"));
    assert_eq!(lines[2..5], ["PUB commlab.room.geral 2", "oi", "PING"]);
    assert!(!c.is_ready());
    c.handle_input(now, b"PONG\r\n");
    match &events(&mut c)[..] {
        [NatsEvent::Connected(info)] => {
            assert_eq!(info.server_id, "NDZ");
            assert_eq!(info.max_payload, 1_048_576);
            assert!(info.headers);
        }
        other => panic!("{other:?}"),
    }
    assert!(c.is_ready());
}

#[test]
fn messages_with_and_without_headers_and_reply_subjects() {
    let now = Instant::now();
    let mut c = ready(now);
    c.handle_input(
        now,
        b"MSG a.b 1 5\r\nhe\r\no\r\nmsg A.B 2 _INBOX.x 0\r\n\r\nHMSG c 3 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
    );
    let got = events(&mut c);
    assert_eq!(
        got,
        [
            NatsEvent::Message(Message {
                subject: "a.b".into(),
                sid: 1,
                reply: None,
                headers: None,
                payload: b"he\r\no".to_vec(),
            }),
            NatsEvent::Message(Message {
                subject: "A.B".into(),
                sid: 2,
                reply: Some("_INBOX.x".into()),
                headers: None,
                payload: vec![],
            }),
            NatsEvent::Message(Message {
                subject: "c".into(),
                sid: 3,
                reply: None,
                headers: Some(b"NATS/1.0\r\n\r\n".to_vec()),
                payload: b"hi".to_vec(),
            }),
        ]
    );
}

#[test]
fn server_pings_are_answered_and_a_quiet_link_is_pinged_then_declared_dead() {
    let t0 = Instant::now();
    let mut c = ready(t0);
    c.handle_input(t0, b"PING\r\n");
    assert_eq!(sent(&mut c), "PONG\r\n");
    assert_eq!(c.poll_timeout(), Some(t0 + PING_INTERVAL));
    let t1 = t0 + PING_INTERVAL;
    c.handle_timeout(t1);
    assert_eq!(sent(&mut c), "PING\r\n");
    // Answered: the link lives on.
    c.handle_input(t1, b"PONG\r\n");
    assert!(c.is_ready());
    let t2 = t1 + PING_INTERVAL;
    c.handle_timeout(t2);
    assert_eq!(sent(&mut c), "PING\r\n");
    assert_eq!(c.poll_timeout(), Some(t2 + PONG_TIMEOUT));
    // A flush's PONG does not count for the keep-alive's.
    c.flush().unwrap();
    assert_eq!(sent(&mut c), "PING\r\n");
    c.handle_timeout(t2 + PONG_TIMEOUT);
    assert_eq!(events(&mut c), [NatsEvent::Failed(NatsError::DeadLink)]);
    assert!(c.is_closed());
    assert_eq!(c.publish("x", None, b""), Err(SendError::Closed));
}

#[test]
fn a_broker_that_never_says_info_times_out() {
    let t0 = Instant::now();
    let mut c = NatsClient::new("x", t0);
    assert_eq!(c.poll_timeout(), Some(t0 + CONNECT_TIMEOUT));
    c.handle_timeout(t0 + CONNECT_TIMEOUT);
    assert_eq!(
        events(&mut c),
        [NatsEvent::Failed(NatsError::ConnectTimeout)]
    );
}

fn failure_for(bytes: &[u8]) -> NatsError {
    let now = Instant::now();
    let mut c = NatsClient::new("x", now);
    c.handle_input(now, bytes);
    match events(&mut c).pop() {
        Some(NatsEvent::Failed(e)) => {
            assert!(c.is_closed());
            e
        }
        other => panic!(
            "no failure for {:?}: {other:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

#[test]
fn garbage_bad_info_long_lines_oversized_payloads_and_errors_are_typed() {
    assert!(matches!(
        failure_for(b"HELLO there\r\n"),
        NatsError::Protocol(ProtoError::Malformed(_))
    ));
    assert!(matches!(
        failure_for(b"MSG a 1 2\r\nhi\r\n"),
        NatsError::Protocol(ProtoError::Malformed(m)) if m.contains("expected INFO first")
    ));
    assert!(matches!(
        failure_for(b"INFO {\"max_payload\":5}\r\n"),
        NatsError::Protocol(ProtoError::BadInfo(_))
    ));
    assert!(matches!(
        failure_for(b"INFO not json\r\n"),
        NatsError::Protocol(ProtoError::BadInfo(_))
    ));
    let long = format!("INFO {}\r\n", "x".repeat(MAX_CONTROL_LINE + 10));
    assert_eq!(
        failure_for(long.as_bytes()),
        NatsError::Protocol(ProtoError::LineTooLong)
    );
    // A line that never ends is refused as soon as it passes the limit.
    assert_eq!(
        failure_for(&vec![b'x'; MAX_CONTROL_LINE + 10]),
        NatsError::Protocol(ProtoError::LineTooLong)
    );
    let small = b"INFO {\"server_id\":\"S\",\"max_payload\":4}\r\nMSG a 1 5\r\nhello\r\n";
    assert_eq!(
        failure_for(small),
        NatsError::Protocol(ProtoError::PayloadTooLarge { size: 5, max: 4 })
    );
    let no_crlf = format!("{INFO}MSG a 1 2\r\nhiXX");
    assert_eq!(
        failure_for(no_crlf.as_bytes()),
        NatsError::Protocol(ProtoError::MissingCrlf)
    );
    let refused = format!("{INFO}-ERR 'Authorization Violation'\r\n");
    assert_eq!(
        failure_for(refused.as_bytes()),
        NatsError::Server("Authorization Violation".into())
    );
}

#[test]
fn a_permissions_violation_is_reported_and_the_link_stays() {
    let now = Instant::now();
    let mut c = ready(now);
    c.handle_input(
        now,
        b"-ERR 'Permissions Violation for Publish to \"x\"'\r\nPING\r\n",
    );
    assert!(
        matches!(&events(&mut c)[..], [NatsEvent::ServerError(e)] if e.starts_with("Permissions"))
    );
    assert_eq!(sent(&mut c), "PONG\r\n");
    assert!(c.is_ready());
}

#[test]
fn publishes_are_checked_before_anything_is_queued() {
    let now = Instant::now();
    let mut c = NatsClient::new("x", now);
    c.handle_input(now, b"INFO {\"server_id\":\"S\",\"max_payload\":8}\r\n");
    c.handle_input(now, b"PONG\r\n");
    let _ = sent(&mut c);
    assert_eq!(
        c.publish("a", None, b"123456789"),
        Err(SendError::TooLarge { size: 9, max: 8 })
    );
    for bad in ["", "a..b", "a b", ".a", "a\r\n"] {
        assert!(matches!(
            c.publish(bad, None, b""),
            Err(SendError::InvalidSubject(_))
        ));
        assert!(matches!(
            c.subscribe(bad),
            Err(SendError::InvalidSubject(_))
        ));
    }
    assert_eq!(sent(&mut c), "");
    // A broker that does not read: the queue stops at its cap.
    let mut refused = None;
    for _ in 0..2_000_000 {
        if let Err(e) = c.publish("a", None, b"12345678") {
            refused = Some(e);
            break;
        }
    }
    assert!(
        matches!(refused, Some(SendError::Backlog { .. })),
        "{refused:?}"
    );
}

/// A server stream of every kind of op.
fn stream(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut s = INFO.as_bytes().to_vec();
    s.extend_from_slice(b"PONG\r\n+OK\r\nPING\r\n");
    for (i, p) in payloads.iter().enumerate() {
        if i % 2 == 0 {
            s.extend_from_slice(format!("MSG commlab.room.r {} {}\r\n", i + 1, p.len()).as_bytes());
        } else {
            s.extend_from_slice(
                format!("HMSG s {} _INBOX.{i} 12 {}\r\n", i + 1, p.len() + 12).as_bytes(),
            );
            s.extend_from_slice(b"NATS/1.0\r\n\r\n");
        }
        s.extend_from_slice(p);
        s.extend_from_slice(b"\r\n");
    }
    s
}

fn decode_all(bytes: &[u8], cuts: &[usize]) -> Result<Vec<ServerOp>, ProtoError> {
    let mut d = OpDecoder::new();
    let mut ops = Vec::new();
    for part in commlab_core::testing::split_at(bytes, cuts) {
        d.feed(part);
        while let Some(op) = d.next_op()? {
            ops.push(op);
        }
    }
    Ok(ops)
}

#[test]
fn every_split_point_gives_the_same_ops() {
    let bytes = stream(&[b"ola\r\nmundo".to_vec(), vec![], b"MSG x 1 1\r\n".to_vec()]);
    let whole = decode_all(&bytes, &[]).unwrap();
    assert_eq!(whole.len(), 7);
    for cut in 0..=bytes.len() {
        assert_eq!(decode_all(&bytes, &[cut]).unwrap(), whole, "cut at {cut}");
    }
}

proptest! {
    #[test]
    fn any_cuts_give_the_same_ops(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let bytes = stream(&payloads);
        prop_assert_eq!(decode_all(&bytes, &cuts).unwrap(), decode_all(&bytes, &[]).unwrap());
    }

    #[test]
    fn any_bytes_give_ops_or_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = decode_all(&bytes, &[7, 100]);
        let now = Instant::now();
        let mut c = NatsClient::new("x", now);
        c.handle_input(now, &bytes);
        c.handle_timeout(now + Duration::from_secs(60));
        while c.poll_event().is_some() {}
    }
}

#[test]
fn the_fuzz_entry_takes_a_real_stream_and_garbage() {
    let now = Instant::now();
    let mut data = vec![40u8];
    data.extend_from_slice(&stream(&[b"x".to_vec(), b"yz".to_vec()]));
    commlab_core::fuzzing::nats_ops(&data, now);
    commlab_core::fuzzing::nats_ops(b"\x05MSG a 1 99999999999\r\n", now);
}

#[test]
fn a_flush_is_confirmed_by_its_own_pong_in_order() {
    let now = Instant::now();
    let mut c = NatsClient::new("x", now);
    c.subscribe("a").unwrap();
    c.flush().unwrap();
    c.handle_input(now, INFO.as_bytes());
    let wire = sent(&mut c);
    assert!(wire.ends_with("SUB a 1\r\nPING\r\nPING\r\n"), "{wire}");
    c.handle_input(now, b"PONG\r\n");
    assert_eq!(events(&mut c), [NatsEvent::Flushed]);
    assert!(!c.is_ready());
    c.handle_input(now, b"PONG\r\n");
    assert!(matches!(events(&mut c)[..], [NatsEvent::Connected(_)]));
    c.flush().unwrap();
    assert_eq!(sent(&mut c), "PING\r\n");
    c.handle_input(now, b"PONG\r\nPONG\r\n");
    assert_eq!(events(&mut c), [NatsEvent::Flushed]);
}
