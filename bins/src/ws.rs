//! Exercise 2: `commlab ws server` (page + WebSocket on one port) and
//! `commlab ws client` (tungstenite's client).

use std::io::Write as _;
use std::net::TcpStream;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context as _};
use commlab_core::ws::{WsEvent, WsServer};
use serde_json::{json, Value as Json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::terminal::{spawn_console, Terminal};
use crate::{announce_listening, bind, Engine, Server};

/// The class's port for the WebSocket exercise.
pub const PORT: u16 = 5678;
/// How long the client waits for an answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `commlab ws server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = PORT)]
    pub port: u16,
    /// Which driver runs the server.
    #[arg(long, value_enum, default_value_t = Engine::Std)]
    pub engine: Engine,
    /// Log only problems (refusals, errors), not every connection,
    /// request or message (for benchmarks and busy servers).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `commlab ws client`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The server's WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:5678/ws")]
    pub url: String,
    /// What to ask.
    #[command(subcommand)]
    pub request: ClientRequest,
}

/// What `commlab ws client` asks the server.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClientRequest {
    /// Sum two numbers (integers add exactly; decimals as doubles).
    Sum {
        /// First number.
        #[arg(allow_hyphen_values = true)]
        a: String,
        /// Second number.
        #[arg(allow_hyphen_values = true)]
        b: String,
    },
    /// The class's example 1: asks `Qual seu nome? ` when NAME is missing,
    /// prints `> NAME` and `< Ola NAME!`.
    Hello {
        /// Your name.
        name: Option<String>,
    },
}

/// The log line for an event (stderr).
pub fn describe(event: &WsEvent) -> String {
    match event {
        WsEvent::Http {
            peer,
            request_line,
            status,
            ..
        } => format!("{} \"{request_line}\" {}", peer.ip(), status.0),
        WsEvent::Rejected { peer, error, .. } => format!("{} rejected: {error}", peer.ip()),
        WsEvent::Opened { conn, peer } => format!("page {conn} connected from {peer}"),
        WsEvent::Message { conn, text, reply } => format!("page {conn}: {text} -> {reply}"),
        WsEvent::Closed {
            conn, code, reason, ..
        } => match code {
            Some(c) => format!("page {conn} closed ({c}): {reason}"),
            None => format!("page {conn} closed: {reason}"),
        },
        other => format!("{other:?}"),
    }
}

/// Starts the server on `listener`; events go to `on_event`.
pub fn start(
    engine: Engine,
    listener: std::net::TcpListener,
    on_event: impl FnMut(WsEvent) + Send + 'static,
) -> std::io::Result<Server<WsServer>> {
    Server::start(engine, listener, WsServer::new(), on_event)
}

/// Runs `commlab ws server` until Ctrl-C: console lines become pushes.
pub fn run_server(args: &ServerArgs) -> anyhow::Result<()> {
    // Ctrl-C is handled before the server says it listens.
    let (stop, stopped) = mpsc::channel::<&'static str>();
    let on_signal = stop.clone();
    ctrlc::set_handler(move || {
        let _ = on_signal.send("interrupted");
    })
    .context("cannot install the Ctrl-C handler")?;
    let listener = bind(&args.host, args.port)?;
    let terminal = Terminal::new();
    let printer = terminal.printer();
    let log = printer.clone();
    let quiet = args.quiet;
    let service = WsServer::new().report_messages(!quiet);
    let server = Server::start(args.engine, listener, service, move |e| {
        if !quiet || matches!(e, WsEvent::Rejected { .. }) {
            log.error(&format!("[commlab] {}", describe(&e)));
        }
    })
    .context("cannot start the server")?;
    let addr = server.local_addr();
    announce_listening(addr);
    printer.line(&format!(
        "page: http://{addr}/ (WebSocket at ws://{addr}/ws)"
    ));
    printer.error("[commlab] open the page in a browser; lines typed here are pushed to every open page. Ctrl-C stops.");
    let server = Arc::new(server);
    let console = Arc::clone(&server);
    spawn_console(terminal, "Mensagem: ", stop, move |line| {
        match console.command(move |s, now| s.push(now, &line)) {
            Ok(n) => printer.error(&format!("[commlab] pushed to {n} page(s)")),
            Err(e) => printer.error(&format!("error: {e}")),
        }
    })
    .context("cannot start the console thread")?;
    let why = stopped.recv().unwrap_or("interrupted");
    eprintln!("[commlab] {why}: shutting down");
    server.shutdown();
    eprintln!("[commlab] server stopped");
    Ok(())
}

/// A connected WebSocket client (tungstenite) with a read timeout.
pub struct WsClient {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsClient")
    }
}

impl WsClient {
    /// Connects to `url`.
    pub fn connect(url: &str) -> anyhow::Result<Self> {
        let (socket, _) = tungstenite::connect(url).with_context(|| {
            format!("cannot connect to {url} (is the server running? start it with `commlab ws server`)")
        })?;
        if let MaybeTlsStream::Plain(s) = socket.get_ref() {
            s.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        }
        Ok(Self { socket })
    }

    /// Sends one text message.
    pub fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.socket.send(Message::text(text))?;
        Ok(())
    }

    /// The next text message (pings answered on the way); `None` once closed.
    pub fn recv(&mut self) -> anyhow::Result<Option<String>> {
        loop {
            match self.socket.read() {
                Ok(Message::Text(t)) => return Ok(Some(t.as_str().to_owned())),
                Ok(Message::Close(_)) => return Ok(None),
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(None)
                }
                Err(e) => return Err(e).context("no answer from the server"),
            }
        }
    }

    /// The next message that is not a push, as JSON.
    pub fn answer(&mut self) -> anyhow::Result<Json> {
        loop {
            let Some(text) = self.recv()? else {
                bail!("the server closed the connection");
            };
            let j: Json = serde_json::from_str(&text).unwrap_or(Json::String(text));
            if j.get("op").and_then(Json::as_str) != Some("push") {
                return Ok(j);
            }
        }
    }

    /// Closes politely.
    pub fn close(mut self) {
        let _ = self.socket.close(None);
        while self.socket.read().is_ok() {}
    }
}

/// Asks for a sum; returns the sum as the server wrote it.
pub fn sum(client: &mut WsClient, a: &str, b: &str) -> anyhow::Result<String> {
    client.send(&json!({ "op": "sum", "a": a, "b": b }).to_string())?;
    let reply = client.answer()?;
    match (reply.get("sum"), reply.get("error").and_then(Json::as_str)) {
        (Some(s), _) => Ok(s.to_string()),
        (None, Some(e)) => bail!("the server says: {e}"),
        _ => bail!("unexpected answer {reply}"),
    }
}

/// Says hello; returns the greeting.
pub fn hello(client: &mut WsClient, name: &str) -> anyhow::Result<String> {
    client.send(&json!({ "op": "hello", "name": name }).to_string())?;
    let reply = client.answer()?;
    match (
        reply.get("greeting").and_then(Json::as_str),
        reply.get("error").and_then(Json::as_str),
    ) {
        (Some(g), _) => Ok(g.to_owned()),
        (None, Some(e)) => bail!("the server says: {e}"),
        _ => bail!("unexpected answer {reply}"),
    }
}

/// Runs `commlab ws client`.
pub fn run_client(args: &ClientArgs) -> anyhow::Result<()> {
    let mut client = WsClient::connect(&args.url)?;
    match &args.request {
        ClientRequest::Sum { a, b } => println!("{}", sum(&mut client, a, b)?),
        ClientRequest::Hello { name } => {
            let name = match name {
                Some(n) => n.clone(),
                None => {
                    print!("Qual seu nome? ");
                    std::io::stdout().flush()?;
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim().to_owned()
                }
            };
            println!("> {name}");
            println!("< {}", hello(&mut client, &name)?);
        }
    }
    client.close();
    Ok(())
}
