//! The WebSocket exercise over loopback on both engines (and on three
//! event loops of the mio one), with tungstenite's client and raw sockets
//! for what a well-behaved client cannot send.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};

use commlab::ws::{hello, sum, WsClient};
use commlab::{Engine, Server};
use commlab_core::ws::{WsMode, WsServer};
use common::*;

fn start(engine: Engine, loops: usize) -> Server<WsServer> {
    start_mode(engine, loops, WsMode::Sum)
}

fn start_mode(engine: Engine, loops: usize, mode: WsMode) -> Server<WsServer> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    commlab::ws::start_loops(engine, listener, loops, mode, |_| {}).unwrap()
}

/// A console push as the command makes it: to the pages of every loop.
fn push(server: &Server<WsServer>, text: &'static str) -> usize {
    server
        .command_all(move |s, now| s.push(now, text))
        .unwrap()
        .iter()
        .sum()
}

fn url(server: &Server<WsServer>) -> String {
    format!("ws://{}/", server.local_addr())
}

/// A raw WebSocket: the handshake by hand, frames by hand.
fn raw_socket(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    s
}

/// A masked client text frame header for `len` payload bytes (mask 0).
fn text_frame_head(len: usize) -> Vec<u8> {
    let mut f = vec![0x81];
    if len < 126 {
        f.push(0x80 | u8::try_from(len).unwrap());
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f
}

/// Reads frames until a close frame; returns its code.
fn close_code(s: &mut TcpStream) -> u16 {
    loop {
        let mut head = [0u8; 2];
        s.read_exact(&mut head).unwrap();
        let mut len = usize::from(head[1] & 0x7f);
        if len == 126 {
            let mut ext = [0u8; 2];
            s.read_exact(&mut ext).unwrap();
            len = usize::from(u16::from_be_bytes(ext));
        }
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).unwrap();
        if head[0] & 0x0f == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[test]
fn sums_hello_and_a_console_push_on_both_engines() {
    for (engine, loops) in SETUPS {
        let server = start(engine, loops);
        let mut c = WsClient::connect(&url(&server)).unwrap();
        assert_eq!(sum(&mut c, "3", "4.5").unwrap(), "7.5");
        assert_eq!(
            sum(&mut c, "-9223372036854775808", "9223372036854775807").unwrap(),
            "-1"
        );
        assert!(sum(&mut c, "9223372036854775807", "1")
            .unwrap_err()
            .to_string()
            .contains("does not fit"));
        c.send(r#"{"op":"hello","name":"Marcos"}"#).unwrap();
        assert_eq!(
            c.recv().unwrap().as_deref(),
            Some(r#"{"op":"hello","greeting":"Ola Marcos!"}"#)
        );
        c.send(r#"{"a":20,"b":"5"}"#).unwrap();
        assert_eq!(
            c.recv().unwrap().as_deref(),
            Some(r#"{"op":"sum","a":20,"b":5,"sum":25}"#)
        );
        c.send("3 4").unwrap();
        assert_eq!(c.recv().unwrap().as_deref(), Some("7"));
        let n = push(&server, "Olá, turma");
        assert_eq!(n, 1, "engine {engine}");
        assert_eq!(
            c.recv().unwrap().as_deref(),
            Some(r#"{"op":"push","text":"Olá, turma"}"#)
        );
        c.close();
        server.shutdown();
    }
}

#[test]
fn an_upgrade_is_accepted_on_any_path_on_both_engines() {
    for (engine, loops) in SETUPS {
        let server = start(engine, loops);
        for path in ["/", "/ws", "/qualquer/caminho?x=1"] {
            let mut c = WsClient::connect(&format!("ws://{}{path}", server.local_addr()))
                .unwrap_or_else(|e| panic!("engine {engine}, path {path}: {e:#}"));
            assert_eq!(sum(&mut c, "1", "2").unwrap(), "3", "{path}");
            c.close();
        }
        server.shutdown();
    }
}

#[test]
fn binary_messages_holding_text_are_read_as_text_on_both_engines() {
    for (engine, loops) in SETUPS {
        let server = start(engine, loops);
        let mut s = raw_socket(server.local_addr());
        let payload = br#"{"a":1,"b":2}"#;
        let mut frame = text_frame_head(payload.len());
        frame[0] = 0x82; // FIN + binary
        frame.extend_from_slice(payload);
        s.write_all(&frame).unwrap();
        let mut head = [0u8; 2];
        s.read_exact(&mut head).unwrap();
        assert_eq!(head[0], 0x81, "engine {engine}: a text reply");
        let mut reply = vec![0u8; usize::from(head[1] & 0x7f)];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(reply, br#"{"op":"sum","a":1,"b":2,"sum":3}"#);
        server.shutdown();
    }
}

#[test]
fn hello_and_push_modes_speak_plain_text_as_the_class_examples() {
    for (engine, loops) in SETUPS {
        let server = start_mode(engine, loops, WsMode::Hello);
        let mut c = WsClient::connect(&url(&server)).unwrap();
        assert_eq!(hello(&mut c, "Marcos").unwrap(), "Ola Marcos!");
        assert_eq!(hello(&mut c, "3 4").unwrap(), "Ola 3 4!", "engine {engine}");
        c.close();
        server.shutdown();

        let server = start_mode(engine, loops, WsMode::Push);
        let mut a = WsClient::connect(&url(&server)).unwrap();
        let mut b = WsClient::connect(&url(&server)).unwrap();
        a.send("ignored").unwrap();
        let n = push(&server, "Bom dia");
        assert_eq!(n, 2, "engine {engine}");
        // Push mode answers nothing: the first message each gets is the push.
        assert_eq!(a.recv().unwrap().as_deref(), Some("Bom dia"));
        assert_eq!(b.recv().unwrap().as_deref(), Some("Bom dia"));
        a.close();
        b.close();
        server.shutdown();
    }
}

#[test]
fn three_hundred_clients_each_do_twenty_sums_on_both_engines() {
    for (engine, loops) in SETUPS {
        let server = start(engine, loops);
        let url = url(&server);
        let barrier = Arc::new(Barrier::new(300));
        let threads: Vec<_> = (0..300i64)
            .map(|i| {
                let url = url.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let mut c = WsClient::connect(&url).unwrap();
                    barrier.wait();
                    for k in 0..20i64 {
                        let got =
                            sum(&mut c, &(i * 1_000_000_007).to_string(), &k.to_string()).unwrap();
                        assert_eq!(got, (i * 1_000_000_007 + k).to_string());
                    }
                    c.close();
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a client failed");
        }
        server.shutdown();
    }
}

#[test]
fn bad_frames_close_only_their_own_connection_on_both_engines() {
    for (engine, loops) in SETUPS {
        let server = start(engine, loops);
        let addr = server.local_addr();
        let mut good = WsClient::connect(&url(&server)).unwrap();

        // A 70 KiB text message: close 1009.
        let mut big = raw_socket(addr);
        let payload = vec![b'x'; 70 * 1024];
        let mut frame = vec![0x81, 0x80 | 127];
        frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(&payload);
        let _ = big.write_all(&frame);
        assert_eq!(close_code(&mut big), 1009, "engine {engine}");

        // Text that is not UTF-8: close 1007.
        let mut bad = raw_socket(addr);
        let mut frame = text_frame_head(2);
        frame.extend_from_slice(&[0xff, 0xfe]);
        bad.write_all(&frame).unwrap();
        assert_eq!(close_code(&mut bad), 1007, "engine {engine}");

        // A client that vanishes in the middle of a frame.
        let mut gone = raw_socket(addr);
        let mut frame = text_frame_head(100);
        frame.extend_from_slice(b"{\"op\":\"sum\"");
        gone.write_all(&frame).unwrap();
        drop(gone);

        // The others are unaffected.
        assert_eq!(sum(&mut good, "1", "2").unwrap(), "3");
        good.close();
        server.shutdown();
    }
}

#[test]
fn the_page_and_bad_upgrades_over_http() {
    for (engine, loops) in SETUPS {
        let server = start(engine, loops);
        let addr = server.local_addr();
        let ask = |req: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        };
        let page = ask("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "engine {engine}");
        assert!(page.contains("text/html") && page.contains(">Somar</button>"));
        assert!(ask("GET /ws HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 426 "));
        assert!(ask("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .starts_with("HTTP/1.1 400 "));
        assert!(ask("GET /x HTTP/1.1\r\nConnection: close\r\n\r\n").starts_with("HTTP/1.1 404 "));
        // Bad upgrades keep their answers on any path.
        assert!(ask("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .starts_with("HTTP/1.1 400 "));
        assert!(ask("GET /x HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            .starts_with("HTTP/1.1 426 "));
        assert!(
            ask("POST / HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .starts_with("HTTP/1.1 405 ")
        );
        server.shutdown();
    }
}
