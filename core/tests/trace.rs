//! The wire trace on real protocol bytes: every unit shown, the password
//! never, long payloads cut, buffers bounded.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::sync::{Arc, Mutex};
use std::time::Instant;

use commlab_core::filexfer::{DigestAlg, Frame};
use commlab_core::trace::{Dir, Side, TraceEntry, Tracer, Wire};
use commlab_core::xmlrpc::{encode_call, encode_response, Value};
use commlab_core::ConnId;
use proptest::prelude::*;

fn tracer(wire: Wire, side: Side) -> (Tracer, Arc<Mutex<Vec<TraceEntry>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    let t = Tracer::new(
        wire,
        side,
        Instant::now(),
        Box::new(move |e| sink.lock().unwrap().push(e.clone())),
    );
    (t, got)
}

fn texts(got: &Arc<Mutex<Vec<TraceEntry>>>) -> Vec<(Dir, String)> {
    got.lock()
        .unwrap()
        .iter()
        .map(|e| (e.dir, e.text.clone()))
        .collect()
}

#[test]
fn lines_show_their_terminator_and_newline_less_messages() {
    let (mut t, got) = tracer(Wire::Lines, Side::Server);
    let c = Some(ConnId(3));
    let now = Instant::now();
    t.opened(c);
    t.received(now, c, b"Ol\xc3\xa1\r\nduas");
    t.received(now, c, b" partes\n");
    t.received(now, c, b"sem newline");
    t.sent(now, c, b"Eco=>sem newline");
    t.closed(now, c);
    assert_eq!(
        texts(&got),
        [
            (Dir::Received, "Olá\\r\\n".to_owned()),
            (Dir::Received, "duas partes\\n".to_owned()),
            (Dir::Received, "sem newline (no newline)".to_owned()),
            (Dir::Sent, "Eco=>sem newline (no newline)".to_owned()),
        ]
    );
    let shown = got.lock().unwrap()[0].to_string();
    assert!(
        shown.starts_with("[+0.") && shown.contains(" #3 < Olá\\r\\n"),
        "{shown}"
    );
}

#[test]
fn a_100_kib_line_is_cut() {
    let (mut t, got) = tracer(Wire::Lines, Side::Server);
    let line = format!("{}\n", "x".repeat(100 * 1024));
    for chunk in line.as_bytes().chunks(16 * 1024) {
        t.received(Instant::now(), Some(ConnId(1)), chunk);
    }
    let all = texts(&got);
    assert_eq!(all.len(), 1, "one entry for the whole line");
    assert!(
        all[0].1.ends_with("… (100354 more bytes)"),
        "{}",
        &all[0].1[2000..]
    );
}

#[test]
fn http_shows_heads_and_xml_indented_then_websocket_frames() {
    let (mut t, got) = tracer(Wire::Http, Side::Client);
    let now = Instant::now();
    let call = encode_call("add", &[Value::Int(2), Value::Int(3)]).unwrap();
    let req = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{call}",
        call.len()
    );
    t.sent(now, None, req.as_bytes());
    let body = encode_response(&Ok(Value::Int(5))).unwrap();
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // The answer in two pieces.
    let (a, b) = resp.as_bytes().split_at(30);
    t.received(now, None, a);
    t.received(now, None, b);
    let all = texts(&got);
    assert_eq!(all.len(), 2);
    assert!(
        all[0].1.starts_with("POST /RPC2 HTTP/1.1\nHost: x"),
        "{}",
        all[0].1
    );
    assert!(
        all[0]
            .1
            .contains("<methodCall>\n  <methodName>add</methodName>"),
        "{}",
        all[0].1
    );
    assert!(all[1].1.starts_with("HTTP/1.1 200 OK"), "{}", all[1].1);
    assert!(all[1].1.contains("<methodResponse>"), "{}", all[1].1);

    let (mut t, got) = tracer(Wire::Http, Side::Server);
    let c = Some(ConnId(2));
    // The upgrade and a first masked text frame in one read.
    let mut wire = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec();
    let text = b"3 4";
    let mask = [1, 2, 3, 4];
    wire.extend_from_slice(&[0x81, 0x80 | 3]);
    wire.extend_from_slice(&mask);
    wire.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    t.received(now, c, &wire);
    t.sent(now, c, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n\x81\x017");
    t.sent(now, c, b"\x88\x02\x03\xe9");
    let all = texts(&got);
    assert!(all[0].1.starts_with("GET / HTTP/1.1"), "{all:?}");
    assert!(
        all[1].1.starts_with("HTTP/1.1 101 Switching Protocols"),
        "{all:?}"
    );
    assert_eq!(
        all[2],
        (Dir::Received, "FIN text masked 3 bytes: 3 4".to_owned())
    );
    assert_eq!(
        all[3],
        (Dir::Sent, "FIN text unmasked 1 bytes: 7".to_owned())
    );
    assert_eq!(
        all[4],
        (Dir::Sent, "FIN close unmasked 2 bytes: 1001 ".to_owned())
    );
}

fn login_wire(user: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Frame::Login {
        user: user.into(),
        password: password.into(),
    }
    .encode(&mut out);
    out
}

#[test]
fn file_transfer_frames_are_named_and_data_summarised() {
    let (mut t, got) = tracer(Wire::FileTransfer { data: false }, Side::Client);
    let now = Instant::now();
    t.sent(now, None, &login_wire("aluno", "senha"));
    let mut data = Vec::new();
    Frame::Data(vec![7; 65536]).encode(&mut data);
    Frame::End {
        total: 65536,
        alg: DigestAlg::Blake3,
        digest: [0; 32],
    }
    .encode(&mut data);
    t.received(now, None, &data);
    let all = texts(&got);
    assert_eq!(all[0].1, "LOGIN user: aluno, password: ***");
    assert_eq!(all[1].1, "DATA 65536 bytes");
    assert!(
        all[2].1.starts_with("END 65536 bytes, blake3 "),
        "{}",
        all[2].1
    );
}

#[test]
fn a_10_mib_transfer_stays_under_a_hundred_entries() {
    let (mut t, got) = tracer(Wire::FileTransfer { data: true }, Side::Server);
    let mut frame = Vec::new();
    Frame::Data(vec![1; 64 * 1024]).encode(&mut frame);
    for _ in 0..(10 * 16) {
        t.received(Instant::now(), Some(ConnId(1)), &frame);
    }
    let mut end = Vec::new();
    Frame::End {
        total: 10 << 20,
        alg: DigestAlg::Blake3,
        digest: [0; 32],
    }
    .encode(&mut end);
    t.received(Instant::now(), Some(ConnId(1)), &end);
    let all = texts(&got);
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(
        all[0].1.starts_with("DATA 65536 bytes: 01 01"),
        "{}",
        all[0].1
    );
    assert_eq!(
        all[1].1,
        "DATA ×160 in all, 10485760 bytes (the first shown above)"
    );
    assert!(all[2].1.starts_with("END 10485760 bytes"), "{}", all[2].1);
    let (mut t, got) = tracer(Wire::Raw, Side::Client);
    for _ in 0..40 {
        t.received(Instant::now(), None, &[0; 256 * 1024]);
    }
    assert_eq!(texts(&got).len(), 40);
    assert_eq!(texts(&got)[0].1, "262144 bytes");
}

proptest! {
    /// No trace of a file transfer ever shows the password, whatever the
    /// user and password bytes and however the stream is split.
    #[test]
    fn no_trace_shows_the_password(
        user in "\\PC{0,20}",
        password in "[^\\x00]{8,40}",
        cut in 0usize..80,
    ) {
        let (mut t, got) = tracer(Wire::FileTransfer { data: true }, Side::Server);
        let wire = login_wire(&user, &password);
        let (a, b) = wire.split_at(cut.min(wire.len()));
        t.received(Instant::now(), Some(ConnId(1)), a);
        t.received(Instant::now(), Some(ConnId(1)), b);
        t.closed(Instant::now(), Some(ConnId(1)));
        for e in got.lock().unwrap().iter() {
            prop_assert!(!e.to_string().contains(&password), "{}", e);
        }
    }

    /// Any bytes on any wire give entries, never a panic.
    #[test]
    fn any_bytes_are_traced_without_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        wire in prop_oneof![Just(Wire::Lines), Just(Wire::Http), Just(Wire::FileTransfer { data: true }), Just(Wire::Raw)],
        server in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..5),
    ) {
        let side = if server { Side::Server } else { Side::Client };
        let (mut t, _) = tracer(wire, side);
        let mut at = 0;
        for c in cuts.iter().map(|c| c % (bytes.len() + 1)).chain([bytes.len()]) {
            let (from, to) = (at.min(c), at.max(c));
            t.received(Instant::now(), None, &bytes[from..to]);
            t.sent(Instant::now(), None, &bytes[from..to]);
            at = c;
        }
        t.closed(Instant::now(), None);
    }
}

#[test]
fn a_line_left_without_its_newline_is_shown_once_quiet() {
    let (mut t, got) = tracer(Wire::Lines, Side::Server);
    let start = Instant::now();
    t.received(start, Some(ConnId(2)), b"sem newline");
    // Another connection's traffic, after the quiet period.
    t.sent(
        start + commlab_core::QUIET_FLUSH,
        Some(ConnId(1)),
        b"guest2: sem newline\n",
    );
    t.received(start + commlab_core::QUIET_FLUSH, Some(ConnId(2)), b"\n");
    let all: Vec<(Option<ConnId>, String)> = got
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.conn, e.text.clone()))
        .collect();
    assert_eq!(
        all,
        [
            (Some(ConnId(2)), "sem newline (no newline)".to_owned()),
            (Some(ConnId(1)), "guest2: sem newline\\n".to_owned()),
            (Some(ConnId(2)), "\\n".to_owned()),
        ]
    );
}
