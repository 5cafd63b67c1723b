//! `commlab load` against each server (short bounded runs with zero errors;
//! on both engines and on three loops of the mio one) and against a
//! deliberately wrong server (it must say so and fail).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use commlab::Engine;
use commlab_core::chat::{ChatConfig, ChatMode};
use commlab_core::ws::WsMode;
use common::*;

#[test]
fn chat_load_delivers_every_line_on_both_engines() {
    for (engine, loops) in SETUPS {
        let (server, _events) = start_on(engine, loops, ChatConfig::new(ChatMode::Room));
        let report =
            commlab::load::chat(&[server.local_addr()], 50, 50, 5, Duration::from_secs(30))
                .unwrap();
        assert_eq!(report.expected, 50 * 49 * 5);
        assert_eq!(
            report.ok,
            report.expected,
            "engine {engine}: {}",
            report.table()
        );
        assert!(!report.failed());
        server.shutdown();
    }
}

#[test]
fn chat_load_with_few_senders_checks_every_listener() {
    let (server, _events) = start_mode(Engine::Mio, ChatMode::Room);
    let report =
        commlab::load::chat(&[server.local_addr()], 120, 3, 4, Duration::from_secs(30)).unwrap();
    assert_eq!(report.expected, 3 * 119 * 4);
    assert_eq!(report.ok, report.expected, "{}", report.table());
    assert!(!report.failed());
    let err =
        commlab::load::chat(&[server.local_addr()], 5, 6, 1, Duration::from_secs(5)).unwrap_err();
    assert!(err.to_string().contains("--senders"), "{err}");
    server.shutdown();
}

#[test]
fn http_probe_counts_only_status_200() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = commlab::rpc::start(Engine::Mio, listener, |_| {}).unwrap();
    let addr = server.local_addr();
    let report = commlab::load::http(addr, "/RPC2", 4, Duration::from_secs(5), 100).unwrap();
    assert_eq!((report.ok, report.wrong), (100, 0), "{}", report.table());
    let report = commlab::load::http(addr, "/elsewhere", 4, Duration::from_secs(5), 100).unwrap();
    assert_eq!(report.wrong, 100, "a 404 is not a 200: {}", report.table());
    assert!(report.failed());
    server.shutdown();
}

#[test]
fn calc_and_rpc_loads_check_every_answer_on_both_engines() {
    for (engine, loops) in SETUPS {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = commlab::calc::start_loops(engine, listener, loops, "/api", |_| {}).unwrap();
        let report =
            commlab::load::calc(server.local_addr(), "/api", 8, Duration::from_secs(5), 400)
                .unwrap();
        assert_eq!(
            (report.expected, report.ok),
            (400, 400),
            "engine {engine}: {}",
            report.table()
        );
        assert!(!report.failed());
        server.shutdown();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = commlab::rpc::start_loops(engine, listener, loops, |_| {}).unwrap();
        let report =
            commlab::load::rpc(server.local_addr(), 8, Duration::from_secs(5), 300).unwrap();
        assert_eq!(
            (report.expected, report.ok),
            (300, 300),
            "engine {engine}: {}",
            report.table()
        );
        assert!(!report.failed());
        server.shutdown();
    }
}

#[test]
fn a_wrong_server_is_caught_and_the_run_fails() {
    // A test double: answers every request with the same (mostly wrong) sum.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let body = r#"{"A soma: ":42}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let out = commlab(&[
        "load",
        "calc",
        "--port",
        &port.to_string(),
        "--clients",
        "4",
        "--max-requests",
        "200",
        "--json",
    ])
    .wait_with_output()
    .unwrap();
    assert!(!out.status.success(), "wrong answers must fail the run");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["expected"], 200);
    assert!(report["wrong"].as_u64().unwrap() >= 190, "{report}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("wrong"), "{stderr}");
}

#[test]
fn a_server_that_is_not_a_room_is_reported() {
    let (server, _events) = start_mode(Engine::Mio, ChatMode::Echo);
    let err =
        commlab::load::chat(&[server.local_addr()], 3, 3, 1, Duration::from_secs(1)).unwrap_err();
    assert!(
        err.to_string().contains("is the server in room mode?"),
        "{err}"
    );
    server.shutdown();
}

#[test]
fn ws_load_checks_every_sum_on_both_engines() {
    for (engine, loops) in SETUPS {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server =
            commlab::ws::start_loops(engine, listener, loops, WsMode::Sum, |_| {}).unwrap();
        let report =
            commlab::load::ws(server.local_addr(), 20, Duration::from_secs(5), 400).unwrap();
        assert_eq!(
            (report.expected, report.ok),
            (400, 400),
            "engine {engine}: {}",
            report.table()
        );
        assert!(!report.failed());
        server.shutdown();
    }
}

#[test]
fn ft_load_uploads_and_downloads_back_on_both_engines() {
    for (engine, loops) in SETUPS {
        let dir = std::env::temp_dir().join(format!(
            "commlab-load-ft-{}-{engine}-{loops}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut users = commlab::ft::Users::default();
        users.add_plain("carga:senha").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let config = commlab::ft::FtServerConfig {
            max_file_size: u64::MAX,
            sink: Box::new(|_| {}),
            threads: loops,
            ..commlab::ft::FtServerConfig::new(&dir, users)
        };
        let server = commlab::ft::start(engine, listener, config).unwrap();
        let report = commlab::load::ft(
            server.local_addr(),
            "carga",
            "senha",
            3_000_001,
            3,
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(
            (report.expected, report.ok),
            (6, 6),
            "engine {engine}: {}",
            report.table()
        );
        assert!(!report.failed());
        assert_eq!(
            std::fs::metadata(dir.join("commlab-load-2.bin"))
                .unwrap()
                .len(),
            3_000_001
        );
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `--threads`: the clients and the answers asked for are shared out among
/// the client loops and their reports added up; every answer is still
/// checked, against servers of several loops too.
#[test]
fn a_load_on_several_client_threads_adds_up_every_share() {
    for kind in ["calc", "rpc"] {
        let (server, addr) = common::process::Proc::commlab_server(&[
            kind,
            "server",
            "--engine",
            "mio",
            "--threads",
            "2",
            "--quiet",
        ]);
        let port = addr.port().to_string();
        let out = commlab(&[
            "load",
            kind,
            "--port",
            &port,
            "--clients",
            "7",
            "--threads",
            "3",
            "--max-requests",
            "600",
            "--json",
        ])
        .wait_with_output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // 7 clients over 3 threads (3, 2 and 2); 600 answers asked for,
        // 200 a thread.
        assert_eq!(report["clients"], 7, "{kind}: {report}");
        assert_eq!(report["expected"], 600, "{kind}: {report}");
        assert_eq!(report["ok"], 600, "{kind}: {report}");
        drop(server);
    }
}
