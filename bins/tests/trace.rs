//! `--trace` on every program: each client's and each server's trace
//! (stderr) holds the protocol's units, stdout is what it is without the
//! trace, servers name their connections, a long line shows the cut.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;

use common::ft::{random_bytes, Dir};
use common::process::Proc;
use common::*;

/// Runs `commlab ARGS` with and without `--trace`; returns (stdout, stderr)
/// of the traced run after checking stdout is the same.
fn traced(args: &[&str]) -> (String, String) {
    let mut plain = Proc::commlab(args);
    assert!(plain.wait_exit().success(), "{}", plain.err.text());
    let mut with = args.to_vec();
    with.push("--trace");
    let mut t = Proc::commlab(&with);
    assert!(t.wait_exit().success(), "{}", t.err.text());
    assert_eq!(
        t.out.text(),
        plain.out.text(),
        "stdout is unchanged by --trace"
    );
    (t.out.text(), t.err.text())
}

fn assert_all(text: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(text.contains(w), "the trace lacks {w:?}:\n{text}");
    }
}

#[test]
fn every_client_traces_its_protocol_units() {
    // XML-RPC.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rpc = commlab::rpc::start(commlab::Engine::Mio, listener, |_| {}).unwrap();
    let url = format!("http://{}/RPC2", rpc.local_addr());
    let (_, err) = traced(&["rpc", "client", "--url", &url, "20", "5"]);
    assert_all(
        &err,
        &[
            "> POST /RPC2 HTTP/1.1",
            "<methodCall>",
            "< HTTP/1.1 200 OK",
            "<methodResponse>",
        ],
    );

    // REST calc.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let calc = commlab::calc::start(commlab::Engine::Std, listener, "/api", |_| {}).unwrap();
    let base = format!("http://{}/api", calc.local_addr());
    let (out, err) = traced(&["calc", "client", "--base-url", &base, "soma", "4", "5"]);
    assert_eq!(out, "{'A soma: ': 9}\n");
    assert_all(
        &err,
        &[
            "> GET /api/soma/4/5 HTTP/1.1",
            "< HTTP/1.1 200 OK",
            r#"{"A soma: ":9}"#,
        ],
    );

    // WebSocket.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ws = commlab::ws::start(commlab::Engine::Mio, listener, |_| {}).unwrap();
    let url = format!("ws://{}/", ws.local_addr());
    let (out, err) = traced(&["ws", "client", "--url", &url, "sum", "3", "4"]);
    assert_eq!(out, "7\n");
    assert_all(
        &err,
        &[
            "> GET / HTTP/1.1",
            "Upgrade: websocket",
            "< HTTP/1.1 101 Switching Protocols",
            "> FIN text masked",
            "< FIN text unmasked 32 bytes: {\"op\":\"sum\",\"a\":3,\"b\":4,\"sum\":7}",
        ],
    );

    // Chat.
    let (server, _events) = start_mode(commlab::Engine::Std, commlab_core::ChatMode::Echo);
    let port = server.local_addr().port().to_string();
    let mut c = Proc::commlab(&["chat", "client", "--port", &port, "--trace"]);
    c.type_in("Olá\r\n");
    c.wait_out("Server recebeu: Eco=>Olá");
    c.close_stdin();
    assert!(c.wait_exit().success());
    assert_all(&c.err.text(), &["> Olá\\n", "< Eco=>Olá\\n"]);

    // File transfer: frames by name, DATA summed up, no password.
    let dir = Dir::new("trace-client");
    fs::write(dir.srv().join("FT_teste.xlsx"), random_bytes(1_000_000, 3)).unwrap();
    let ft = common::ft::start_ft(commlab::Engine::Mio, &dir, 1 << 30);
    let port = ft.local_addr().port().to_string();
    let out_file = dir.cli("got.xlsx");
    let (_, err) = traced(&[
        "ft",
        "client",
        "--port",
        &port,
        "--user",
        "aluno",
        "--password",
        "senha",
        "get",
        "FT_teste.xlsx",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_all(
        &err,
        &[
            "< HELLO version 1",
            "> LOGIN user: aluno, password: ***",
            "> GET FT_teste.xlsx",
            "< READY 1000000 bytes",
            "< DATA 65536 bytes",
            "DATA ×16 in all, 1000000 bytes",
            "< END 1000000 bytes, blake3 ",
        ],
    );
    assert!(!err.contains("senha"), "the password never shows:\n{err}");
    assert!(err.lines().count() < 20, "{err}");
    rpc.shutdown();
    calc.shutdown();
    ws.shutdown();
    server.shutdown();
    ft.shutdown();
}

/// Starts `commlab ARGS --port 0 --trace` and returns it with its address.
fn traced_server(args: &[&str]) -> (Proc, std::net::SocketAddr) {
    let mut all = args.to_vec();
    all.push("--trace");
    Proc::commlab_server(&all)
}

#[test]
#[cfg_attr(
    windows,
    ignore = "stops or kills the server with the kill command (SIGINT, SIGKILL), which Windows has not; scripts/windows/run checks Ctrl-C on every server under Wine"
)]
fn every_server_traces_with_connection_ids() {
    for engine in ENGINES {
        let engine = engine.to_string();
        // Chat, and a 100 KiB line that shows the cut.
        let (mut chat, addr) =
            traced_server(&["chat", "server", "--mode", "echo", "--engine", &engine]);
        let mut c = LineConn::connect(addr);
        c.send("oi");
        c.expect("Eco=>oi");
        c.send(&"x".repeat(100 * 1024));
        let err = chat.wait_err("more bytes)");
        assert_all(&err, &["#1 < oi\\n", "#1 > Eco=>oi\\n"]);
        drop(c);
        assert!(chat.interrupt().success());

        // XML-RPC (and the HTTP heads).
        let (mut rpc, addr) =
            traced_server(&["rpc", "server", "--host", "127.0.0.1", "--engine", &engine]);
        let mut s = TcpStream::connect(addr).unwrap();
        let body = commlab_core::xmlrpc::encode_call(
            "add",
            &[
                commlab_core::xmlrpc::Value::Int(1),
                commlab_core::xmlrpc::Value::Int(2),
            ],
        )
        .unwrap();
        write!(s, "POST /RPC2 HTTP/1.1\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let err = rpc.wait_err("</methodResponse>");
        assert_all(
            &err,
            &[
                "#1 < POST /RPC2 HTTP/1.1",
                "<methodName>add</methodName>",
                "#1 > HTTP/1.1 200 OK",
                "<int>3</int>",
            ],
        );
        assert!(rpc.interrupt().success());

        // REST calc.
        let (mut calc, addr) = traced_server(&["calc", "server", "--engine", &engine]);
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /api/div/1/0 HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let err = calc.wait_err("BadRequestError");
        assert_all(
            &err,
            &[
                "#1 < GET /api/div/1/0 HTTP/1.1",
                "#1 > HTTP/1.1 400 Bad Request",
            ],
        );
        assert!(calc.interrupt().success());

        // WebSocket: the upgrade and the frames.
        let (mut ws, addr) = traced_server(&["ws", "server", "--engine", &engine]);
        let mut client = commlab::ws::WsClient::connect(&format!("ws://{addr}/")).unwrap();
        assert_eq!(commlab::ws::sum(&mut client, "1", "2").unwrap(), "3");
        client.close();
        let err = ws.wait_err("FIN close");
        assert_all(
            &err,
            &[
                "#1 < GET / HTTP/1.1",
                "#1 > HTTP/1.1 101 Switching Protocols",
                "#1 < FIN text masked",
                "#1 > FIN text unmasked",
            ],
        );
        assert!(ws.interrupt().success());

        // File transfer, and the raw mode's byte counts.
        let dir = Dir::new(&format!("trace-server-{engine}"));
        let data = random_bytes(300_000, 9);
        fs::write(dir.srv().join("FT_teste.xlsx"), &data).unwrap();
        let srv = dir.srv();
        let (mut ft, addr) = traced_server(&[
            "ft",
            "server",
            "--engine",
            &engine,
            "--user",
            "aluno:senha",
            "--root",
            srv.to_str().unwrap(),
        ]);
        let mut c = commlab::ft::FtConnection::open(
            "127.0.0.1",
            addr.port(),
            "aluno",
            "senha",
            commlab_core::filexfer::DigestAlg::Blake3,
        )
        .unwrap();
        c.get("FT_teste.xlsx", &dir.cli("x")).unwrap();
        c.quit();
        let err = ft.wait_err("QUIT");
        assert_all(
            &err,
            &[
                "#1 > HELLO",
                "#1 < LOGIN user: aluno, password: ***",
                "#1 > READY 300000 bytes",
                "#1 > DATA 65536 bytes",
                "#1 > END 300000 bytes",
            ],
        );
        assert!(!err.contains("senha"), "{err}");
        assert!(ft.interrupt().success());

        let file = srv.join("FT_teste.xlsx");
        let (mut raw, addr) = traced_server(&[
            "ft",
            "server",
            "--engine",
            &engine,
            "--raw",
            file.to_str().unwrap(),
        ]);
        let mut s = TcpStream::connect(addr).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert!(got == data);
        // The log's "sent N bytes" may come before the last write's entry.
        let err = raw.wait_err("#1 > ");
        assert!(err.contains(" bytes"), "{err}");
        assert!(raw.interrupt().success());
    }
}
