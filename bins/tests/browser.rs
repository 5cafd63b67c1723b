//! A real browser: headless Chromium loads the page from the server, types
//! two numbers, clicks "Somar" and reads the sum; a console push appears on
//! the page; the class's own example 2 page (`tests/class/`) lists the lines
//! typed at `ws server --mode push`; on both engines.
//!
//! Needs Debian's `chromium` (`apt-get install chromium`; `.ci/run` installs
//! it): run with `cargo test -p commlab --test browser -- --include-ignored`.
//! `CHROMIUM=/path/to/chrome` picks another browser binary.

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use commlab::Engine;
use commlab_core::http1::Status;
use commlab_core::ws::WsEvent;
use common::class::class_program;
use common::process::{Proc, TempDir};
use common::*;
use headless_chrome::{Browser, LaunchOptions, Tab};

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

fn launch() -> Browser {
    launch_with(&[])
}

fn launch_with(extra: &[&str]) -> Browser {
    let args: Vec<&OsStr> = extra
        .iter()
        .chain(&[
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .map(OsStr::new)
        .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .headless(true)
        .sandbox(false)
        .args(args)
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .expect("launch options");
    Browser::new(options).expect("chromium starts (is it installed? apt-get install chromium)")
}

/// Waits until the text of `selector` satisfies `pred`; returns it.
fn wait_text(tab: &Tab, selector: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(el) = tab.find_element(selector) {
            if let Ok(text) = el.get_inner_text() {
                if pred(&text) {
                    return text;
                }
                last = text;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{selector} never matched; last text {last:?}");
}

fn type_number(tab: &Tab, selector: &str, text: &str) {
    // Empty the field, then focus it and type key by key as a person does.
    tab.evaluate(
        &format!("document.querySelector('{selector}').value = ''"),
        false,
    )
    .unwrap();
    tab.wait_for_element(selector).unwrap().focus().unwrap();
    tab.type_str(text).unwrap();
}

#[test]
#[ignore = "needs chromium (apt-get install chromium); .ci/run installs it"]
fn the_page_over_https_sums_over_wss_on_both_engines() {
    let made = commlab::tls::make_for(&["localhost", "127.0.0.1"]).unwrap();
    let dir = TempDir::new("browser-tls");
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert, &made.cert_pem).unwrap();
    std::fs::write(&key, &made.key_pem).unwrap();
    // The test certificate is trusted by its public key, as a teacher's
    // browser would trust the class CA.
    let spki = format!("--ignore-certificate-errors-spki-list={}", made.spki_sha256);
    let browser = launch_with(&[&spki]);
    for engine in ["std", "mio"] {
        let (server, addr) = Proc::commlab_server(&[
            "ws",
            "server",
            "--engine",
            engine,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        let tab = browser.new_tab().unwrap();
        tab.navigate_to(&format!("https://127.0.0.1:{}/", addr.port()))
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        wait_text(&tab, "#state", |t| t == "conectado");
        type_number(&tab, "#a", "3");
        type_number(&tab, "#b", "4.5");
        tab.find_element("#somar").unwrap().click().unwrap();
        let result = wait_text(&tab, "#results li:last-child", |t| !t.is_empty());
        assert_eq!(result, "3 + 4.5 = 7.5", "engine {engine}");
        let scheme = tab
            .evaluate("location.protocol", false)
            .unwrap()
            .value
            .unwrap();
        assert_eq!(scheme, "https:");
        let log = server.wait_err("TLS handshake done");
        assert!(log.contains("GET / HTTP/1.1"), "{log}");
        let _ = tab.close(true);
    }
}

#[test]
#[ignore = "needs chromium (apt-get install chromium); .ci/run installs it"]
fn a_browser_sums_and_shows_pushes_on_both_engines() {
    let browser = launch();
    for engine in [Engine::Std, Engine::Mio] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (tx, upgrades) = std::sync::mpsc::channel();
        let server = commlab::ws::start(engine, listener, move |e| {
            if let WsEvent::Http {
                request_line,
                status: Status(101),
                ..
            } = e
            {
                let _ = tx.send(request_line);
            }
        })
        .unwrap();
        let tab = browser.new_tab().unwrap();
        tab.navigate_to(&format!("http://{}/", server.local_addr()))
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        wait_text(&tab, "#state", |t| t == "conectado");
        assert_eq!(
            upgrades.recv_timeout(TIMEOUT).unwrap(),
            "GET / HTTP/1.1",
            "engine {engine}: the page's WebSocket is on /"
        );

        type_number(&tab, "#a", "3");
        type_number(&tab, "#b", "4.5");
        tab.find_element("#somar").unwrap().click().unwrap();
        let result = wait_text(&tab, "#results li:last-child", |t| !t.is_empty());
        assert_eq!(result, "3 + 4.5 = 7.5", "engine {engine}");

        type_number(&tab, "#a", "9223372036854775807");
        type_number(&tab, "#b", "1");
        tab.find_element("#somar").unwrap().click().unwrap();
        let error = wait_text(&tab, "#results li:last-child", |t| t.starts_with("erro"));
        assert!(
            error.contains("does not fit in a 64-bit integer"),
            "{error}"
        );

        let pushed = server
            .command(|s, now| s.push(now, "Olá do servidor"))
            .unwrap();
        assert_eq!(pushed, 1);
        let push = wait_text(&tab, "#pushes li:last-child", |t| !t.is_empty());
        assert_eq!(push, "Olá do servidor");

        // The server goes away: the page says so, then reconnects to a new one
        // on the same port.
        let addr = server.local_addr();
        server.shutdown();
        wait_text(&tab, "#state", |t| t.starts_with("desconectado"));
        let listener = std::net::TcpListener::bind(addr).unwrap();
        let server = commlab::ws::start(engine, listener, |_| {}).unwrap();
        wait_text(&tab, "#state", |t| t == "conectado");
        type_number(&tab, "#a", "1");
        type_number(&tab, "#b", "2");
        tab.find_element("#somar").unwrap().click().unwrap();
        let result = wait_text(&tab, "#results li:last-child", |t| t.contains('='));
        assert_eq!(result, "1 + 2 = 3");
        let _ = tab.close(true);
        server.shutdown();
    }
}

#[test]
#[ignore = "needs chromium (apt-get install chromium); .ci/run installs it"]
fn the_class_example2_page_lists_lines_typed_at_push_mode_on_both_engines() {
    let browser = launch();
    for engine in [Engine::Std, Engine::Mio] {
        let (mut server, addr) = Proc::commlab_server(&[
            "ws",
            "server",
            "--mode",
            "push",
            "--engine",
            &engine.to_string(),
        ]);
        // The class's page as written, its port the one thing changed.
        let page = std::fs::read_to_string(class_program("websocket/example2/client.html"))
            .unwrap()
            .replace("ws://127.0.0.1:5678/", &format!("ws://{addr}/"));
        let dir = TempDir::new(&format!("class-page-{engine}"));
        let file = dir.0.join("client.html");
        std::fs::write(&file, page).unwrap();
        let tab = browser.new_tab().unwrap();
        tab.navigate_to(&format!("file://{}", file.display()))
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        server.wait_err("connected from");
        server.type_in("Olá, turma\n");
        let first = wait_text(&tab, "ul li:last-child", |t| !t.is_empty());
        assert_eq!(first, "Olá, turma", "engine {engine}: plain text, not JSON");
        server.type_in("<b>Até</b> amanhã\n");
        wait_text(&tab, "ul li:last-child", |t| t == "<b>Até</b> amanhã");
        let items = tab
            .evaluate("document.querySelectorAll('ul li').length", false)
            .unwrap()
            .value
            .and_then(|v| v.as_u64());
        assert_eq!(items, Some(2), "engine {engine}: one <li> per line");
        let _ = tab.close(true);
        assert!(server.interrupt().success());
    }
}
