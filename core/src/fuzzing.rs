//! Entry points for the fuzz targets in `fuzz/`: each takes arbitrary bytes
//! and must never panic.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::{ChatConfig, ChatMode, ChatServer, ConnId, LineDecoder, Service};

/// Feeds `data` to a [`LineDecoder`] with a small limit, split at a point
/// chosen by the first byte, and takes every line out.
pub fn chat_lines(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut decoder = LineDecoder::new(64);
    let cut = usize::from(split).min(rest.len());
    let mut total = 0usize;
    for part in [&rest[..cut], &rest[cut..]] {
        decoder.feed(part);
        loop {
            match decoder.next_line() {
                Ok(Some(line)) => {
                    assert!(line.len() <= 64);
                    total += line.len();
                }
                Ok(None) => break,
                Err(e) if e.is_fatal() => return,
                Err(_) => {}
            }
        }
        assert!(decoder.pending() <= 65 + part.len());
    }
    let _ = decoder.take_partial();
    assert!(total <= rest.len());
}

/// Drives a room [`ChatServer`] with three clients; each byte chunk of
/// `data` (split on 0xFF) goes to the client the chunk's first byte names,
/// with a virtual clock that advances as it goes.
pub fn chat_room(data: &[u8], now: Instant) {
    let mut cfg = ChatConfig::new(ChatMode::Room);
    cfg.max_line = 32;
    cfg.max_backlog = 256;
    cfg.idle_timeout = Some(Duration::from_secs(5));
    let mut server = ChatServer::new(cfg);
    let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
    let mut t = now;
    for id in 0..3 {
        server.handle_connect(t, ConnId(id), peer);
    }
    let mut out = Vec::new();
    for chunk in data.split(|&b| b == 0xFF) {
        let Some((&who, bytes)) = chunk.split_first() else {
            continue;
        };
        let conn = ConnId(u64::from(who % 4));
        t += Duration::from_millis(u64::from(who));
        match who % 16 {
            13 => server.handle_eof(t, conn),
            14 => server.handle_timeout(t),
            15 => {
                while let Some((c, _)) = server.poll_ready() {
                    out.clear();
                    let _ = server.poll_transmit(c, &mut out, 64);
                }
            }
            _ => server.handle_input(t, conn, bytes),
        }
        while server.poll_event().is_some() {}
        let _ = server.console_line(t, "op");
    }
    server.handle_shutdown(t);
}
