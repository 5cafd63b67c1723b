//! `commlab tour`: every exercise end to end on loopback, on both engines,
//! with both sides' transcripts and a check of every exchange.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use commlab_core::chat::{ChatConfig, ChatMode, ClientEvent, ConsoleError};
use commlab_core::{ChatClient, ChatServer};
use commlab_std::BlockingSession;

use crate::chat::describe;
use crate::ServerLine;
use crate::{Engine, Server};

/// How long the tour waits for any one answer.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of `commlab tour`.
#[derive(Debug, Clone, clap::Args)]
pub struct TourArgs {
    /// Run on one engine only (default: both).
    #[arg(long, value_enum)]
    pub engine: Option<Engine>,
    /// Print only the result of each step, not the transcripts.
    #[arg(long)]
    pub quiet: bool,
}

/// Both sides' lines, in the order they happened.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    lines: Arc<Mutex<Vec<String>>>,
    checks: Arc<Mutex<usize>>,
}

impl Transcript {
    fn push(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    fn snapshot(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn check(&self) {
        *self.checks.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }

    /// Number of checks that passed.
    pub fn checks(&self) -> usize {
        *self.checks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the server side printed a line starting with `want`.
    fn wait_server(&self, want: &str) -> anyhow::Result<()> {
        let line = format!("server | {want}");
        let deadline = Instant::now() + STEP_TIMEOUT;
        while Instant::now() < deadline {
            if self.snapshot().iter().any(|l| l.starts_with(&line)) {
                self.check();
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("the server never printed {want:?}")
    }
}

/// A scripted chat client.
struct Peer {
    name: String,
    session: BlockingSession<ChatClient>,
    log: Transcript,
}

impl Peer {
    fn connect(addr: SocketAddr, name: &str, log: &Transcript) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).with_context(|| format!("{name} cannot connect"))?;
        Ok(Self {
            name: name.to_owned(),
            session: BlockingSession::new(stream, ChatClient::default()),
            log: log.clone(),
        })
    }

    fn say(&mut self, line: &str) -> anyhow::Result<()> {
        self.log.push(format!("{:<6} > {line}", self.name));
        self.session.command(|c| c.send_line(line))??;
        Ok(())
    }

    fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        match self.session.next_event(STEP_TIMEOUT)? {
            Some(ClientEvent::Line(line)) => {
                self.log.push(format!("{:<6} < {line}", self.name));
                Ok(Some(line))
            }
            Some(ClientEvent::Closed(_)) | None => Ok(None),
            Some(ClientEvent::BadLine(e)) => {
                bail!("{}: a bad line from the server: {e}", self.name)
            }
        }
    }

    fn expect(&mut self, want: &str) -> anyhow::Result<()> {
        match self.next_line()? {
            Some(line) if line == want => {
                self.log.check();
                Ok(())
            }
            Some(line) => bail!("{} expected {want:?}, got {line:?}", self.name),
            None => bail!("{} expected {want:?}, got nothing", self.name),
        }
    }

    fn expect_prefix(&mut self, want: &str) -> anyhow::Result<()> {
        match self.next_line()? {
            Some(line) if line.starts_with(want) => {
                self.log.check();
                Ok(())
            }
            Some(line) => bail!(
                "{} expected a line starting {want:?}, got {line:?}",
                self.name
            ),
            None => bail!(
                "{} expected a line starting {want:?}, got nothing",
                self.name
            ),
        }
    }

    fn expect_closed(&mut self) -> anyhow::Result<()> {
        match self.next_line()? {
            None => {
                self.log
                    .push(format!("{:<6} : connection closed", self.name));
                self.log.check();
                Ok(())
            }
            Some(line) => bail!(
                "{} expected the connection to close, got {line:?}",
                self.name
            ),
        }
    }

    fn leave(mut self) -> anyhow::Result<()> {
        self.session.command(ChatClient::finish)?;
        self.expect_closed()
    }
}

fn start_chat(
    engine: Engine,
    mode: ChatMode,
    log: &Transcript,
) -> anyhow::Result<Server<ChatServer>> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let sink = log.clone();
    let server = Server::start(
        engine,
        listener,
        ChatServer::new(ChatConfig::new(mode)),
        move |e| match describe(mode, &e) {
            ServerLine::Out(text) => sink.push(format!("server | {text}")),
            ServerLine::Log(text) => sink.push(format!("server : {text}")),
        },
    )?;
    Ok(server)
}

fn operator(
    server: &Server<ChatServer>,
    log: &Transcript,
    text: &str,
) -> anyhow::Result<Result<usize, ConsoleError>> {
    log.push(format!("{:<6} > {text}", "server"));
    let owned = text.to_owned();
    let sent = server.command(move |s, now| s.console_line(now, &owned))?;
    if let Err(e) = &sent {
        log.push(format!("server : refused: {e}"));
    }
    Ok(sent)
}

/// The class example: echo, including the class's Python client that sends
/// no newline.
fn echo(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    let server = start_chat(engine, ChatMode::Echo, log)?;
    let addr = server.local_addr();
    let mut client = Peer::connect(addr, "client", log)?;
    log.wait_server("Server conectado por ('127.0.0.1', ")?;
    client.say("Olá, servidor")?;
    client.expect("Eco=>Olá, servidor")?;
    log.wait_server("Cliente enviou: Olá, servidor")?;
    client.say("segunda mensagem")?;
    client.expect("Eco=>segunda mensagem")?;

    // The handout's client.py sends without a newline and waits for a reply.
    let mut raw = TcpStream::connect(addr)?;
    raw.set_read_timeout(Some(STEP_TIMEOUT))?;
    log.push("py-cli > sem newline   (raw bytes, as the class's client.py sends)".into());
    raw.write_all("sem newline".as_bytes())?;
    let mut buf = [0u8; 1024];
    let n = raw.read(&mut buf)?;
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    log.push(format!(
        "py-cli < {reply}   (no newline, as the class's server answers)"
    ));
    if reply != "Eco=>sem newline" {
        bail!("the class-style client got {reply:?}");
    }
    log.check();
    client.leave()?;
    server.shutdown();
    Ok(())
}

/// The exercise: one client and the operator, client first, full duplex.
fn chat(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    let server = start_chat(engine, ChatMode::Chat, log)?;
    let addr = server.local_addr();
    let mut client = Peer::connect(addr, "client", log)?;
    log.wait_server("Server conectado por ('127.0.0.1', ")?;
    // Wait until the server knows the client, then try to speak first.
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let sent = server.command(|s, now| s.console_line(now, "Olá?"))?;
        match sent {
            Err(ConsoleError::ClientFirst) => break,
            Err(ConsoleError::NoClient) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                bail!("the operator's first line should be refused as the client's turn, got: {e}")
            }
            Ok(_) => bail!("the operator's first line should be refused, but it was sent"),
        }
    }
    log.push(format!("{:<6} > Olá?", "server"));
    log.push(format!("server : refused: {}", ConsoleError::ClientFirst));
    log.check();
    client.say("Oi, servidor!")?;
    log.wait_server("Cliente enviou: Oi, servidor!")?;
    operator(&server, log, "Oi, cliente! Tudo bem?")?.context("operator line refused")?;
    client.expect("Oi, cliente! Tudo bem?")?;
    // Full duplex: both speak before either reads.
    operator(&server, log, "Vou te mandar um arquivo.")?.context("operator line refused")?;
    client.say("Tudo ótimo, e aí?")?;
    client.expect("Vou te mandar um arquivo.")?;
    log.wait_server("Cliente enviou: Tudo ótimo, e aí?")?;
    // A second client is turned away while the first is chatting.
    let mut other = Peer::connect(addr, "outro", log)?;
    other.expect("error: this server is chatting with another client; try again later")?;
    other.expect_closed()?;
    client.leave()?;
    server.shutdown();
    Ok(())
}

/// The room: three clients, names, fan-out, an operator line, a leave.
fn room(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    let server = start_chat(engine, ChatMode::Room, log)?;
    let addr = server.local_addr();
    let mut ana = Peer::connect(addr, "ana", log)?;
    ana.expect_prefix("* welcome, you are guest1;")?;
    let mut bia = Peer::connect(addr, "bia", log)?;
    bia.expect_prefix("* welcome, you are guest2;")?;
    ana.expect("* guest2 joined")?;
    let mut caio = Peer::connect(addr, "caio", log)?;
    caio.expect_prefix("* welcome, you are guest3;")?;
    ana.expect("* guest3 joined")?;
    bia.expect("* guest3 joined")?;
    let mut peers = [ana, bia, caio];
    for i in 0..peers.len() {
        let (old, new) = (format!("guest{}", i + 1), peers[i].name.clone());
        peers[i].say(&format!("/nick {new}"))?;
        for j in 0..peers.len() {
            peers[(i + j) % 3].expect(&format!("* {old} is now {new}"))?;
        }
    }
    let [mut ana, mut bia, mut caio] = peers;
    ana.say("Olá, sala!")?;
    bia.expect("ana: Olá, sala!")?;
    caio.expect("ana: Olá, sala!")?;
    log.wait_server("ana: Olá, sala!")?;
    let sent = operator(&server, log, "Bem-vindos à sala.")?.context("operator line refused")?;
    if sent != 3 {
        bail!("the operator's line reached {sent} clients, not 3");
    }
    for peer in [&mut ana, &mut bia, &mut caio] {
        peer.expect("server: Bem-vindos à sala.")?;
    }
    caio.say("/quit")?;
    caio.expect("* bye")?;
    caio.expect_closed()?;
    ana.expect("* caio left")?;
    bia.expect("* caio left")?;
    bia.say("Tchau, ana.")?;
    ana.expect("bia: Tchau, ana.")?;
    server.shutdown();
    ana.expect("* server shutting down")?;
    bia.expect("* server shutting down")?;
    Ok(())
}

/// Exercise 4: the XML-RPC calculator, called as the class's client does,
/// plus a fault, introspection and a multicall.
fn rpc(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    use commlab_core::xmlrpc::{Value, DIVISION_BY_ZERO, METHOD_NOT_FOUND};
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let sink = log.clone();
    let server = crate::rpc::start(engine, listener, move |e| {
        sink.push(format!(
            "server : {}",
            crate::rpc::access_log(&e, &crate::log_time())
        ));
    })?;
    let url = format!("http://127.0.0.1:{}/RPC2", server.local_addr().port());
    let client = crate::rpc::RpcClient::new(&url);
    log.push(format!("client > 1o numero: 20 / 2o numero: 5   ({url})"));
    let lines = crate::rpc::calculator_lines(&client, Value::Int(20), Value::Int(5))?;
    let want = [
        "Somar:  25",
        "Subtrair:  15",
        "Multiplicar:  100",
        "Potência:  3200000",
        "Dividir:  4.0",
    ];
    for (got, want) in lines.iter().zip(want) {
        log.push(format!("client < {got}"));
        if got != want {
            bail!("expected {want:?}, got {got:?}");
        }
        log.check();
    }
    let expect =
        |method: &str, params: Vec<Value>, want: Result<Value, i32>| -> anyhow::Result<()> {
            let shown: Vec<String> = params.iter().map(ToString::to_string).collect();
            log.push(format!("client > {method}({})", shown.join(", ")));
            let got = client.call(method, &params)?;
            match &got {
                Ok(v) => log.push(format!("client < {v}")),
                Err(f) => log.push(format!("client < Fault {}: {}", f.code, f.message)),
            }
            match (got, want) {
                (Ok(v), Ok(w)) if v == w => {}
                (Err(f), Err(code)) if f.code == code => {}
                (got, want) => {
                    let show = |r: Result<String, String>| r.unwrap_or_else(|e| e);
                    bail!(
                        "{method}: expected {}, got {}",
                        show(
                            want.map(|v| v.to_string())
                                .map_err(|c| format!("fault {c}"))
                        ),
                        show(got.map(|v| v.to_string()).map_err(|f| f.to_string()))
                    )
                }
            }
            log.check();
            Ok(())
        };
    expect(
        "div",
        vec![Value::Int(15), Value::Int(10)],
        Ok(Value::Double(1.5)),
    )?;
    expect(
        "div",
        vec![Value::Int(1), Value::Int(0)],
        Err(DIVISION_BY_ZERO),
    )?;
    expect(
        "mul",
        vec![Value::I8(1 << 40), Value::Int(1 << 20)],
        Ok(Value::I8(1 << 60)),
    )?;
    expect("raiz", vec![Value::Int(4)], Err(METHOD_NOT_FOUND))?;
    let calc = client.call("calc", &[Value::Double(2.5), Value::Int(2)])?;
    log.push("client > calc(2.5, 2)".into());
    log.push(format!(
        "client < {}",
        calc.as_ref()
            .map_or_else(ToString::to_string, ToString::to_string)
    ));
    if calc.ok().and_then(|v| v.member("pow").cloned()) != Some(Value::Double(6.25)) {
        bail!("calc(2.5, 2) did not give pow 6.25");
    }
    log.check();
    server.shutdown();
    Ok(())
}

/// Exercise 2: the page over HTTP, sums, hello and a console push over
/// the WebSocket on the same port.
fn ws(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let sink = log.clone();
    let server = crate::ws::start(engine, listener, move |e| {
        sink.push(format!("server : {}", crate::ws::describe(&e)));
    })?;
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
        let server = crate::ws::start_mode(engine, listener, mode, move |e| {
            sink.push(format!("server : {}", crate::ws::describe(&e)));
        })?;
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

/// Exercise 3: the whole exercise on a temporary database.
fn db(_engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    use crate::db::Store;
    let dir = std::env::temp_dir().join(format!("commlab-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("aula.db");
    let _ = std::fs::remove_file(&path);
    let result = (|| -> anyhow::Result<()> {
        let mut store = Store::open(&path)?;
        let added = store
            .init()?
            .map_err(|d| anyhow::anyhow!("unexpected schema: {}", d.join("; ")))?;
        log.push(format!(
            "db     > init: {} rows added to {}",
            added.len(),
            path.display()
        ));
        let again = store
            .init()?
            .map_err(|d| anyhow::anyhow!("unexpected schema: {}", d.join("; ")))?;
        log.push(format!("db     > init again: {} rows added", again.len()));
        if added.len() != 5 || !again.is_empty() {
            bail!(
                "init added {} then {} rows (want 5 then 0)",
                added.len(),
                again.len()
            );
        }
        log.check();
        let check = |question: &str, got: String, want: &str| -> anyhow::Result<()> {
            log.push(format!("db     > {question}"));
            log.push(format!("db     < {got}"));
            if got != want {
                bail!("{question}: expected {want:?}, got {got:?}");
            }
            log.check();
            Ok(())
        };
        let names = |rows: Vec<crate::db::Aluno>| {
            rows.iter()
                .map(|a| format!("{} {}", a.nome, a.matricula))
                .collect::<Vec<_>>()
                .join(", ")
        };
        check(
            "1) Quem trancou o curso?",
            names(store.trancados()?),
            "Pedro 13100001",
        )?;
        check(
            "2) Quem ingressou depois de 2012?",
            store.ingresso_apos(2012)?.len().to_string(),
            "5",
        )?;
        check(
            "3) Qual a idade de Patrick?",
            store
                .by_name("Patrick")?
                .first()
                .map_or(String::new(), |a| a.idade.to_string()),
            "24",
        )?;
        let n = store.rename("Pedro", "Carlos", Some(13_100_001))?;
        check(
            "4) Renomear Pedro (13100001) para Carlos",
            format!("{n} row changed; {}", names(store.by_name("Carlos")?)),
            "1 row changed; Carlos 13100001",
        )?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Exercise 6: the class's calc client against a local calc server.
fn calc(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    use commlab_core::calc::Op;
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let sink = log.clone();
    let server = crate::calc::start(engine, listener, "/api", move |e| {
        sink.push(format!(
            "server : {}",
            crate::rpc::access_log(&e, &crate::log_time())
        ));
    })?;
    let base = format!("http://{}/api", server.local_addr());
    let timeout = Duration::from_secs(5);
    for (op, a, b, want) in [
        (Op::Soma, "4", "5", "{'A soma: ': 9}"),
        (Op::Sub, "4", "5", "{'A subtração:': -1}"),
        (Op::Mult, "8", "5", "{'A multiplicação': 40}"),
        (Op::Div, "4", "5", "{'A Divisão': 0.8}"),
    ] {
        log.push(format!(
            "client > GET {}",
            commlab_core::calc::request_url(&base, op, a, b)
        ));
        let (answer, raw) = crate::calc::call(&base, op, a, b, timeout)?;
        log.push(format!("client < {raw}  ->  {}", answer.python_dict()));
        if answer.python_dict() != want {
            bail!("expected {want}, got {}", answer.python_dict());
        }
        log.check();
    }
    log.push("client > GET .../div/1/0".into());
    match crate::calc::call(&base, Op::Div, "1", "0", timeout) {
        Err(e) if format!("{e:#}").contains("HTTP 400: division by zero") => {
            log.push(format!("client < error: {e:#}"));
            log.check();
        }
        Ok((_, body)) => bail!("division by zero should be HTTP 400, got the answer {body}"),
        Err(e) => bail!("division by zero should be HTTP 400, got: {e:#}"),
    }
    server.shutdown();
    Ok(())
}

/// Exercise 5: the challenge's round trip of a generated spreadsheet, with
/// a scripted edit in between, and a refused login.
fn ft(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    use commlab_core::filexfer::DigestAlg;
    let dir = std::env::temp_dir().join(format!("commlab-tour-ft-{}-{engine}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let srv = dir.join("srv");
    std::fs::create_dir_all(&srv)?;
    let result = (|| -> anyhow::Result<()> {
        let original: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(srv.join("FT_teste.xlsx"), &original)?;
        let mut users = crate::ft::Users::default();
        users.add_plain("aluno:senha")?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let sink = log.clone();
        let config = crate::ft::FtServerConfig {
            sink: Box::new(move |line| match line {
                crate::ServerLine::Out(t) => sink.push(format!("server | {t}")),
                crate::ServerLine::Log(t) => sink.push(format!("server : {t}")),
            }),
            ..crate::ft::FtServerConfig::new(&srv, users)
        };
        let server = crate::ft::start(engine, listener, config)?;
        let port = server.local_addr().port();
        let bad =
            crate::ft::FtConnection::open("127.0.0.1", port, "aluno", "errada", DigestAlg::Blake3);
        log.push("client > LOGIN aluno / (wrong password)".into());
        match bad {
            Err(e) if e.to_string() == "login failed" => {
                log.push("client < ERR 403 login failed".into())
            }
            Ok(_) => bail!("a wrong password should fail, but the login went through"),
            Err(e) => bail!("a wrong password should fail with \"login failed\", got: {e:#}"),
        }
        log.check();
        let mut c =
            crate::ft::FtConnection::open("127.0.0.1", port, "aluno", "senha", DigestAlg::Blake3)?;
        log.push("client > LOGIN aluno".into());
        let listed = c.list()?;
        let shown: Vec<String> = listed
            .iter()
            .map(|(name, size)| format!("{name} ({size} bytes)"))
            .collect();
        log.push(format!("client < LIST {}", shown.join(", ")));
        if listed != [("FT_teste.xlsx".to_owned(), 200_000)] {
            bail!("unexpected listing: {}", shown.join(", "));
        }
        log.check();
        let local = dir.join("FT_arquivo_recebido.xlsx");
        let (size, digest, _) = c.get("FT_teste.xlsx", &local)?;
        log.push(format!(
            "client < GET FT_teste.xlsx -> {}: {size} bytes, blake3 {digest}",
            local.display()
        ));
        if std::fs::read(&local)? != original {
            bail!("the download differs from the original");
        }
        log.check();
        let mut edited = original.clone();
        edited.extend_from_slice(b"linha editada pelo aluno");
        std::fs::write(&local, &edited)?;
        log.push("person : edits the spreadsheet (24 bytes added)".into());
        let (message, _) = c.put(&local, "FT_teste.xlsx")?;
        log.push(format!("client < PUT -> {message}"));
        if std::fs::read(srv.join("FT_teste.xlsx"))? != edited {
            bail!("the server's file is not the edited one");
        }
        log.check();
        c.quit();
        server.shutdown();
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One step of the tour.
type Step = fn(Engine, &Transcript) -> anyhow::Result<()>;

/// Runs the tour; `Err` names the first exchange that went wrong.
pub fn run(args: &TourArgs) -> anyhow::Result<()> {
    let engines = match args.engine {
        Some(e) => vec![e],
        None => vec![Engine::Std, Engine::Mio],
    };
    // (exercise, what, step, whether it runs a server on an engine)
    let steps: [(&str, &str, Step, bool); 8] = [
        (
            "Exercise 1",
            "socket chat, echo mode (the class example)",
            echo,
            true,
        ),
        (
            "Exercise 1",
            "socket chat, chat mode (the exercise)",
            chat,
            true,
        ),
        (
            "Exercise 1",
            "socket chat, room mode (3 clients)",
            room,
            true,
        ),
        ("Exercise 2", "WebSocket sum server and page", ws, true),
        (
            "Exercise 3",
            "SQLite students table (temporary database)",
            db,
            false,
        ),
        ("Exercise 4", "XML-RPC calculator", rpc, true),
        (
            "Exercise 5",
            "file transfer round trip (the challenge)",
            ft,
            true,
        ),
        (
            "Exercise 6",
            "REST Calc client against a local calc server",
            calc,
            true,
        ),
    ];
    let mut total = 0;
    let started = Instant::now();
    for (i, engine) in engines.iter().enumerate() {
        for (exercise, what, step, served) in steps {
            if !served && i > 0 {
                continue;
            }
            let log = Transcript::default();
            let result = step(*engine, &log);
            let on = if served {
                format!("engine {engine}")
            } else {
                "no server".to_owned()
            };
            println!("== {exercise}: {what} [{on}] ==");
            if !args.quiet || result.is_err() {
                for line in log.snapshot() {
                    println!("   {line}");
                }
            }
            match result {
                Ok(()) => {
                    println!("   ok: {} checks", log.checks());
                    total += log.checks();
                }
                Err(e) => {
                    println!("   FAILED: {e:#}");
                    bail!("tour failed at {exercise} ({what}) on engine {engine}: {e:#}");
                }
            }
        }
    }
    println!(
        "tour: all {total} checks passed on engine(s) {} in {:.1} s",
        engines
            .iter()
            .map(Engine::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
