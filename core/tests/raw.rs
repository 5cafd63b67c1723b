//! The class's raw mode as a service: the whole file, asked for only
//! while the queue is low, a client that stops reading dropped.

#![allow(clippy::disallowed_methods)] // a test seeds its virtual clock from the real one

use std::time::Instant;

use commlab_core::filexfer::{RawEvent, RawFileServer, IDLE_TIMEOUT, LOW_WATER};
use commlab_core::{ConnId, Flow, Readiness, Service};

fn peer() -> core::net::SocketAddr {
    "127.0.0.1:50308".parse().unwrap()
}

/// Drains `conn`'s output; whether the connection closed.
fn drain(s: &mut RawFileServer, out: &mut Vec<u8>) -> bool {
    let mut closed = false;
    while let Some((conn, ready)) = s.poll_ready() {
        assert_eq!(ready, Readiness::Send);
        closed |= s.poll_transmit(conn, out, usize::MAX) == Flow::Close;
    }
    closed
}

#[test]
fn a_file_goes_out_whole_then_the_connection_closes() {
    let now = Instant::now();
    let file: Vec<u8> = (0..3 * LOW_WATER + 17).map(|i| i as u8).collect();
    let mut s = RawFileServer::new();
    s.handle_connect(now, ConnId(1), peer());
    assert_eq!(
        s.poll_event(),
        Some(RawEvent::Connected {
            conn: ConnId(1),
            peer: peer()
        })
    );
    let (mut at, mut out, mut closed) = (0, Vec::new(), false);
    while !closed {
        match s.poll_event() {
            Some(RawEvent::NeedData { conn }) if at < file.len() => {
                let end = (at + 100_000).min(file.len());
                s.send_data(now, conn, &file[at..end]);
                at = end;
            }
            Some(RawEvent::NeedData { conn }) => s.finish(conn),
            Some(RawEvent::Sent { bytes, .. }) => assert_eq!(bytes, file.len() as u64),
            Some(other) => panic!("{other:?}"),
            None => closed = drain(&mut s, &mut out),
        }
    }
    assert!(out == file);
    assert_eq!(s.connections(), 0);
}

#[test]
fn data_is_asked_for_only_while_the_queue_is_low() {
    let now = Instant::now();
    let mut s = RawFileServer::new();
    s.handle_connect(now, ConnId(1), peer());
    let _ = s.poll_event();
    assert_eq!(s.poll_event(), Some(RawEvent::NeedData { conn: ConnId(1) }));
    s.send_data(now, ConnId(1), &vec![0; LOW_WATER]);
    assert_eq!(s.poll_event(), None, "a full queue is not asked for more");
    let mut out = Vec::new();
    drain(&mut s, &mut out);
    assert_eq!(s.poll_event(), Some(RawEvent::NeedData { conn: ConnId(1) }));
}

#[test]
fn a_client_that_stops_reading_is_dropped() {
    let now = Instant::now();
    let mut s = RawFileServer::new();
    s.handle_connect(now, ConnId(1), peer());
    s.send_data(now, ConnId(1), &vec![0; LOW_WATER]);
    while s.poll_event().is_some() {}
    s.handle_timeout(now + IDLE_TIMEOUT);
    assert!(matches!(
        s.poll_event(),
        Some(RawEvent::Failed { bytes, .. }) if bytes == LOW_WATER as u64
    ));
    assert_eq!(s.poll_ready(), Some((ConnId(1), Readiness::Abort)));
    assert_eq!(s.connections(), 0);
}
