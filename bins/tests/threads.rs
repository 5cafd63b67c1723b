//! Every server that runs on several event loops (`--engine mio
//! --threads 3`), as the command runs it: each loop serves its share of
//! clients (nine at once, so the acceptor gives each loop three), bad
//! input gets its clear error on every loop, operator lines reach the
//! clients of every loop, Ctrl-C stops every loop, and the servers that
//! keep one shared state refuse `--threads` above 1 with a clear error
//! (the room and the 1:1 chat on several loops have tests of their own:
//! `room_loops.rs`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};

use commlab::ws::{sum, WsClient};
use commlab_core::filexfer::DigestAlg;
use common::ft::{random_bytes, Dir};
use common::process::Proc;
use common::*;

const MIO3: [&str; 4] = ["--engine", "mio", "--threads", "3"];
/// Clients at once: three per loop.
const CLIENTS: usize = 9;

fn server(args: &[&str]) -> (Proc, SocketAddr) {
    let mut all = args.to_vec();
    all.extend(MIO3);
    let (p, addr) = Proc::commlab_server(&all);
    p.wait_err("3 event loops");
    (p, addr)
}

/// Runs `each(i)` on [`CLIENTS`] threads that start together.
fn at_once(each: impl Fn(usize) + Send + Sync + 'static) {
    let each = Arc::new(each);
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (each, barrier) = (Arc::clone(&each), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                each(i);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client failed");
    }
}

/// One HTTP exchange on its own connection: the whole answer.
fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// Ctrl-C stops every loop (where a test can send it: Windows has no
/// `kill`; scripts/windows/run sends Ctrl-C to every server under Wine).
fn stops_on_ctrl_c(mut p: Proc) {
    if cfg!(windows) {
        return;
    }
    let status = p.interrupt();
    assert!(status.success(), "{}: {status}\n{}", p.name, p.err.text());
    p.wait_err("server stopped");
}

#[test]
fn calc_serves_and_refuses_on_every_loop() {
    let (p, addr) = server(&["calc", "server"]);
    at_once(move |i| {
        let ok = http(
            addr,
            &format!("GET /api/soma/{i}/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.ends_with(&format!("{{\"A soma: \":{}}}", i + 2)), "{ok}");
        let bad = http(
            addr,
            "GET /api/soma/dois/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    });
    stops_on_ctrl_c(p);
}

#[test]
fn with_accept_reuseport_every_loop_takes_its_own_connections() {
    let (mut p, addr) = server(&["calc", "server", "--accept", "reuseport"]);
    if cfg!(target_os = "linux") {
        p.wait_err("each accepting its own connections (SO_REUSEPORT)");
    } else {
        p.wait_err("the first loop hands connections out");
    }
    at_once(move |i| {
        let ok = http(
            addr,
            &format!("GET /api/soma/{i}/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert!(ok.ends_with(&format!("{{\"A soma: \":{}}}", i + 1)), "{ok}");
    });
    if cfg!(windows) {
        return;
    }
    assert!(p.interrupt().success(), "{}", p.err.text());
    let counts = p.wait_err("connections taken per loop: ");
    let line = counts
        .lines()
        .find_map(|l| l.split_once("connections taken per loop: "))
        .map(|(_, n)| n.to_owned())
        .unwrap();
    let taken: Vec<u64> = line
        .split(", ")
        .map(|n| n.trim().parse().unwrap())
        .collect();
    assert_eq!(
        (taken.len(), taken.iter().sum::<u64>()),
        (3, CLIENTS as u64),
        "{line}"
    );
}

#[test]
fn rpc_serves_and_faults_on_every_loop() {
    let (p, addr) = server(&["rpc", "server"]);
    let post = |body: &str| {
        format!(
            "POST /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let add = post("<?xml version=\"1.0\"?><methodCall><methodName>add</methodName><params><param><value><int>40</int></value></param><param><value><int>2</int></value></param></params></methodCall>");
    let broken = post("<methodCall><methodName>add</methodName><params>");
    at_once(move |_| {
        let ok = http(addr, &add);
        assert!(ok.contains("<int>42</int>"), "{ok}");
        let bad = http(addr, &broken);
        assert!(bad.contains("<name>faultCode</name>"), "{bad}");
    });
    stops_on_ctrl_c(p);
}

#[test]
fn ws_sums_on_every_loop_and_a_console_line_reaches_every_page() {
    let (mut p, addr) = server(&["ws", "server"]);
    let url = format!("ws://{addr}/");
    let (ready, readies) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (url, ready) = (url.clone(), ready.clone());
            std::thread::spawn(move || {
                let mut c = WsClient::connect(&url).unwrap();
                assert_eq!(
                    sum(&mut c, &i.to_string(), "1").unwrap(),
                    (i + 1).to_string()
                );
                let refused = sum(&mut c, "9223372036854775807", "1").unwrap_err();
                assert!(refused.to_string().contains("does not fit"), "{refused}");
                ready.send(()).unwrap();
                // The operator's line, pushed to the pages of every loop.
                assert_eq!(
                    c.recv().unwrap().as_deref(),
                    Some(r#"{"op":"push","text":"Olá, turma!"}"#)
                );
                c.close();
            })
        })
        .collect();
    for _ in 0..CLIENTS {
        readies
            .recv_timeout(TIMEOUT)
            .expect("every page summed, and was refused an overflow");
    }
    p.type_in("Olá, turma!\n");
    p.wait_err(&format!("pushed to {CLIENTS} client(s)"));
    for t in threads {
        t.join().expect("a page failed");
    }
    stops_on_ctrl_c(p);
}

#[test]
fn chat_echo_answers_on_every_loop() {
    let (p, addr) = server(&["chat", "server", "--mode", "echo"]);
    at_once(move |i| {
        let mut c = LineConn::connect(addr);
        for k in 0..20 {
            c.send(&format!("cliente {i} linha {k}"));
            c.expect(&format!("Eco=>cliente {i} linha {k}"));
        }
    });
    stops_on_ctrl_c(p);
}

#[test]
fn file_transfers_and_refused_logins_on_every_loop() {
    let dir = Arc::new(Dir::new("threads"));
    let srv = dir.srv();
    let (p, addr) = server(&[
        "ft",
        "server",
        "--user",
        "aluno:senha",
        "--root",
        srv.to_str().unwrap(),
    ]);
    let shared = Arc::clone(&dir);
    at_once(move |i| {
        let data = random_bytes(300_000 + i, i as u64 + 1);
        let local = shared.cli(&format!("up{i}.bin"));
        std::fs::write(&local, &data).unwrap();
        let mut c = commlab::ft::FtConnection::open(
            "127.0.0.1",
            addr.port(),
            "aluno",
            "senha",
            DigestAlg::Blake3,
        )
        .unwrap();
        c.put(&local, &format!("f{i}.bin")).unwrap();
        let back = shared.cli(&format!("down{i}.bin"));
        c.get(&format!("f{i}.bin"), &back).unwrap();
        assert!(std::fs::read(&back).unwrap() == data, "client {i}");
        c.quit();
        let refused = commlab::ft::FtConnection::open(
            "127.0.0.1",
            addr.port(),
            "aluno",
            "errada",
            DigestAlg::Blake3,
        );
        assert!(refused.is_err(), "client {i}: a wrong password was let in");
    });
    assert_eq!(
        dir.listing().iter().filter(|n| n.ends_with(".bin")).count(),
        CLIENTS
    );
    stops_on_ctrl_c(p);
}

#[test]
fn the_raw_file_mode_sends_the_whole_file_on_every_loop() {
    let dir = Arc::new(Dir::new("threads-raw"));
    let file = dir.srv().join("teste.xlsx");
    let data = Arc::new(random_bytes(2_000_003, 9));
    std::fs::write(&file, &*data).unwrap();
    let (p, addr) = server(&["ft", "server", "--raw", file.to_str().unwrap()]);
    at_once(move |i| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert!(got == *data, "client {i}: {} bytes", got.len());
    });
    stops_on_ctrl_c(p);
}

#[test]
fn servers_with_one_shared_state_refuse_more_loops_clearly() {
    {
        let args = [
            "chat",
            "server",
            "--mode",
            "room",
            "--nats",
            "nats://127.0.0.1:4222",
        ];
        let mut all = args.to_vec();
        all.extend(MIO3);
        all.extend(["--port", "0"]);
        let mut p = Proc::commlab(&all);
        let status = p.wait_exit();
        assert!(!status.success());
        assert!(
            p.err.text().contains("one shared state") && p.err.text().contains("--threads 1"),
            "{}",
            p.err.text()
        );
    }
    let mut p = Proc::commlab(&["calc", "server", "--threads", "2", "--port", "0"]);
    assert!(!p.wait_exit().success());
    assert!(
        p.err.text().contains("--threads is for --engine mio"),
        "{}",
        p.err.text()
    );
}
