//! Entry points for the fuzz targets in `fuzz/`: each takes arbitrary bytes
//! and must never panic.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::testing::ServicePump;
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
/// with a virtual clock that advances as it goes. When `data`'s first byte
/// has its top bit set the room is one shard of two
/// ([`ChatServer::sharded`]): its name claims and `/who` are answered as
/// an application would, and its batches reach a sibling shard.
pub fn chat_room(data: &[u8], now: Instant) {
    let mut cfg = ChatConfig::new(ChatMode::Room);
    cfg.max_line = 32;
    cfg.max_backlog = 256;
    cfg.idle_timeout = Some(Duration::from_secs(5));
    let sharded = data.first().is_some_and(|b| b & 0x80 != 0);
    let mut sibling = ChatServer::sharded(cfg.clone());
    sibling.handle_connect(
        now,
        ConnId::on_loop(1, 1),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2),
    );
    let mut names = crate::chat::RoomNames::new();
    let mut server = if sharded {
        ChatServer::sharded(cfg)
    } else {
        ChatServer::new(cfg)
    };
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
        answer_shard(&mut server, &mut sibling, &mut names);
        let _ = server.console_line(t, "op");
        answer_shard(&mut server, &mut sibling, &mut names);
    }
    server.handle_shutdown(t);
}

/// Takes `server`'s events, answering a shard's requests as an
/// application does (a registry of names; batches to `sibling`).
fn answer_shard(
    server: &mut ChatServer,
    sibling: &mut ChatServer,
    names: &mut crate::chat::RoomNames,
) {
    use crate::chat::{ChatEvent, ShardEvent};
    while let Some(event) = server.poll_event() {
        match event {
            ChatEvent::Connected { nick, .. } => {
                names.claim(&nick);
            }
            ChatEvent::Shard(ShardEvent::Batch(batch)) => {
                sibling.sibling_batch(&batch);
                while sibling.poll_event().is_some() {}
            }
            ChatEvent::Shard(ShardEvent::Released { nick }) => names.release(&nick, 0),
            ChatEvent::Shard(ShardEvent::ClaimName { conn, new, .. }) => {
                let granted = names.claim(&new);
                if !server.answer_name(conn, &new, granted) && granted {
                    names.release(&new, 0);
                }
            }
            ChatEvent::Shard(ShardEvent::Who { conn }) => server.answer_who(conn, &names.members()),
            _ => {}
        }
    }
}

/// Feeds `data` to an HTTP [`RequestDecoder`](crate::http1::RequestDecoder)
/// split at a point the first byte chooses; every request or error is taken,
/// and a decoder that recycles its requests must agree with one that does not.
pub fn http_request(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let limits = crate::http1::Limits {
        max_head: 512,
        max_body: 1024,
    };
    // One decoder recycles every request, the other never does: they must
    // give the same requests and the same errors.
    let mut decoder = crate::http1::RequestDecoder::new(limits);
    let mut fresh = crate::http1::RequestDecoder::new(limits);
    let cut = usize::from(split).min(rest.len());
    for part in [&rest[..cut], &rest[cut..]] {
        decoder.feed(part);
        fresh.feed(part);
        loop {
            let expected = fresh.next_request();
            match decoder.next_request() {
                Ok(Some(req)) => {
                    assert!(req.body.len() <= 1024);
                    assert_eq!(expected.as_ref().ok(), Some(&Some(req.clone())));
                    decoder.recycle(req);
                }
                Ok(None) => {
                    assert_eq!(expected, Ok(None));
                    break;
                }
                Err(e) => {
                    assert_eq!(expected, Err(e));
                    return;
                }
            }
        }
        assert_eq!(decoder.take_expect_continue(), fresh.take_expect_continue());
    }
}

/// Decodes `data` as a `methodCall` and answers it with the calculator, as
/// the XML-RPC server does with a request body.
pub fn xmlrpc_call(data: &[u8]) {
    let response = crate::xmlrpc::calculator().handle_body(data);
    assert!(crate::xmlrpc::decode_response(&response).is_ok());
}

/// Decodes `data` as a `methodResponse`, re-encodes what it finds, and
/// reads its value as a `system.multicall` answer.
pub fn xmlrpc_response(data: &[u8]) {
    if let Ok(result) = crate::xmlrpc::decode_response(data) {
        if let Ok(text) = crate::xmlrpc::encode_response(&result) {
            let again = crate::xmlrpc::decode_response(text.as_bytes());
            assert!(again.is_ok());
        }
        // Read as a multicall's answer too: results or a typed error.
        if let Ok(value) = result {
            let _ = crate::xmlrpc::decode_multicall(value, 2);
        }
    }
}

/// Decodes `data` as HTTP request heads and routes each as the page and
/// WebSocket server does (page, upgrade or an error status).
pub fn ws_upgrade(data: &[u8]) {
    let mut decoder = crate::http1::RequestDecoder::default();
    decoder.feed(data);
    while let Ok(Some(req)) = decoder.next_request() {
        match crate::ws::route(&req) {
            crate::ws::Route::Upgrade(answer) => assert!(answer.starts_with(b"HTTP/1.1 101 ")),
            crate::ws::Route::Http(resp) => assert!(resp.status.0 >= 200),
        }
    }
}

/// Answers `data` (as lossy UTF-8) with the sum protocol, reads it as a
/// client reads a server's message, and feeds it as WebSocket frames to an
/// upgraded server connection in each mode.
pub fn ws_message(data: &[u8], now: Instant) {
    let text = String::from_utf8_lossy(data);
    let reply = crate::ws::answer(&text);
    assert!(!reply.is_empty());
    let _ = crate::ws::ServerMessage::parse(&text);
    for mode in [
        crate::ws::WsMode::Sum,
        crate::ws::WsMode::Hello,
        crate::ws::WsMode::Push,
    ] {
        let mut server = ServicePump::new(crate::ws::WsServer::with_mode(mode), now);
        server.connect(1);
        server.send(
            1,
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        );
        server.send(1, data);
        server.service.push(now, "fuzz");
        server.pump();
    }
}

/// Routes `data` (as lossy UTF-8) as a request path of the REST calc server.
pub fn calc_route(data: &[u8]) {
    let path = String::from_utf8_lossy(data);
    let resp = crate::calc::CalcHandler::new("/api").route(&path);
    assert!([200, 400, 404].contains(&resp.status.0));
}

/// Parses `data` as a REST calc answer with the status its first bytes name.
pub fn calc_response(data: &[u8]) {
    let Some((&[hi, lo], body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = u16::from_be_bytes([hi, lo]) % 600;
    if let Ok(answer) = crate::calc::parse_answer(status, body) {
        assert_eq!(status, 200);
        let _ = answer.python_dict();
    }
}

/// Feeds `data` to a [`FrameDecoder`](crate::filexfer::FrameDecoder), to a
/// logged-out server connection and to a client session.
pub fn filexfer_frames(data: &[u8], now: Instant) {
    use crate::Session as _;
    let mut decoder = crate::filexfer::FrameDecoder::new();
    decoder.feed(data);
    while let Ok(Some(frame)) = decoder.next_frame() {
        let mut out = Vec::new();
        frame.encode(&mut out);
    }
    let mut server = crate::filexfer::FtServer::default();
    let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
    server.handle_connect(now, ConnId(1), peer);
    server.handle_input(now, ConnId(1), data);
    while let Some(event) = server.poll_event() {
        if let crate::filexfer::FtEvent::Login { conn, .. } = event {
            server.login_result(conn, true);
        }
    }
    let mut client = crate::filexfer::FtClient::new(crate::filexfer::DigestAlg::Blake3);
    client.handle_input(now, data);
    while client.poll_event().is_some() {}
}

/// Feeds `data` to the wire trace of every protocol, both ways and on both
/// sides, cut where a 0xFF byte is: entries or nothing, never a panic.
pub fn trace(data: &[u8], now: Instant) {
    use crate::trace::{Side, Tracer, Wire};
    for wire in [
        Wire::Lines,
        Wire::Http,
        Wire::FileTransfer { data: true },
        Wire::Raw,
    ] {
        for side in [Side::Server, Side::Client] {
            let mut t = Tracer::new(wire, side, now, Box::new(|_| {}));
            for (i, chunk) in data.split(|&b| b == 0xFF).enumerate() {
                if i % 2 == 0 {
                    t.received(now, Some(ConnId(1)), chunk);
                } else {
                    t.sent(now, Some(ConnId(1)), chunk);
                }
            }
            t.closed(now, Some(ConnId(1)));
        }
    }
}

/// A fixed certificate and key for `localhost` (made once with openssl,
/// valid to 2126; for fuzzing only: the key is public).
const FUZZ_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBlTCCATugAwIBAgIUJ4G0n1cIU2vVC8EHaM2UasMcuFgwCgYIKoZIzj0EAwIw\nFDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMTIzMjA0NFoYDzIxMjYxMTA3\nMjMyMDQ0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\nPQMBBwNCAATlTSt4Q1fCpe7bYK5lwIjIZdR0DjjWGtIVDkTxz3F0Y6LgOd6MfaNJ\nSGRMZzXhwQCczjbKrHQJFJWyYK592Vqyo2kwZzAdBgNVHQ4EFgQUkV7P265kqxjc\nywi7LuV8HhyqDDYwHwYDVR0jBBgwFoAUkV7P265kqxjcywi7LuV8HhyqDDYwDwYD\nVR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID\nSAAwRQIhAN4qSrv5aRg2RFUN46x09hNjHv454KT9KdtY12TmwqdpAiAQbVNb9nCb\nVdUG6tkX1LhdY5cA1kEKdhJ32xbFF5jD9g==\n-----END CERTIFICATE-----\n";
const FUZZ_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPDAlWsnG8R3EeFir\ngQpJ4RIsm4NwjjE8fRqHnYETaquhRANCAATlTSt4Q1fCpe7bYK5lwIjIZdR0DjjW\nGtIVDkTxz3F0Y6LgOd6MfaNJSGRMZzXhwQCczjbKrHQJFJWyYK592Vqy\n-----END PRIVATE KEY-----\n";

/// Feeds `data` to a [`TlsService`](crate::tls::TlsService) around a room
/// chat, as the ciphertext of three connections (chunks split on 0xFF,
/// the first byte of each picking the connection, EOF, loss or time):
/// never a panic, never plaintext reaching the chat without a handshake,
/// every connection accounted for.
pub fn tls_service(data: &[u8], now: Instant) {
    use crate::tls::{
        server_config, CertificateDer, PrivateKeyDer, TlsClock, TlsEvent, TlsService,
    };
    use rustls::pki_types::pem::PemObject;
    static CONFIG: std::sync::OnceLock<Option<std::sync::Arc<rustls::ServerConfig>>> =
        std::sync::OnceLock::new();
    let clock = TlsClock::new(now, Duration::from_secs(1_796_083_200));
    let config = CONFIG.get_or_init(|| {
        let cert = CertificateDer::from_pem_slice(FUZZ_CERT.as_bytes()).ok()?;
        let key = PrivateKeyDer::from_pem_slice(FUZZ_KEY.as_bytes()).ok()?;
        server_config(vec![cert], key, &clock).ok()
    });
    let Some(config) = config else {
        panic!("the fuzzing certificate does not load");
    };
    let mut cfg = ChatConfig::new(ChatMode::Room);
    cfg.max_line = 64;
    let service = TlsService::new(ChatServer::new(cfg), config.clone(), clock);
    let mut pump = ServicePump::new(service, now).with_max_transmit(4096);
    for id in 0..3 {
        pump.connect(id);
    }
    for chunk in data.split(|&b| b == 0xFF) {
        let Some((&who, bytes)) = chunk.split_first() else {
            continue;
        };
        let id = u64::from(who % 3);
        match who / 3 % 8 {
            5 => pump.eof(id),
            6 => pump.lose(id, "reset"),
            7 => pump.advance(Duration::from_secs(u64::from(who))),
            _ => pump.send(id, bytes),
        }
    }
    pump.shutdown();
    pump.advance(Duration::from_secs(60));
    for event in pump.take_events() {
        assert!(
            !matches!(event, TlsEvent::Inner(_)),
            "the chat saw a connection that never finished a handshake"
        );
    }
    assert_eq!(pump.service.connections(), 0, "every connection ended");
}

/// Feeds `data` to a NATS [`OpDecoder`](crate::nats::OpDecoder), split at
/// a point the first byte picks, and to a [`NatsClient`](crate::nats::NatsClient)
/// after a valid `INFO` and `PONG`: ops or a typed error, never a panic,
/// the decoder's buffer bounded.
pub fn nats_ops(data: &[u8], now: Instant) {
    use crate::nats::{NatsClient, OpDecoder, MAX_CONTROL_LINE};
    use crate::Session;
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(rest.len());
    let mut decoder = OpDecoder::new();
    'feed: for part in [&rest[..cut], &rest[cut..]] {
        decoder.feed(part);
        loop {
            match decoder.next_op() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
        assert!(
            decoder.pending()
                <= MAX_CONTROL_LINE + 2 + crate::nats::DEFAULT_MAX_PAYLOAD + part.len()
        );
    }
    let mut client = NatsClient::new("fuzz", now);
    client.handle_input(
        now,
        b"INFO {\"server_id\":\"F\",\"max_payload\":4096}\r\nPONG\r\n",
    );
    let _ = client.subscribe("commlab.room.fuzz");
    client.handle_input(now, rest);
    client.handle_timeout(now + Duration::from_secs(30));
    let mut out = Vec::new();
    client.poll_transmit(&mut out);
    while client.poll_event().is_some() {}
}

/// Feeds `data` to a federated chat room behind its broker link, as the
/// broker's bytes on the link (split at a point the first byte picks)
/// and, wrapped in a `MSG` on the room's subject, as another server's
/// envelope: never a panic, the local room still answering.
pub fn room_link(data: &[u8], now: Instant) {
    use crate::chat::FederationConfig;
    use crate::nats::BrokerLink;
    use crate::testing::ServicePump;
    use crate::{ChatConfig, ChatMode, ChatServer, ConnId};
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let fed = FederationConfig {
        room: "fuzz".into(),
        server: "a".into(),
        run: 1,
    };
    let Ok(chat) = ChatServer::federated(ChatConfig::new(ChatMode::Room), &fed) else {
        return;
    };
    let addr = crate::testing::peer(9);
    let mut pump = ServicePump::new(BrokerLink::new(chat, vec![addr], "fuzz"), now);
    let Some(dial) = pump.service.poll_dial() else {
        return;
    };
    pump.service
        .handle_dialed(now, dial.token, ConnId(100), addr);
    pump.connect(1);
    pump.send(
        100,
        b"INFO {\"server_id\":\"F\",\"max_payload\":65536}\r\nPONG\r\n",
    );
    let mut msg = format!("MSG commlab.room.fuzz 1 {}\r\n", rest.len()).into_bytes();
    msg.extend_from_slice(rest);
    msg.extend_from_slice(b"\r\n");
    pump.send(100, &msg);
    let cut = usize::from(split).min(rest.len());
    pump.send(100, &rest[..cut]);
    pump.send(100, &rest[cut..]);
    pump.advance(Duration::from_secs(40));
    pump.take_all();
    pump.send(1, b"/who\n");
    pump.advance(Duration::from_secs(2));
    assert!(
        pump.take_text(1).contains(" online: "),
        "the local room stopped answering"
    );
}

/// Feeds `data` to the Lambda runtime as an event for the REST calc:
/// a proxy answer (JSON) or a typed error, never a panic.
pub fn lambda_event(data: &[u8]) {
    let mut handler = crate::calc::CalcHandler::new("/api");
    if let Ok((_, answer)) = crate::lambda::serve_event(&mut handler, "/api", data) {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&answer).is_ok(),
            "the answer is JSON"
        );
    }
}
