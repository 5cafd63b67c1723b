//! Exercise 1: `commlab chat server` and `commlab chat client`.

use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use commlab_core::chat::{
    ChatConfig, ChatEvent, ChatMode, ClientEvent, ConsoleError, SendError, ShardEvent,
};
use commlab_core::nats::{BrokerLink, Linked};
use commlab_core::tls::TlsClientEvent;
use commlab_core::trace::{Side, Wire};
use commlab_core::{ChatClient, ChatServer};
use commlab_std::Connection;

use crate::room_link::{describe_federation, describe_link, RoomLinkArgs};
use crate::terminal::{Input, Printer, Terminal};
use crate::tls::LayeredSession;
use crate::{python_addr, ConnectArgs, ServeArgs, ServerLine, Stop};

/// The class's port for the socket exercise.
pub const PORT: u16 = 50009;
/// The class's address for the socket exercise.
pub const HOST: &str = "127.0.0.1";

/// The server's behaviour, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The exercise: you and one client talk in full duplex; the client speaks first.
    Chat,
    /// The class example: every line is answered with `Eco=><line>`.
    Echo,
    /// Many clients; every line goes to everyone else, prefixed with the sender's name.
    Room,
}

impl From<Mode> for ChatMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Chat => Self::Chat,
            Mode::Echo => Self::Echo,
            Mode::Room => Self::Room,
        }
    }
}

/// Options of `commlab chat server`.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("host", |a| a.default_value(HOST)), mut_arg("port", |a| a.default_value("50009")))]
pub struct ServerArgs {
    /// Listening options.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// What the server does with lines.
    #[arg(long, value_enum, default_value_t = Mode::Chat)]
    pub mode: Mode,
    /// Disconnect a client silent for this many seconds (0: never).
    #[arg(long, default_value_t = 900, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Bytes without a newline count as a line after this many quiet
    /// milliseconds, so the class's Python client (which sends no newline)
    /// works unchanged (0: only newlines end lines).
    #[arg(long, default_value_t = 200, value_name = "MS")]
    pub quiet_flush_ms: u64,
    /// Most clients at once.
    #[arg(long, default_value_t = commlab_core::chat::MAX_CLIENTS)]
    pub max_clients: usize,
    /// Room mode: do not announce joins, leaves and renames (for very large rooms).
    #[arg(long)]
    pub no_notices: bool,
    /// A room across servers.
    #[command(flatten)]
    pub link: RoomLinkArgs,
}

impl ServerArgs {
    /// The core settings these options describe.
    pub fn config(&self) -> ChatConfig {
        let mut cfg = ChatConfig::new(self.mode.into());
        cfg.idle_timeout = (self.idle_timeout > 0).then(|| Duration::from_secs(self.idle_timeout));
        cfg.quiet_flush =
            (self.quiet_flush_ms > 0).then(|| Duration::from_millis(self.quiet_flush_ms));
        cfg.max_clients = self.max_clients;
        cfg.notices = !self.no_notices;
        cfg
    }
}

/// Options of `commlab chat client`.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("port", |a| a.required(false).default_value("50009")))]
pub struct ClientArgs {
    /// Where the server is.
    #[command(flatten)]
    pub server: ConnectArgs,
}

/// How the server's terminal shows an event, as the class's server does.
pub fn describe(mode: ChatMode, event: &ChatEvent) -> ServerLine {
    match event {
        ChatEvent::Connected { peer, nick, .. } => match mode {
            ChatMode::Room => ServerLine::Out(format!(
                "Server conectado por {} ({nick})",
                python_addr(*peer)
            )),
            _ => ServerLine::Out(format!("Server conectado por {}", python_addr(*peer))),
        },
        ChatEvent::Received { nick, line, .. } => match mode {
            ChatMode::Room => ServerLine::Out(format!("{nick}: {line}")),
            _ => ServerLine::Out(format!("Cliente enviou: {line}")),
        },
        ChatEvent::Renamed { old, new, .. } => ServerLine::Out(format!("* {old} is now {new}")),
        ChatEvent::Refused { conn, peer, reason } => {
            ServerLine::Log(format!("refused connection {conn} from {peer}: {reason}"))
        }
        ChatEvent::BadLine { conn, error } => {
            ServerLine::Log(format!("connection {conn}: {error} (told the client)"))
        }
        ChatEvent::Disconnected { conn, nick, reason } => {
            ServerLine::Log(format!("connection {conn} ({nick}) closed: {reason}"))
        }
        ChatEvent::Federation(e) => ServerLine::Log(describe_federation(e).unwrap_or_default()),
        // The sharded room's requests, answered by its application.
        ChatEvent::Shard(e) => ServerLine::Log(match e {
            ShardEvent::Batch(b) => format!("{} bytes of room lines for the other loops", b.len()),
            ShardEvent::Released { nick } => format!("the name {nick} is let go"),
            ShardEvent::ClaimName { conn, new, .. } => format!("connection {conn} asks for {new}"),
            ShardEvent::Who { conn } => format!("connection {conn} asks who is in the room"),
            ShardEvent::ClaimPartner { conn } => {
                format!("connection {conn} asks for the conversation")
            }
            ShardEvent::PartnerLeft { conn } => format!("connection {conn} ended the conversation"),
        }),
    }
}

fn show(printer: &Printer, line: ServerLine) {
    match line {
        ServerLine::Out(text) => printer.line(&text),
        ServerLine::Log(text) => printer.error(&format!("[commlab] {text}")),
    }
}

/// Prints a server event as the class's server does (routine ones only
/// without `--quiet`).
fn print_event(printer: &Printer, mode: ChatMode, quiet: bool, event: &ChatEvent) {
    let routine = matches!(
        event,
        ChatEvent::Connected { .. }
            | ChatEvent::Received { .. }
            | ChatEvent::Renamed { .. }
            | ChatEvent::Disconnected { .. }
    );
    if !(quiet && routine) {
        show(printer, describe(mode, event));
    }
}

/// Runs `commlab chat server` until Ctrl-C.
pub fn run_server(args: &ServerArgs) -> anyhow::Result<()> {
    let cfg = args.config();
    let mode = cfg.mode;
    let seeds = args.link.seeds()?;
    if !seeds.is_empty() && mode != ChatMode::Room {
        anyhow::bail!("--nats links rooms: add --mode room");
    }
    // Echo shares nothing between connections; the room and the 1:1 chat
    // spread across loops as one; a room linked to other servers keeps
    // one state on one loop.
    let shardable = seeds.is_empty();
    let loops = args.serve.loops(shardable)?;
    let stop = Stop::on_ctrl_c()?;
    let listener = args.serve.bind(HOST, PORT)?;
    let terminal = Terminal::new();
    let printer = terminal.printer();
    let trace_to = printer.clone();
    let tracer = crate::serve::tracer_to(args.serve.trace, Wire::Lines, Side::Server, move |t| {
        trace_to.error(t)
    });
    let quiet = args.serve.quiet;
    if mode != ChatMode::Echo && loops > 1 {
        let events = printer.clone();
        let show = move |_: &mut ChatServer, e: ChatEvent| print_event(&events, mode, quiet, &e);
        let (server, _) =
            args.serve
                .start_with(listener, tracer, |engine, listeners, loops, tracer, tls| {
                    crate::room_shards::start(engine, listeners, loops, &cfg, show, tracer, tls)
                })?;
        return console_and_serve(stop, terminal, server, mode, |room| room, true);
    }
    let (room, name) = if seeds.is_empty() {
        (ChatServer::new(cfg.clone()), String::new())
    } else {
        let port = listener.addrs().first().map_or(PORT, |a| a.port());
        let fed = args.link.federation(port);
        let room = ChatServer::federated(cfg.clone(), &fed)?;
        eprintln!(
            "[commlab] room {} across servers, this one {}, through the broker at {}",
            fed.room,
            fed.server,
            args.link.nats.join(", ")
        );
        let name = format!("commlab room {} server {}", fed.room, fed.server);
        (room, name)
    };
    let events = printer.clone();
    let on_event = move |_: &mut BrokerLink<ChatServer>, e| match e {
        Linked::Link(e) => {
            if let Some(text) = describe_link(&e) {
                show(&events, ServerLine::Log(text));
            }
        }
        Linked::Inner(ChatEvent::Federation(e)) => {
            if let Some(text) = describe_federation(&e) {
                show(&events, ServerLine::Log(text));
            }
        }
        Linked::Inner(e) => print_event(&events, mode, quiet, &e),
    };
    let service = BrokerLink::new(room, seeds, &name);
    let (server, _) = if mode == ChatMode::Echo {
        let mut first = Some(service);
        let make = || {
            let service = first
                .take()
                .unwrap_or_else(|| BrokerLink::new(ChatServer::new(cfg.clone()), Vec::new(), ""));
            (service, on_event.clone())
        };
        args.serve.start_loops(listener, make, tracer)?
    } else {
        args.serve.start(listener, service, on_event, tracer)?
    };
    console_and_serve(stop, terminal, server, mode, BrokerLink::inner_mut, false)
}

/// Says what the console does in `mode`, types the operator's lines into
/// the room (or the conversation) and serves until stopped. `sharded`:
/// the loops are one room or conversation, so a 1:1 chat line goes to
/// every loop (the one holding the client sends it) and a room line to
/// the first (its batch reaches the others).
fn console_and_serve<S>(
    stop: Stop,
    terminal: Terminal,
    server: crate::Server<S>,
    mode: ChatMode,
    room: fn(&mut S) -> &mut ChatServer,
    sharded: bool,
) -> anyhow::Result<()>
where
    S: commlab_core::Service + Send + 'static,
    S::Event: Send,
{
    let printer = terminal.printer();
    printer.error(match mode {
        ChatMode::Chat => {
            "[commlab] chat mode: the client speaks first; then type lines to answer. Ctrl-C stops."
        }
        ChatMode::Echo => {
            "[commlab] echo mode: every line is answered with Eco=><line>. Ctrl-C stops."
        }
        ChatMode::Room => {
            "[commlab] room mode: lines you type go to every client as 'server: ...'. Ctrl-C stops."
        }
    });
    let server = std::sync::Arc::new(server);
    let console_server = std::sync::Arc::clone(&server);
    // The console never waits on a loop: the loop that sends the line (or
    // the last one to try) reports an error itself.
    stop.console(terminal, "", move |line| {
        let report = printer.clone();
        let posted = if sharded && mode == ChatMode::Chat {
            console_server.post_all_then(
                move |s, now| room(s).console_line(now, &line),
                move |results| {
                    if let Err(e) = first_delivery(results) {
                        report.error(&format!("error: {e}"));
                    }
                },
            )
        } else {
            console_server.post(move |s, now| {
                if let Err(e) = room(s).console_line(now, &line) {
                    report.error(&format!("error: {e}"));
                }
            })
        };
        if let Err(e) = posted {
            printer.error(&format!("error: {e}"));
        }
    })?;
    stop.serve(&server, "")
}

/// What the operator is told of a 1:1 chat line tried on every loop: sent
/// if one loop sent it, else the loop that holds a client that has not
/// spoken yet says so, else nobody is there.
fn first_delivery(results: Vec<Result<usize, ConsoleError>>) -> Result<usize, ConsoleError> {
    let mut outcome = Err(ConsoleError::NoClient);
    for result in results {
        match result {
            Ok(n) => return Ok(n),
            Err(ConsoleError::NoClient) => {}
            Err(e) => outcome = Err(e),
        }
    }
    outcome
}

/// Connects to a chat server, with a clear message when nobody listens.
pub fn connect(host: &str, port: u16) -> anyhow::Result<TcpStream> {
    TcpStream::connect((host, port)).with_context(|| {
        format!("cannot connect to {host}:{port} (is the server running? start it with `commlab chat server`)")
    })
}

/// Runs `commlab chat client` until end of input or the server closes.
pub fn run_client(args: &ClientArgs) -> anyhow::Result<()> {
    let tls = args.server.client_tls()?;
    let stream = connect(&args.server.host, args.server.port)?;
    let mut terminal = Terminal::new();
    let printer = terminal.printer();
    let trace_to = printer.clone();
    let tracer = crate::serve::tracer_to(args.server.trace, Wire::Lines, Side::Client, move |t| {
        trace_to.error(t)
    });
    let (session, tracer) = LayeredSession::new(ChatClient::default(), tls.as_ref(), tracer)?;
    let conn = Connection::new(stream, session)?;
    if let Some(t) = tracer {
        conn.trace(t);
    }
    let server = format!("{}:{}", args.server.host, args.server.port);
    let reader = conn.clone();
    let (done, finished) = mpsc::channel::<anyhow::Result<()>>();
    std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let mut outcome = Ok(());
            let result = reader.run(|event| match event {
                TlsClientEvent::Inner(ClientEvent::Line(line)) => {
                    printer.line(&format!("Server recebeu: {line}"))
                }
                TlsClientEvent::Inner(ClientEvent::BadLine(e)) => {
                    printer.error(&format!("[commlab] skipped a line from the server: {e}"))
                }
                TlsClientEvent::Inner(ClientEvent::Closed(None)) => {
                    printer.error("[commlab] the server closed the connection")
                }
                TlsClientEvent::Inner(ClientEvent::Closed(Some(e))) => {
                    outcome = Err(anyhow::anyhow!("the server sent a bad line: {e}"));
                }
                TlsClientEvent::Established(_) => {}
                TlsClientEvent::Failed(e) => {
                    outcome = Err(anyhow::anyhow!("TLS with {server} failed: {e}"));
                }
            });
            let _ = done.send(result.context("connection lost").and(outcome));
        })
        .context("cannot start the reader thread")?;
    let ctrl = conn.clone();
    let _ = ctrlc::set_handler(move || ctrl.abort());

    let input_done = {
        let printer = terminal.printer();
        let conn = conn.clone();
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("input".into())
            .spawn(move || {
                loop {
                    if !terminal.is_interactive() {
                        printer.line("Digite uma mensagem");
                    }
                    let prompt = "Digite uma mensagem\n> ";
                    match terminal.read_line(prompt) {
                        Ok(Input::Line(line)) => {
                            match conn.command(|c| c.inner_mut().send_line(&line)) {
                                Ok(Ok(())) => {}
                                // The reader says why (the server closed,
                                // TLS failed): one error line, not two.
                                Ok(Err(SendError::Closed)) | Err(_) => break,
                                Ok(Err(e)) => printer.error(&format!("error: {e}")),
                            }
                        }
                        Ok(Input::Eof) => {
                            let _ = conn.command(|c| c.inner_mut().finish());
                            break;
                        }
                        Ok(Input::Interrupted) | Err(_) => {
                            conn.abort();
                            break;
                        }
                    }
                }
                let _ = tx.send(());
            })
            .context("cannot start the input thread")?;
        rx
    };
    // The session ends when the server closes; after our end of input we
    // wait a little for the last replies.
    loop {
        if let Ok(result) = finished.recv_timeout(Duration::from_millis(100)) {
            return result;
        }
        if input_done.try_recv().is_ok() {
            return finished
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or(Ok(()));
        }
    }
}
