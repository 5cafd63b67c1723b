//! `commlab ws client`: core's WebSocket client session driven over a
//! blocking socket (the std adapter's `BlockingSession`).

use std::io::Write as _;
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context as _};
use commlab_core::tls::TlsClientEvent;
use commlab_core::trace::{Side, Wire};
use commlab_core::ws::{sum_request, ServerMessage, WsClientEvent, WsClientSession};
use commlab_core::Session as _;
use commlab_std::BlockingSession;

use crate::tls::{LayeredSession, TlsClientArgs};
use crate::url::Endpoint;

/// How long the client waits for the upgrade and for each answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a polite close waits for the server's close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Options of `commlab ws client`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The server's WebSocket URL [default: ws://localhost:8765 for hello,
    /// as the class's example 1 client; else ws://127.0.0.1:5678/].
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Show the upgrade and every frame as they cross the wire, on stderr.
    #[arg(long, global = true)]
    pub trace: bool,
    /// Whom to trust for `wss://` URLs.
    #[command(flatten)]
    pub tls: TlsClientArgs,
    /// What to ask.
    #[command(subcommand)]
    pub request: ClientRequest,
}

/// What `commlab ws client` asks the server.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClientRequest {
    /// Sum two numbers (integers add exactly; decimals as doubles), from a
    /// server in sum mode.
    Sum {
        /// First number.
        #[arg(allow_hyphen_values = true)]
        a: String,
        /// Second number.
        #[arg(allow_hyphen_values = true)]
        b: String,
    },
    /// The class's example 1 client: asks `Qual seu nome? ` when NAME is
    /// missing, sends the name as plain text, prints `> NAME` and the
    /// answer as `< Ola NAME!` (from `ws server --mode hello` or the
    /// class's `server.py`).
    Hello {
        /// Your name.
        name: Option<String>,
    },
    /// Print every message the server pushes, one per line (the class's
    /// example 2 page, in a terminal), until the server closes or Ctrl-C.
    Listen {
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
    },
}

impl ClientRequest {
    fn default_url(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "ws://localhost:8765",
            Self::Sum { .. } | Self::Listen { .. } => "ws://127.0.0.1:5678/",
        }
    }
}

/// Splits a `ws://` URL: host and port to connect to, the `Host` header
/// and the request target.
fn parse_url(url: &str) -> anyhow::Result<Endpoint> {
    Endpoint::parse(url, "ws://127.0.0.1:5678/", |scheme| match scheme {
        "ws" => Ok(80),
        "wss" => Ok(443),
        _ => bail!("{url} is not a WebSocket URL: it must start with ws:// or wss://"),
    })
}

/// A connected WebSocket client (in clear or over TLS).
pub struct WsClient {
    session: BlockingSession<LayeredSession<WsClientSession>>,
    url: String,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WsClient({})", self.url)
    }
}

impl WsClient {
    /// Connects to `url` and waits for the server to accept the upgrade.
    pub fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_traced(url, false, &TlsClientArgs::default())
    }

    /// [`connect`](Self::connect), the wire shown on stderr when `trace`,
    /// a `wss://` server checked as `tls` says.
    pub fn connect_traced(url: &str, trace: bool, tls: &TlsClientArgs) -> anyhow::Result<Self> {
        let target = parse_url(url)?;
        let tls = if target.scheme == "wss" {
            Some(tls.client(&target.host)?)
        } else {
            None
        };
        let stream = TcpStream::connect((target.host.as_str(), target.port)).with_context(|| {
            format!("cannot connect to {url} (is the server running? start it with `commlab ws server`)")
        })?;
        let mut key = [0u8; 16];
        getrandom::fill(&mut key).context("cannot get random bytes for the WebSocket key")?;
        let session = WsClientSession::new(&target.authority, &target.path, key);
        let tracer = crate::tracer(trace, Wire::Http, Side::Client);
        let (session, tracer) = LayeredSession::new(session, tls.as_ref(), tracer)?;
        let mut client = Self {
            session: BlockingSession::new(stream, session),
            url: url.to_owned(),
        };
        if let Some(t) = tracer {
            client.session.trace(t);
        }
        client.session.command(|_| ())?;
        match client.event(ANSWER_TIMEOUT)? {
            Some(WsClientEvent::Open) => Ok(client),
            Some(WsClientEvent::Error(e)) => bail!("{url}: {e}"),
            _ => bail!("{url} closed the connection before accepting the WebSocket upgrade"),
        }
    }

    fn event(&mut self, timeout: Duration) -> anyhow::Result<Option<WsClientEvent>> {
        loop {
            let event = self
                .session
                .next_event(timeout)
                .with_context(|| format!("connection to {} lost", self.url))?;
            match event {
                Some(TlsClientEvent::Inner(e)) => return Ok(Some(e)),
                Some(TlsClientEvent::Established(_)) => {}
                Some(TlsClientEvent::Failed(e)) => {
                    // The alert goes out before the close.
                    let _ = self.session.command(|_| ());
                    bail!("TLS with {} failed: {e}", self.url)
                }
                None => return Ok(None),
            }
        }
    }

    /// Sends one text message.
    pub fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.session
            .command(|s| s.inner_mut().send_text(text))
            .with_context(|| format!("cannot send to {}", self.url))
    }

    /// The next message (binary ones read as UTF-8 text), waiting at most
    /// `timeout` (`None`: forever); `None` once the server closed.
    pub fn recv_within(&mut self, timeout: Option<Duration>) -> anyhow::Result<Option<String>> {
        loop {
            let step = timeout.unwrap_or(Duration::from_secs(3600));
            match self.event(step)? {
                Some(WsClientEvent::Text(t)) => return Ok(Some(t)),
                Some(WsClientEvent::Binary(b)) => {
                    return Ok(Some(String::from_utf8_lossy(&b).into_owned()))
                }
                Some(WsClientEvent::Closed(_)) => return Ok(None),
                Some(WsClientEvent::Error(e)) => bail!("{}: {e}", self.url),
                Some(WsClientEvent::Open) => {}
                None if self.session.session().is_closed() => return Ok(None),
                None if timeout.is_some() => {
                    bail!("no answer from {} within {} s", self.url, step.as_secs())
                }
                None => {}
            }
        }
    }

    /// The next message, waiting at most [`ANSWER_TIMEOUT`].
    pub fn recv(&mut self) -> anyhow::Result<Option<String>> {
        self.recv_within(Some(ANSWER_TIMEOUT))
    }

    /// The next message that is not a commlab push; an error if the
    /// server closed first.
    pub fn answer(&mut self) -> anyhow::Result<String> {
        loop {
            let Some(text) = self.recv()? else {
                bail!("{} closed the connection before answering", self.url);
            };
            if !ServerMessage::parse(&text).is_push() {
                return Ok(text);
            }
        }
    }

    /// Closes politely: a close frame, then the server's answer (briefly).
    pub fn close(mut self) {
        if self.session.command(|s| s.inner_mut().close()).is_ok() {
            while let Ok(Some(_)) = self.session.next_event(CLOSE_TIMEOUT) {}
        }
    }
}

/// Asks for a sum; returns the sum as the server wrote it.
pub fn sum(client: &mut WsClient, a: &str, b: &str) -> anyhow::Result<String> {
    client.send(&sum_request(a, b))?;
    match ServerMessage::parse(&client.answer()?) {
        ServerMessage::Sum(s) => Ok(s),
        ServerMessage::Error(e) => bail!("the server says: {e}"),
        other => bail!(
            "the server did not answer with a sum (it said {}); is it `commlab ws server` in sum mode?",
            shown(&other)
        ),
    }
}

/// Says hello as the class's example 1 client does (the name as plain
/// text); returns the answer (`Ola NAME!`).
pub fn hello(client: &mut WsClient, name: &str) -> anyhow::Result<String> {
    client.send(name)?;
    read_greeting(client)
}

/// The answer to a hello: plain text from the class's server or hello
/// mode, JSON from sum mode's `{"op":"hello"}`.
fn read_greeting(client: &mut WsClient) -> anyhow::Result<String> {
    match ServerMessage::parse(&client.answer()?) {
        ServerMessage::Text(t) | ServerMessage::Greeting(t) => Ok(t),
        ServerMessage::Error(e) => bail!(
            "the server says: {e} (a plain name is answered by `commlab ws server --mode hello`)"
        ),
        other => bail!("unexpected answer {}", shown(&other)),
    }
}

/// Prints pushed messages until the server closes, or `count` came.
pub fn listen(
    client: &mut WsClient,
    count: Option<u64>,
    mut each: impl FnMut(&str),
) -> anyhow::Result<u64> {
    let mut seen = 0;
    while count.is_none_or(|c| seen < c) {
        let Some(text) = client.recv_within(None)? else {
            break;
        };
        match ServerMessage::parse(&text) {
            ServerMessage::Push(line) => each(&line),
            _ => each(&text),
        }
        seen += 1;
    }
    Ok(seen)
}

fn shown(message: &ServerMessage) -> String {
    match message {
        ServerMessage::Sum(t)
        | ServerMessage::Greeting(t)
        | ServerMessage::Push(t)
        | ServerMessage::Error(t)
        | ServerMessage::Text(t) => format!("\"{t}\""),
    }
}

/// Runs `commlab ws client`.
pub fn run_client(args: &ClientArgs) -> anyhow::Result<()> {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| args.request.default_url().to_owned());
    let mut client = WsClient::connect_traced(&url, args.trace, &args.tls)?;
    // As the class's client: connected first, then the name is asked.
    let name = match &args.request {
        ClientRequest::Hello { name: Some(n) } => Some(n.clone()),
        ClientRequest::Hello { name: None } => {
            print!("Qual seu nome? ");
            std::io::stdout().flush()?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            Some(line.trim_end_matches(['\r', '\n']).to_owned())
        }
        _ => None,
    };
    match &args.request {
        ClientRequest::Sum { a, b } => println!("{}", sum(&mut client, a, b)?),
        ClientRequest::Hello { .. } => {
            let name = name.unwrap_or_default();
            client.send(&name)?;
            println!("> {name}");
            println!("< {}", read_greeting(&mut client)?);
        }
        ClientRequest::Listen { count } => {
            listen(&mut client, *count, |line| {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            })?;
        }
    }
    client.close();
    Ok(())
}
