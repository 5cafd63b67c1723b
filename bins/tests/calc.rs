//! Exercise 6 over loopback on both engines: the class's interactive client
//! transcript, one-shot calls, and every error path.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Stdio;

use commlab::{Engine, Server};
use commlab_core::calc::CalcServer;
use common::*;

fn start(engine: Engine, loops: usize) -> (Server<CalcServer>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = commlab::calc::start_loops(engine, listener, loops, "/api", |_| {}).unwrap();
    let url = format!("http://{}/api", server.local_addr());
    (server, url)
}

fn client(url: &str, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let mut all = vec!["calc", "client", "--base-url", url];
    all.extend_from_slice(args);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_commlab"))
        .args(&all)
        .env_remove("COMMLAB_CALC_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_interactive_client_prints_the_class_transcript_on_both_engines() {
    for (engine, loops) in SETUPS {
        let (server, url) = start(engine, loops);
        let (code, out, err) = client(&url, &[], "mult\n8\n5\n");
        assert_eq!(code, Some(0), "{err}");
        // What the class's Python client prints with the same piped input
        // (input() echoes nothing when stdin is not a terminal).
        assert_eq!(
            out,
            "Informe a operação: [soma] [sub] [div] [mult]operação: mult\nInforme o valor 1: Informe o valor 2: {'A multiplicação': 40}\nFim...\n",
            "engine {engine}"
        );
        server.shutdown();
    }
}

#[test]
fn one_shot_calls_for_all_four_operations() {
    for (engine, loops) in SETUPS {
        let (server, url) = start(engine, loops);
        let cases = [
            ("soma", "{'A soma: ': 9}"),
            ("sub", "{'A subtração:': -1}"),
            ("mult", "{'A multiplicação': 20}"),
            ("div", "{'A Divisão': 0.8}"),
        ];
        for (op, want) in cases {
            let (code, out, err) = client(&url, &[op, "4", "5"], "");
            assert_eq!(code, Some(0), "{err}");
            assert_eq!(out.trim(), want, "engine {engine}");
        }
        let (_, out, _) = client(&url, &["--json", "sub", "4", "5"], "");
        assert_eq!(out.trim(), r#"{"A subtra\u00e7\u00e3o:":-1}"#);
        let (_, out, _) = client(&url, &["--value", "div", "15", "10"], "");
        assert_eq!(out.trim(), "1.5");
        let (_, out, _) = client(&url, &["soma", " +5 ", "-0"], "");
        assert_eq!(out.trim(), "{'A soma: ': 5}");
        server.shutdown();
    }
}

#[test]
fn every_error_gets_one_line_and_a_non_zero_exit() {
    let (server, url) = start(Engine::Mio, 1);
    let (code, _, err) = client(&url, &["div", "1", "0"], "");
    assert_eq!(code, Some(1));
    assert!(err.contains("HTTP 400: division by zero"), "{err}");
    let (code, _, err) = client(&url, &["soma", "abc", "1"], "");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("invalid literal for int() with base 10: \"abc\""),
        "{err}"
    );
    let (code, _, err) = client(&url, &["pot", "1", "2"], "");
    assert_eq!(code, Some(1));
    assert!(err.contains("unknown operation \"pot\""), "{err}");
    let (code, _, err) = client(&url, &["mult", "9223372036854775807", "2"], "");
    assert_eq!(code, Some(1));
    assert!(err.contains("does not fit in a 64-bit integer"), "{err}");
    server.shutdown();

    // A server that is down.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = client(
        &format!("http://127.0.0.1:{port}/api"),
        &["soma", "1", "2"],
        "",
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot reach"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // A server that answers 500 with a body that is not JSON.
    let broken = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api", broken.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        let (mut s, _) = broken.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        s.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 21\r\nConnection: close\r\n\r\nInternal Server Error").unwrap();
    });
    let (code, _, err) = client(&url, &["soma", "1", "2"], "");
    t.join().unwrap();
    assert_eq!(code, Some(1));
    assert!(err.contains("HTTP 500: Internal Server Error"), "{err}");
}
