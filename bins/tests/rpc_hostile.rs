//! Bad input over real sockets on both engines: each gets its documented
//! status or fault, the server keeps serving others, memory stays bounded.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

use commlab::rpc::RpcClient;
use commlab::{Engine, Server};
use commlab_core::xmlrpc::{decode_response, RpcServer, Value, INVALID_REQUEST, PARSE_ERROR};
use common::*;

fn start(engine: Engine, loops: usize) -> Server<RpcServer> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    commlab::rpc::start_loops(engine, listener, loops, |_| {}).unwrap()
}

/// Sends `bytes` (then half-closes when `finish`), reads the whole answer.
fn exchange(addr: SocketAddr, bytes: &[u8], finish: bool) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let _ = s.write_all(bytes);
    if finish {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, out[split + 4..].to_vec())
}

fn post(body: &str) -> Vec<u8> {
    format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn fault_code(addr: SocketAddr, body: &str) -> i32 {
    let (status, _, resp) = exchange(addr, &post(body), false);
    assert_eq!(status, 200);
    decode_response(&resp).unwrap().unwrap_err().code
}

fn nested(depth: usize) -> String {
    format!(
        "<methodCall><methodName>echo</methodName><params><param>{}<value><int>7</int></value>{}</param></params></methodCall>",
        "<value><array><data>".repeat(depth),
        "</data></array></value>".repeat(depth)
    )
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

#[test]
fn bad_requests_get_their_status_and_the_server_keeps_serving() {
    for (engine, loops) in SETUPS {
        let server = start(engine, loops);
        let addr = server.local_addr();

        let (status, _, body) = exchange(
            addr,
            b"POST /RPC2 HTTP/1.1\r\nContent-Length: 100\r\n\r\n<methodCall>",
            true,
        );
        assert_eq!(status, 400, "engine {engine}");
        assert!(String::from_utf8_lossy(&body).contains("closed in the middle of a request"));

        let (status, _, _) = exchange(
            addr,
            b"POST /RPC2 HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n",
            false,
        );
        assert_eq!(status, 413, "a 100 MB body is refused from its head");

        let (status, head, _) = exchange(
            addr,
            b"GET /RPC2 HTTP/1.1\r\nConnection: close\r\n\r\n",
            false,
        );
        assert_eq!(status, 405);
        assert!(head.contains("\r\nAllow: POST"), "{head}");
        let (status, _, _) = exchange(
            addr,
            b"POST /elsewhere HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(status, 404);
        let (status, _, _) = exchange(addr, b"POST /RPC2 HTTP/1.1\r\n\r\n", false);
        assert_eq!(status, 411);
        let (status, _, _) = exchange(addr, b"\x16\x03\x01 not http at all\r\n\r\n", false);
        assert_eq!(status, 400);

        assert_eq!(fault_code(addr, "this is not XML"), INVALID_REQUEST);
        assert_eq!(
            fault_code(addr, "<methodCall><methodName>add</method"),
            PARSE_ERROR
        );
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><methodCall><methodName>&b;</methodName></methodCall>"#;
        assert_eq!(fault_code(addr, bomb), PARSE_ERROR);
        assert_eq!(fault_code(addr, &nested(10_000)), INVALID_REQUEST);

        let (status, _, resp) = exchange(addr, &post(&nested(64)), false);
        assert_eq!(status, 200);
        let mut v = decode_response(&resp).unwrap().unwrap();
        for _ in 0..64 {
            let Value::Array(mut inner) = v else {
                panic!("not an array")
            };
            v = inner.remove(0);
        }
        assert_eq!(v, Value::Int(7));

        let mut client = RpcClient::new(&format!("http://{addr}/RPC2"), false).unwrap();
        assert_eq!(
            client.call("add", &[Value::Int(2), Value::Int(3)]).unwrap(),
            Ok(Value::Int(5))
        );
        server.shutdown();
    }
}

#[test]
fn a_100_mb_chunked_upload_is_cut_off_and_memory_stays_bounded() {
    for (engine, loops) in SETUPS {
        let server = start(engine, loops);
        let addr = server.local_addr();
        let before = rss_kib();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.write_all(b"POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        let chunk = vec![b'<'; 1 << 20];
        let mut sent = 0;
        for _ in 0..100 {
            let mut piece = format!("{:x}\r\n", chunk.len()).into_bytes();
            piece.extend_from_slice(&chunk);
            piece.extend_from_slice(b"\r\n");
            if s.write_all(&piece).is_err() {
                break;
            }
            sent += 1;
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let head = String::from_utf8_lossy(&out);
        assert!(head.starts_with("HTTP/1.1 413 "), "engine {engine}: {head}");
        assert!(sent < 100, "the server stopped reading long before 100 MB");
        let grown = rss_kib().saturating_sub(before);
        assert!(
            grown < 64 * 1024,
            "engine {engine}: memory grew by {grown} KiB"
        );
        // And it still serves.
        let mut client = RpcClient::new(&format!("http://{addr}/RPC2"), false).unwrap();
        assert_eq!(
            client.call("sub", &[Value::Int(2), Value::Int(3)]).unwrap(),
            Ok(Value::Int(-1))
        );
        server.shutdown();
    }
}

#[test]
fn http_1_0_pipelining_and_100_continue_over_a_socket() {
    for (engine, loops) in SETUPS {
        let server = start(engine, loops);
        let addr = server.local_addr();
        let call =
            commlab_core::xmlrpc::encode_call("add", &[Value::Int(1), Value::Int(2)]).unwrap();

        // HTTP/1.0: answered, then closed without being asked.
        let req = format!(
            "POST /RPC2 HTTP/1.0\r\nContent-Length: {}\r\n\r\n{call}",
            call.len()
        );
        let (status, head, body) = exchange(addr, req.as_bytes(), false);
        assert_eq!(status, 200, "engine {engine}");
        assert!(head.contains("Connection: close"));
        assert_eq!(decode_response(&body).unwrap(), Ok(Value::Int(3)));

        // Two pipelined requests in one write: two answers, in order.
        let one = |m: &str, close: bool| {
            let c = commlab_core::xmlrpc::encode_call(m, &[Value::Int(6), Value::Int(3)]).unwrap();
            let conn = if close { "Connection: close\r\n" } else { "" };
            format!(
                "POST /RPC2 HTTP/1.1\r\n{conn}Content-Length: {}\r\n\r\n{c}",
                c.len()
            )
        };
        let both = format!("{}{}", one("sub", false), one("div", true));
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.write_all(both.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let first = out.find("<int>3</int>").expect("sub answered");
        let second = out.find("<double>2.0</double>").expect("div answered");
        assert!(first < second, "answers in request order");

        // Expect: 100-continue gets its interim answer before the body.
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let head = format!(
            "POST /RPC2 HTTP/1.1\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            call.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut interim = [0u8; 25];
        s.read_exact(&mut interim).unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        s.write_all(call.as_bytes()).unwrap();
        let mut rest = String::new();
        s.read_to_string(&mut rest).unwrap();
        assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
        server.shutdown();
    }
}
