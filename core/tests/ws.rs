//! The page and WebSocket server on an in-memory pair, and the sum protocol.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::io::{self, Read, Write};
use std::time::Instant;

use commlab_core::http1::{Request, Status};
use commlab_core::testing::{Ended, ServicePump};
use commlab_core::ws::{answer, route, Route, WsEvent, WsServer, PAGE};
use proptest::prelude::*;
use tungstenite::protocol::{Role, WebSocketContext};
use tungstenite::Message;

fn get(target: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        target: target.into(),
        version: 1,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect(),
        body: Vec::new(),
        keep_alive: true,
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

#[test]
fn routes_page_upgrade_and_errors() {
    let Route::Http(page) = route(&get("/", &[])) else {
        panic!()
    };
    assert_eq!(page.status, Status::OK);
    assert_eq!(page.body, PAGE.as_bytes());
    let ok = [
        ("Upgrade", "websocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", KEY),
    ];
    let Route::Upgrade(answer) = route(&get("/ws", &ok)) else {
        panic!()
    };
    let answer = String::from_utf8(answer).unwrap();
    // The RFC 6455 example key and its accept value.
    assert!(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(answer.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    let status = |headers: &[(&str, &str)]| match route(&get("/ws", headers)) {
        Route::Http(r) => r.status.0,
        Route::Upgrade(_) => 101,
    };
    assert_eq!(status(&[]), 426, "plain GET /ws: upgrade required");
    assert_eq!(
        status(&[ok[0], ok[1], ("Sec-WebSocket-Version", "8"), ok[3]]),
        426
    );
    assert_eq!(status(&[ok[0], ok[1], ok[2]]), 400, "no key");
    assert_eq!(
        status(&[ok[0], ok[1], ok[2], ("Sec-WebSocket-Key", "short")]),
        400
    );
    assert_eq!(
        status(&[ok[0], ok[2], ok[3]]),
        400,
        "no Connection: Upgrade"
    );
    let Route::Http(nf) = route(&get("/nada", &[])) else {
        panic!()
    };
    assert_eq!(nf.status, Status::NOT_FOUND);
}

#[test]
fn sum_hello_and_errors() {
    assert_eq!(
        answer(r#"{"op":"sum","a":3,"b":4.5}"#),
        r#"{"op":"sum","a":3,"b":4.5,"sum":7.5}"#
    );
    assert_eq!(
        answer(r#"{"op":"sum","a":"3","b":"4"}"#),
        r#"{"op":"sum","a":3,"b":4,"sum":7}"#
    );
    assert_eq!(
        answer(r#"{"op":"sum","a":"4,5","b":1}"#),
        r#"{"op":"sum","a":4.5,"b":1,"sum":5.5}"#
    );
    assert_eq!(
        answer(r#"{"op":"hello","name":"Marcos"}"#),
        r#"{"op":"hello","greeting":"Ola Marcos!"}"#
    );
    assert_eq!(answer("3 4"), "7");
    assert_eq!(answer("  1.5   2 "), "3.5");
    assert_eq!(
        answer(r#"{"op":"sum","a":1}"#),
        r#"{"error":"missing field \"b\""}"#
    );
    assert_eq!(
        answer(r#"{"op":"sum","a":true,"b":1}"#),
        r#"{"error":"field \"a\" must be a number, not a boolean"}"#
    );
    assert_eq!(
        answer(r#"{"op":"mul","a":1,"b":2}"#),
        r#"{"error":"unknown op \"mul\"; use \"sum\" or \"hello\""}"#
    );
    assert!(answer("{oops").starts_with(r#"{"error":"not valid JSON: "#));
    assert!(answer("olá").starts_with(r#"{"error":"send two numbers"#));
    assert!(answer("NaN 1").starts_with(r#"{"error":"\"NaN\" is not a number"#));
    assert!(answer("1e400 1").contains("is not a number"));
}

#[test]
fn integer_sums_are_exact_at_the_i64_edges() {
    let max = i64::MAX;
    let min = i64::MIN;
    assert_eq!(answer(&format!("{max} 0")), max.to_string());
    assert_eq!(answer(&format!("{max} -1")), (max - 1).to_string());
    assert_eq!(answer(&format!("{min} {max}")), "-1");
    assert_eq!(
        answer(&format!("{max} 1")),
        format!(r#"{{"error":"the sum of {max} and 1 does not fit in a 64-bit integer"}}"#)
    );
    assert!(answer(&format!("{min} -1")).contains("does not fit in a 64-bit integer"));
    assert!(answer("9223372036854775808 0").contains("does not fit in a 64-bit integer"));
    // 2^53 + 1 is not a double: an exact integer sum keeps it.
    assert_eq!(answer("9007199254740993 0"), "9007199254740993");
    assert_eq!(
        answer(&format!(r#"{{"op":"sum","a":{max},"b":1}}"#)),
        format!(r#"{{"error":"the sum of {max} and 1 does not fit in a 64-bit integer"}}"#)
    );
}

/// A client-side tungstenite context over in-memory buffers.
#[derive(Default)]
struct Mem {
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        Ok(n)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_in_memory_pair_upgrades_sums_and_gets_pushes() {
    let now = Instant::now();
    let mut server = ServicePump::new(WsServer::new(), now);
    server.connect(1);
    let handshake = format!("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n");
    let mut client = WebSocketContext::new(Role::Client, None);
    let mut mem = Mem::default();
    client
        .write(&mut mem, Message::text(r#"{"op":"sum","a":1,"b":2}"#))
        .unwrap();
    client.flush(&mut mem).unwrap();
    // The first frame arrives in the same read as the handshake.
    let mut first = handshake.into_bytes();
    first.append(&mut mem.output);
    server.send(1, &first);
    let out = server.take_output(1);
    let text = String::from_utf8_lossy(&out);
    let head_end = text.find("\r\n\r\n").unwrap() + 4;
    assert!(text.starts_with("HTTP/1.1 101 "));
    mem.input.extend_from_slice(&out[head_end..]);
    assert_eq!(
        client.read(&mut mem).unwrap(),
        Message::text(r#"{"op":"sum","a":1,"b":2,"sum":3}"#)
    );
    assert_eq!(server.service.sockets(), 1);
    assert_eq!(server.service.push(now, "aviso"), 1);
    server.pump();
    let out = server.take_output(1);
    mem.input.extend_from_slice(&out);
    assert_eq!(
        client.read(&mut mem).unwrap(),
        Message::text(r#"{"op":"push","text":"aviso"}"#)
    );
    // A message over 64 KiB closes with 1009.
    client
        .write(&mut mem, Message::text("x".repeat(70 * 1024)))
        .unwrap();
    client.flush(&mut mem).unwrap();
    let bytes = std::mem::take(&mut mem.output);
    server.send(1, &bytes);
    let out = server.take_output(1);
    mem.input.extend_from_slice(&out);
    match client.read(&mut mem).unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }
    assert_eq!(server.ended(1), Some(Ended::Closed));
    assert!(server.events.iter().any(|e| matches!(
        e,
        WsEvent::Closed {
            code: Some(1009),
            ..
        }
    )));
}

#[test]
fn a_64_bit_length_with_its_top_bit_set_closes_with_1002_not_1009() {
    // A length of 2^63 + 5 (forbidden) and one of 2^32 (only too big).
    for (top, low, code) in [(0x80u8, 5u8, 1002u16), (0x00, 0, 1009)] {
        let now = Instant::now();
        let mut server = ServicePump::new(WsServer::new(), now);
        server.connect(1);
        let handshake = format!("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n");
        server.send(1, handshake.as_bytes());
        let out = server.take_output(1);
        assert!(out.starts_with(b"HTTP/1.1 101 "));
        // FIN text, masked, length 127: a 64-bit length follows (RFC 6455
        // §5.2: its most significant bit MUST be 0), then the mask.
        let mut frame = vec![
            0x81,
            0x80 | 127,
            top,
            0,
            0,
            u8::from(low == 0),
            0,
            0,
            0,
            low,
        ];
        frame.extend_from_slice(&[1, 2, 3, 4]);
        server.send(1, &frame);
        let out = server.take_output(1);
        let mut mem = Mem::default();
        mem.input.extend_from_slice(&out);
        let mut client = WebSocketContext::new(Role::Client, None);
        match client.read(&mut mem).unwrap() {
            Message::Close(Some(f)) => assert_eq!(u16::from(f.code), code, "top byte {top:#x}"),
            other => panic!("expected close {code}, got {other:?}"),
        }
        assert!(server.events.iter().any(|e| matches!(
            e,
            WsEvent::Closed { code: Some(c), .. } if *c == code
        )));
    }
}

proptest! {
    #[test]
    fn any_text_gets_a_reply_never_a_panic(text in "\\PC{0,60}") {
        let reply = answer(&text);
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&reply);
        prop_assert!(parsed.is_ok(), "reply {reply:?} is not JSON (a plain sum is a JSON number)");
    }

    #[test]
    fn any_two_i64_sum_exactly_or_say_overflow(a in any::<i64>(), b in any::<i64>()) {
        let reply = answer(&format!("{a} {b}"));
        match a.checked_add(b) {
            Some(s) => prop_assert_eq!(reply, s.to_string()),
            None => prop_assert!(reply.contains("does not fit in a 64-bit integer")),
        }
    }
}

#[test]
fn a_server_not_reporting_messages_still_answers_and_reports_the_rest() {
    let now = Instant::now();
    for report in [true, false] {
        let mut server = ServicePump::new(WsServer::new().report_messages(report), now);
        server.connect(1);
        let mut client = WebSocketContext::new(Role::Client, None);
        let mut mem = Mem::default();
        let mut wire = format!("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n").into_bytes();
        for sum in [r#"{"op":"sum","a":1,"b":2}"#, "3 4"] {
            client.write(&mut mem, Message::text(sum)).unwrap();
        }
        client.flush(&mut mem).unwrap();
        wire.append(&mut mem.output);
        server.send(1, &wire);
        let out = server.take_output(1);
        let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        mem.input.extend_from_slice(&out[head_end..]);
        assert_eq!(
            client.read(&mut mem).unwrap(),
            Message::text(r#"{"op":"sum","a":1,"b":2,"sum":3}"#)
        );
        assert_eq!(client.read(&mut mem).unwrap(), Message::text("7"));
        let events = server.take_events();
        let messages = events
            .iter()
            .filter(|e| matches!(e, WsEvent::Message { .. }))
            .count();
        assert_eq!(messages, if report { 2 } else { 0 });
        assert!(events.iter().any(|e| matches!(e, WsEvent::Opened { .. })));
    }
}
