//! The tour of exercise 2: the page, sums, and the class's examples 1 and 2.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use anyhow::bail;

use super::{Transcript, STEP_TIMEOUT};
use crate::Engine;

/// Exercise 2: the page over HTTP, sums, hello and a console push over
/// the WebSocket on the same port.
pub(super) fn ws(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let sink = log.clone();
    let server = crate::Server::start_traced(
        engine,
        listener,
        commlab_core::ws::WsServer::new(),
        move |_, e| sink.push(format!("server : {}", crate::ws::describe(&e))),
        log.tracer(commlab_core::trace::Wire::Http),
    )?;
    let addr = server.local_addr();
    // The page, as a browser asks for it.
    let mut http = TcpStream::connect(addr)?;
    http.set_read_timeout(Some(STEP_TIMEOUT))?;
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut page = String::new();
    http.read_to_string(&mut page)?;
    log.push(format!("browser> GET http://{addr}/"));
    log.push(format!(
        "browser< {} ({} bytes)",
        page.lines().next().unwrap_or_default(),
        page.len()
    ));
    if !page.starts_with("HTTP/1.1 200 OK") || !page.contains(">Somar</button>") {
        bail!("the page was not served");
    }
    log.check();
    let url = format!("ws://{addr}/");
    let mut client = crate::ws::WsClient::connect(&url)?;
    let mut ask = |text: &str, want: &str| -> anyhow::Result<()> {
        log.push(format!("client > {text}"));
        client.send(text)?;
        let got = client.answer()?;
        log.push(format!("client < {got}"));
        let json = |t: &str| {
            serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.into()))
        };
        if json(&got) != json(want) {
            bail!("expected {want}, got {got}");
        }
        log.check();
        Ok(())
    };
    ask(
        r#"{"op":"sum","a":3,"b":4.5}"#,
        r#"{"op":"sum","a":3,"b":4.5,"sum":7.5}"#,
    )?;
    ask(
        r#"{"op":"sum","a":"9007199254740993","b":"1"}"#,
        r#"{"op":"sum","a":9007199254740993,"b":1,"sum":9007199254740994}"#,
    )?;
    ask(r#"{"a":2,"b":2}"#, r#"{"op":"sum","a":2,"b":2,"sum":4}"#)?;
    ask("3 4", "7")?;
    ask(
        r#"{"op":"sum","a":"três","b":1}"#,
        r#"{"error":"field \"a\": \"três\" is not a number"}"#,
    )?;
    log.push(format!("{:<6} > Mensagem: Olá, turma!", "server"));
    let pushed = server.command(|s, now| s.push(now, "Olá, turma!"))?;
    if pushed != 1 {
        bail!("the push reached {pushed} pages, not 1");
    }
    let got = client.recv()?.unwrap_or_default();
    log.push(format!("client < {got}"));
    if got != r#"{"op":"push","text":"Olá, turma!"}"# {
        bail!("expected the push, got {got}");
    }
    log.check();
    client.close();
    server.shutdown();
    ws_examples(engine, log)
}

/// Exercise 2's class examples: example 1's hello and example 2's plain
/// pushes, each in its own server mode.
fn ws_examples(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    use commlab_core::ws::WsMode;
    for mode in [WsMode::Hello, WsMode::Push] {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let sink = log.clone();
        let server = crate::Server::start_traced(
            engine,
            listener,
            commlab_core::ws::WsServer::with_mode(mode),
            move |_, e| sink.push(format!("server : {}", crate::ws::describe(&e))),
            log.tracer(commlab_core::trace::Wire::Http),
        )?;
        let mut client = crate::ws::WsClient::connect(&format!("ws://{}/", server.local_addr()))?;
        if mode == WsMode::Hello {
            log.push("client > Marcos".into());
            let greeting = crate::ws::hello(&mut client, "Marcos")?;
            log.push(format!("client < {greeting}"));
            if greeting != "Ola Marcos!" {
                bail!("example 1 answered {greeting}, not Ola Marcos!");
            }
        } else {
            log.push(format!("{:<6} > Mensagem: Bom dia", "server"));
            server.command(|s, now| s.push(now, "Bom dia"))?;
            let got = client.recv()?.unwrap_or_default();
            log.push(format!("client < {got}"));
            if got != "Bom dia" {
                bail!("example 2 pushed {got}, not the plain line Bom dia");
            }
        }
        log.check();
        client.close();
        server.shutdown();
    }
    Ok(())
}
