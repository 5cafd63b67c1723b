//! HTTP/1.1 request decoding and the server's framing rules.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::time::{Duration, Instant};

use commlab_core::http1::{
    Handler, HttpServer, Limits, Request, RequestDecoder, Response, Status, MAX_HEAD,
};
use commlab_core::testing::{Ended, ServicePump};
use commlab_core::Service;
use proptest::prelude::*;

fn decode_all(bytes: &[u8], cuts: &[usize]) -> (Vec<Request>, Option<Status>) {
    let mut d = RequestDecoder::default();
    let mut reqs = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([bytes.len()]) {
        d.feed(&bytes[at..cut]);
        at = cut;
        loop {
            match d.next_request() {
                Ok(Some(r)) => reqs.push(r),
                Ok(None) => break,
                Err(e) => return (reqs, Some(e.status)),
            }
        }
    }
    (reqs, None)
}

fn status_of(bytes: &[u8]) -> Option<Status> {
    decode_all(bytes, &[]).1
}

#[test]
fn content_length_keep_alive_and_pipelining() {
    let wire = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.0\r\n\r\nGET /a?b HTTP/1.1\r\nConnection: close\r\n\r\n";
    let (reqs, err) = decode_all(wire, &[]);
    assert_eq!(err, None);
    assert_eq!(reqs.len(), 3);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].target.as_str()),
        ("POST", "/RPC2")
    );
    assert_eq!(reqs[0].body, b"hello");
    assert!(reqs[0].keep_alive);
    assert_eq!(reqs[0].header("content-length"), Some("5"));
    assert!(!reqs[1].keep_alive, "HTTP/1.0 closes by default");
    assert_eq!(reqs[1].version, 0);
    assert!(!reqs[2].keep_alive);
    assert_eq!(reqs[2].path(), "/a");
    // Byte by byte gives the same.
    let cuts: Vec<usize> = (0..wire.len()).collect();
    assert_eq!(decode_all(wire, &cuts).0, reqs);
}

#[test]
fn chunked_bodies_with_extensions_and_trailers() {
    let wire = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
    let (reqs, err) = decode_all(wire, &[]);
    assert_eq!(err, None);
    assert_eq!(reqs[0].body, b"hello world");
    let cuts: Vec<usize> = (0..wire.len()).collect();
    assert_eq!(decode_all(wire, &cuts).0, reqs);
}

#[test]
fn expect_100_continue_is_signalled_once() {
    let mut d = RequestDecoder::default();
    d.feed(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(d.next_request(), Ok(None));
    assert!(d.take_expect_continue());
    assert!(!d.take_expect_continue());
    d.feed(b"ok");
    assert_eq!(d.next_request().unwrap().unwrap().body, b"ok");
}

#[test]
fn every_error_has_its_status() {
    let cases: &[(&[u8], u16)] = &[
        (b"NOT A REQUEST\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\n\r\n", 411),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
            413,
        ),
        (b"POST / HTTP/1.1\r\nContent-Length: x1\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
            400,
        ),
    ];
    for (wire, want) in cases {
        assert_eq!(
            status_of(wire).map(|s| s.0),
            Some(*want),
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..65 {
        many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(status_of(&many), Some(Status::HEADERS_TOO_LARGE));
    let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 1));
    assert_eq!(
        status_of(&huge),
        Some(Status::HEADERS_TOO_LARGE),
        "caught before the blank line"
    );
    let mut d = RequestDecoder::new(Limits {
        max_head: MAX_HEAD,
        max_body: 10,
    });
    d.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n");
    assert_eq!(
        d.next_request().unwrap_err().status,
        Status::CONTENT_TOO_LARGE
    );
}

struct Hello;
impl Handler for Hello {
    fn handle(&mut self, req: &Request) -> Response {
        Response::text(Status::OK, &format!("hello {}", req.path()))
    }
}

#[test]
fn server_answers_in_order_and_closes_when_asked() {
    let mut s = ServicePump::new(HttpServer::new(Hello), Instant::now());
    s.connect(1);
    s.send(
        1,
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    let out = s.take_text(1);
    let a = out.find("hello /a").unwrap();
    let b = out.find("hello /b").unwrap();
    assert!(a < b);
    assert!(out.contains("Connection: close\r\n"));
    assert_eq!(s.ended(1), Some(Ended::Closed));
}

#[test]
fn server_times_out_an_unfinished_request_with_408() {
    let now = Instant::now();
    let mut s = ServicePump::new(
        HttpServer::new(Hello).with_timeouts(Duration::from_secs(5), Duration::from_secs(60)),
        now,
    );
    s.connect(1);
    s.send(1, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(s.service.poll_timeout(), Some(now + Duration::from_secs(5)));
    s.advance(Duration::from_secs(5));
    let out = s.take_text(1);
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert_eq!(s.ended(1), Some(Ended::Closed));
}

#[test]
fn a_tls_handshake_on_the_plaintext_port_is_refused_at_its_first_byte() {
    // A ClientHello's record header: no head end will ever come.
    let mut d = RequestDecoder::default();
    d.feed(&[0x16, 0x03, 0x01, 0x02, 0x00]);
    let e = d.next_request().unwrap_err();
    assert_eq!(e.status, Status::BAD_REQUEST);
    assert!(e.message.contains("TLS handshake"), "{}", e.message);
    assert!(e.message.contains("http://"), "{}", e.message);
    // Any byte no method can start with, after empty lines too.
    let mut d = RequestDecoder::default();
    d.feed(b"\r\n\x00GET");
    let e = d.next_request().unwrap_err();
    assert!(e.message.contains("first byte 0x00"), "{}", e.message);
    // A method arriving byte by byte is not refused.
    let mut d = RequestDecoder::default();
    for b in b"\r\nPOST /RPC2 HTT" {
        d.feed(&[*b]);
        assert!(d.next_request().unwrap().is_none());
    }
}

#[test]
fn the_server_answers_a_tls_client_400_at_once() {
    let now = Instant::now();
    let mut s = ServicePump::new(HttpServer::new(Hello), now);
    s.connect(1);
    s.send(1, [0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]);
    let out = s.take_text(1);
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("TLS handshake"), "{out}");
    assert_eq!(s.ended(1), Some(Ended::Closed));
}

proptest! {
    #[test]
    fn any_bytes_give_requests_or_a_status_never_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let (_, err) = decode_all(&bytes, &cuts);
        if let Some(status) = err {
            prop_assert!([400, 411, 413, 431, 501, 505].contains(&status.0));
        }
    }

    #[test]
    fn splitting_never_changes_the_requests(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        chunked in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut wire = Vec::new();
        for _ in 0..2 {
            if chunked {
                wire.extend_from_slice(b"POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
                for part in body.chunks(7) {
                    wire.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                    wire.extend_from_slice(part);
                    wire.extend_from_slice(b"\r\n");
                }
                wire.extend_from_slice(b"0\r\n\r\n");
            } else {
                wire.extend_from_slice(format!("POST /RPC2 HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
                wire.extend_from_slice(&body);
            }
        }
        let (reqs, err) = decode_all(&wire, &cuts);
        prop_assert_eq!(err, None);
        prop_assert_eq!(reqs.len(), 2);
        for r in reqs {
            prop_assert_eq!(&r.body, &body);
        }
    }
}

#[test]
fn recycled_requests_carry_nothing_over() {
    let mut d = RequestDecoder::default();
    d.feed(b"POST /a HTTP/1.1\r\nHost: x\r\nX-One: 1\r\nX-Two: 2\r\nContent-Length: 3\r\n\r\nabc");
    let first = d.next_request().unwrap().unwrap();
    assert_eq!(first.headers.len(), 4);
    d.recycle(first);
    d.feed(b"GET /bb HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let second = d.next_request().unwrap().unwrap();
    assert_eq!(
        (
            second.method.as_str(),
            second.target.as_str(),
            second.version
        ),
        ("GET", "/bb", 0)
    );
    assert_eq!(
        second.headers,
        vec![("Connection".to_owned(), "keep-alive".to_owned())]
    );
    assert!(second.body.is_empty() && second.keep_alive);
    d.recycle(second);
    d.feed(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
    let third = d.next_request().unwrap().unwrap();
    assert_eq!(
        (third.body.as_slice(), third.keep_alive),
        (&b"hi"[..], false)
    );
    assert_eq!(third.header("transfer-encoding"), Some("chunked"));
    assert_eq!(third.header("x-one"), None);
}

fn request_text() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec!["GET", "POST", "HEAD", "PUT"]),
        "/[a-z]{0,8}",
        prop::collection::vec(("X-[A-Za-z]{1,6}", "[ -~]{0,12}"), 0..5),
        prop::collection::vec(any::<u8>(), 0..40),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(method, target, headers, body, chunked, close)| {
            let mut r = format!("{method} {target} HTTP/1.1\r\nHost: x\r\n");
            for (n, v) in headers {
                r.push_str(&format!("{n}: {}\r\n", v.trim()));
            }
            if close {
                r.push_str("Connection: close\r\n");
            }
            let mut bytes = if chunked {
                r.push_str("Transfer-Encoding: chunked\r\n\r\n");
                let mut b = r.into_bytes();
                if !body.is_empty() {
                    b.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                    b.extend_from_slice(&body);
                    b.extend_from_slice(b"\r\n");
                }
                b.extend_from_slice(b"0\r\n\r\n");
                b
            } else {
                r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                let mut b = r.into_bytes();
                b.extend_from_slice(&body);
                b
            };
            bytes.shrink_to_fit();
            bytes
        })
}

proptest! {
    #[test]
    fn recycling_decoders_agree_with_fresh_ones(
        split in any::<u8>(),
        reqs in prop::collection::vec(request_text(), 1..6),
        noise in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut data = vec![split];
        for r in reqs {
            data.extend_from_slice(&r);
        }
        data.extend_from_slice(&noise);
        commlab_core::fuzzing::http_request(&data);
    }
}

/// Slowloris limits for the schedule tests: a head has 10 s from its first
/// byte, any silence ends after 5 s, a body has 2 s and then 100 bytes/s.
fn slow_limits() -> commlab_core::http1::HttpConfig {
    commlab_core::http1::HttpConfig {
        head_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(5),
        body_grace: Duration::from_secs(2),
        min_body_rate: 100,
        ..Default::default()
    }
}

/// Sends `wire` in `gaps.len()` pieces, piece `i` after `gaps[i]` ms;
/// returns the piece before which the connection had ended (if it did)
/// and everything the server wrote.
fn trickle(wire: &[u8], gaps: &[u64]) -> (Option<usize>, String) {
    let now = Instant::now();
    let mut s = ServicePump::new(HttpServer::new(Hello).with_http(slow_limits()), now);
    s.connect(1);
    let k = gaps.len();
    let mut out = String::new();
    for (i, gap) in gaps.iter().enumerate() {
        s.advance(Duration::from_millis(*gap));
        out.push_str(&s.take_text(1));
        if s.ended(1).is_some() {
            return (Some(i), out);
        }
        let (a, b) = (wire.len() * i / k, wire.len() * (i + 1) / k);
        s.send(1, &wire[a..b]);
    }
    s.advance(Duration::from_secs(60));
    out.push_str(&s.take_text(1));
    (None, out)
}

proptest! {
    /// However a head's bytes are spread in time, it is answered when it
    /// came whole within 10 s of its first byte without 5 s of silence,
    /// and answered 408 at the first limit it ran into otherwise, never
    /// later: a trickle of bytes does not keep a connection open.
    #[test]
    fn a_trickled_head_meets_its_deadline_whatever_the_schedule(
        gaps in proptest::collection::vec(0u64..6000, 1..12),
    ) {
        let wire = b"GET /lento HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n\r\n";
        let mut gaps = gaps;
        gaps[0] = 0;
        // The model: piece i comes at t[i]; before it, the deadline is the
        // head's (10 s after piece 0) or 5 s after piece i - 1.
        let mut t = 0u64;
        let mut late_at = None;
        for (i, gap) in gaps.iter().enumerate().skip(1) {
            let deadline = 10_000u64.min(t + 5_000);
            t += gap;
            if t >= deadline {
                late_at = Some(i);
                break;
            }
        }
        let (ended_before, out) = trickle(wire, &gaps);
        match late_at {
            None => {
                prop_assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{}", out);
                prop_assert_eq!(ended_before, None);
            }
            Some(i) => {
                prop_assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{}", out);
                prop_assert_eq!(ended_before, Some(i));
            }
        }
    }
}

#[test]
fn a_body_slower_than_the_minimum_rate_is_timed_out_and_a_steady_one_is_not() {
    let head = |n: usize| format!("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: {n}\r\n\r\n");
    // 1,000 bytes at 50 bytes a second: under 100/s once the 2 s grace is
    // spent, so cut (at 2 s + received / 100).
    let mut wire = head(1000).into_bytes();
    wire.extend(std::iter::repeat_n(b'x', 1000));
    let now = Instant::now();
    let mut s = ServicePump::new(HttpServer::new(Hello).with_http(slow_limits()), now);
    s.connect(1);
    let hl = head(1000).len();
    s.send(1, &wire[..hl]);
    let mut sent = 0;
    while s.ended(1).is_none() && sent < 1000 {
        s.advance(Duration::from_secs(1));
        if s.ended(1).is_none() {
            s.send(1, &wire[hl + sent..hl + sent + 50]);
            sent += 50;
        }
    }
    let out = s.take_text(1);
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert!(out.contains("slower than 100 bytes/s"), "{out}");
    assert!(sent < 1000, "cut before the end ({sent} bytes in)");
    // The same body at 200 bytes a second is served.
    let mut s = ServicePump::new(HttpServer::new(Hello).with_http(slow_limits()), now);
    s.connect(1);
    s.send(1, &wire[..hl]);
    for piece in wire[hl..].chunks(200) {
        s.advance(Duration::from_secs(1));
        s.send(1, piece);
    }
    let out = s.take_text(1);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
}
