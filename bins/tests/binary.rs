//! The `commlab` binary run as a process, as students run it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Command;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use commlab::Engine;
use commlab_core::chat::ChatMode;
use common::*;

/// Lines of a child's pipe, read on a thread.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn wait_line(rx: &Receiver<String>, pred: impl Fn(&str) -> bool) -> String {
    loop {
        let line = rx
            .recv_timeout(TIMEOUT)
            .expect("timed out waiting for output");
        if pred(&line) {
            return line;
        }
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "stops or kills the server with the kill command (SIGINT, SIGKILL), which Windows has not; scripts/windows/run checks Ctrl-C on every server under Wine"
)]
fn chat_server_prints_listening_serves_and_stops_cleanly_on_ctrl_c() {
    for engine in ["std", "mio"] {
        let (mut child, addr, out) =
            spawn_server(&["chat", "server", "--mode", "echo", "--engine", engine]);
        assert!(addr.ip().is_loopback());
        let out = lines_of(out);
        let err = lines_of(child.stderr.take().unwrap());
        let mut c = LineConn::connect(addr);
        c.send("oi");
        c.expect("Eco=>oi");
        wait_line(&out, |l| {
            l.starts_with("Server conectado por ('127.0.0.1', ")
        });
        assert_eq!(
            wait_line(&out, |l| l.starts_with("Cliente")),
            "Cliente enviou: oi"
        );
        signal(&child, "INT");
        c.expect("* server shutting down");
        c.expect_eof();
        let status = child.wait().unwrap();
        assert!(status.success(), "engine {engine}: {status}");
        wait_line(&err, |l| l.contains("server stopped"));
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "stops or kills the server with the kill command (SIGINT, SIGKILL), which Windows has not; scripts/windows/run checks Ctrl-C on every server under Wine"
)]
fn the_operator_types_at_the_server_console_after_the_client_speaks() {
    let (mut child, addr, out) = spawn_server(&["chat", "server", "--engine", "mio"]);
    let out = lines_of(out);
    let err = lines_of(child.stderr.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    let mut c = LineConn::connect(addr);
    wait_line(&out, |l| l.starts_with("Server conectado por"));
    stdin.write_all("cedo demais\n".as_bytes()).unwrap();
    wait_line(&err, |l| {
        l == "error: the client speaks first: wait for its first message"
    });
    c.send("Olá, servidor");
    wait_line(&out, |l| l == "Cliente enviou: Olá, servidor");
    stdin.write_all("Olá, cliente\n".as_bytes()).unwrap();
    c.expect("Olá, cliente");
    signal(&child, "INT");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_raw_socket_and_the_commlab_client_get_the_same_answers() {
    for engine in [Engine::Std, Engine::Mio] {
        let (server, _events) = start_mode(engine, ChatMode::Echo);
        let addr = server.local_addr();
        let lines = ["um", "dois com espaço", "três"];

        let mut raw = LineConn::connect(addr);
        let mut raw_answers = Vec::new();
        for l in lines {
            raw.send(l);
            raw_answers.push(raw.recv().unwrap());
        }

        let port = addr.port().to_string();
        let mut client = commlab(&["chat", "client", "--port", &port]);
        let mut stdin = client.stdin.take().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
        drop(stdin);
        let output = client.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{:?}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.starts_with("Digite uma mensagem\n"), "{stdout}");
        let client_answers: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("Server recebeu: "))
            .collect();
        assert_eq!(client_answers, raw_answers, "engine {engine}");
        assert_eq!(
            raw_answers,
            ["Eco=>um", "Eco=>dois com espaço", "Eco=>três"]
        );
        server.shutdown();
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "stops or kills the server with the kill command (SIGINT, SIGKILL), which Windows has not; scripts/windows/run checks Ctrl-C on every server under Wine"
)]
fn the_client_reports_a_vanished_server_and_exits() {
    let (mut server, addr, _out) = spawn_server(&["chat", "server", "--mode", "echo"]);
    let mut client = commlab(&["chat", "client", "--port", &addr.port().to_string()]);
    let out = lines_of(client.stdout.take().unwrap());
    let err = lines_of(client.stderr.take().unwrap());
    let mut stdin = client.stdin.take().unwrap();
    writeln!(stdin, "antes").unwrap();
    wait_line(&out, |l| l == "Server recebeu: Eco=>antes");
    signal(&server, "KILL");
    let _ = server.wait();
    wait_line(&err, |l| l.contains("the server closed the connection"));
    let status = client.wait().unwrap();
    assert!(status.success(), "{status}");
    drop(stdin);
}

#[test]
fn the_client_says_clearly_when_nobody_listens() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let output = commlab(&["chat", "client", "--port", &port.to_string()])
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("is the server running?"), "{stderr}");
}

#[test]
fn a_busy_port_gets_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = commlab(&["chat", "server", "--port", &port])
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn help_explains_the_modes_and_engines() {
    let out = Command::new(env!("CARGO_BIN_EXE_commlab"))
        .args(["chat", "server", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for word in [
        "--engine",
        "--mode",
        "room",
        "echo",
        "Eco=>",
        "50009",
        "nc 127.0.0.1",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
}

#[test]
fn every_server_shows_its_class_address_and_port() {
    for (command, host, port) in [
        ("chat", "127.0.0.1", commlab::chat::PORT),
        ("rpc", "localhost", commlab::rpc::PORT),
        ("calc", "127.0.0.1", commlab::calc::PORT),
        ("ft", "127.0.0.1", commlab::ft::PORT),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_commlab"))
            .args([command, "server", "--help"])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        for want in [format!("[default: {host}]"), format!("[default: {port}]")] {
            assert!(
                text.contains(&want),
                "{command} server --help lacks {want}:\n{text}"
            );
        }
        assert!(
            text.contains("--engine") && text.contains("--quiet"),
            "{command}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_commlab"))
        .args(["ws", "server", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("8765 in hello mode, else 5678"), "{text}");
}

#[test]
fn tour_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_commlab"))
        .args(["tour", "--quiet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("tour: all "), "{stdout}");
    assert!(stdout.contains("[engine std]") && stdout.contains("[engine mio]"));
}

#[test]
fn tour_trace_shows_the_wire_of_every_exercise() {
    let out = Command::new(env!("CARGO_BIN_EXE_commlab"))
        .args(["tour", "--trace", "--engine", "mio"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for unit in [
        "wire   [+",
        "#1 < Olá, servidor\\n",
        "< POST /RPC2 HTTP/1.1",
        "<methodName>",
        "> HTTP/1.1 101 Switching Protocols",
        "< FIN text masked",
        "< LOGIN user: aluno, password: ***",
        "> DATA 65536 bytes",
        "< GET /api/soma/4/5 HTTP/1.1",
        "= TLS handshake done: TLS 1.3",
        "= TLS failed: the peer refused the handshake",
    ] {
        assert!(
            stdout.contains(unit),
            "the tour's trace lacks {unit:?}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("senha"), "no password in the trace");
}

#[test]
#[cfg_attr(
    windows,
    ignore = "limits descriptors with prlimit, a Linux program; Windows has no per-process socket limit"
)]
fn servers_keep_accepting_after_running_out_of_file_descriptors() {
    for engine in ["std", "mio"] {
        // 64 descriptors: the server runs out while the clients pile up.
        let mut child = Command::new("prlimit")
            .args(["--nofile=64:64", "--", env!("CARGO_BIN_EXE_commlab")])
            .args([
                "chat", "server", "--mode", "echo", "--port", "0", "--engine", engine,
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let addr: std::net::SocketAddr = first.trim_end()["listening on ".len()..].parse().unwrap();
        let err = lines_of(child.stderr.take().unwrap());
        let many: Vec<LineConn> = (0..100).map(|_| LineConn::connect(addr)).collect();
        // Either accept itself fails, or the descriptors a new connection
        // needs (std clones its socket) cannot be had.
        wait_line(&err, |l| {
            l.contains("accept failed") || l.contains("could not start a connection")
        });
        drop(many);
        // Once descriptors are free again, a new client is served.
        std::thread::sleep(Duration::from_millis(300));
        let mut c = LineConn::connect(addr);
        c.send("ainda aqui");
        assert_eq!(
            c.recv().as_deref(),
            Some("Eco=>ainda aqui"),
            "engine {engine}"
        );
        signal(&child, "INT");
        assert!(child.wait().unwrap().success(), "engine {engine}");
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "stops or kills the server with the kill command (SIGINT, SIGKILL), which Windows has not; scripts/windows/run checks Ctrl-C on every server under Wine"
)]
fn quiet_servers_log_problems_but_not_every_request() {
    for quiet in [false, true] {
        let mut args = vec!["rpc", "server", "--host", "127.0.0.1", "--engine", "mio"];
        if quiet {
            args.push("--quiet");
        }
        let (mut child, addr, _out) = spawn_server(&args);
        let url = format!("http://{addr}/RPC2");
        let call = commlab(&["rpc", "call", "--url", &url, "add", "2", "3"])
            .wait_with_output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&call.stdout).trim(), "5");
        let mut raw = std::net::TcpStream::connect(addr).unwrap();
        raw.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = raw.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        signal(&child, "INT");
        child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(
            err.contains("code 400"),
            "problems are always logged: {err}"
        );
        assert_eq!(
            err.contains("\"POST /RPC2 HTTP/1.1\" 200"),
            !quiet,
            "quiet={quiet}: {err}"
        );
    }
}
