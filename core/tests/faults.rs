//! Every way a session ends says who is at fault: driven through real
//! services on the test kit, one case per kind of fault.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::time::Instant;

use commlab_core::chat::{ChatConfig, ChatEvent, ChatMode, ChatServer};
use commlab_core::filexfer::{DigestAlg, Frame, FtEvent, FtServer};
use commlab_core::http1::HttpEvent;
use commlab_core::testing::ServicePump;
use commlab_core::ws::{WsEvent, WsServer};
use commlab_core::xmlrpc::{calculator, RpcHandler, RpcServer};
use commlab_core::Fault;

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// A masked client frame: `opcode` with `payload` (mask 0).
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode, 0x80 | u8::try_from(payload.len()).unwrap()];
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fn ws_end(bytes: &[u8]) -> Option<Fault> {
    let mut p = ServicePump::new(WsServer::new(), Instant::now());
    p.connect(1);
    p.send(1, UPGRADE);
    p.send(1, bytes);
    p.events.iter().find_map(|e| match e {
        WsEvent::Closed { reason, .. } => Some(reason.fault()),
        _ => None,
    })?
}

#[test]
fn websocket_ends_name_the_peer_the_limit_or_nobody() {
    assert_eq!(ws_end(&frame(0x1, &[0xff, 0xfe])), Some(Fault::PeerData));
    // A fragmented control frame breaks the protocol.
    let mut ping = frame(0x9, b"x");
    ping[0] = 0x09; // FIN off
    assert_eq!(ws_end(&ping), Some(Fault::PeerOrder));
    let mut p = ServicePump::new(WsServer::new(), Instant::now());
    p.connect(1);
    p.send(1, UPGRADE);
    p.send(1, frame(0x8, &[0x03, 0xe8]));
    assert!(p.events.iter().any(|e| matches!(
        e,
        WsEvent::Closed { reason, .. } if reason.fault().is_none()
    )));
}

#[test]
fn file_transfer_ends_name_the_peer_that_broke_the_order() {
    let mut p = ServicePump::new(FtServer::new(DigestAlg::Blake3, 100), Instant::now());
    p.connect(1);
    let mut wire = Vec::new();
    Frame::Ready {
        alg: DigestAlg::Blake3,
        size: 0,
    }
    .encode(&mut wire);
    p.send(1, &wire);
    let fault = p.events.iter().find_map(|e| match e {
        FtEvent::ProtocolError { reason, .. } => reason.fault(),
        _ => None,
    });
    assert_eq!(fault, Some(Fault::PeerOrder));
}

#[test]
fn chat_and_http_ends_name_the_limit_and_the_network() {
    let mut cfg = ChatConfig::new(ChatMode::Echo);
    cfg.max_line = 8;
    let mut p = ServicePump::new(ChatServer::new(cfg), Instant::now());
    p.connect(1);
    p.send(1, "far more than eight bytes\n");
    let fault = p.events.iter().find_map(|e| match e {
        ChatEvent::Disconnected { reason, .. } => reason.fault(),
        _ => None,
    });
    assert_eq!(fault, Some(Fault::Limit));

    let mut p = ServicePump::new(
        RpcServer::new(RpcHandler::new(calculator())),
        Instant::now(),
    );
    p.connect(1);
    p.send(1, "POST /RPC2 HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    p.lose(1, "connection reset by peer");
    let fault = p.events.iter().find_map(|e| match e {
        HttpEvent::Dropped { reason, .. } => Some(reason.fault()),
        _ => None,
    });
    assert_eq!(fault, Some(Fault::Network));
}
