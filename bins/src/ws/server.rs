//! `commlab ws server`: the page and the WebSocket on one port, in one of
//! three modes; console lines become pushes.

use std::sync::Arc;

use commlab_core::trace::{Side, Wire};
use commlab_core::ws::{WsEvent, WsMode, WsServer};

use super::{Mode, HOST};
use crate::terminal::Terminal;
use crate::{Engine, ServeArgs, Server, Stop};

/// Options of `commlab ws server`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    mut_arg("host", |a| a.default_value(HOST)),
    mut_arg("port", |a| a.help("Port to listen on (0 picks a free one) [default: 8765 in hello mode, else 5678, as in class]"))
)]
pub struct ServerArgs {
    /// What the server says: `sum` (the exercise: sums, the page, JSON
    /// pushes), `hello` (the class's example 1: a name NAME answered with
    /// `Ola NAME!`), `push` (the class's example 2: each console line sent
    /// to every client as plain text).
    #[arg(long, value_enum, default_value_t = Mode::Sum)]
    pub mode: Mode,
    /// Listening options.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Limits on slow clients (of the page and the upgrade request).
    #[command(flatten)]
    pub slow: crate::serve::SlowClientArgs,
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
        WsEvent::Message {
            conn,
            text,
            reply: Some(reply),
        } => format!("page {conn}: {text} -> {reply}"),
        WsEvent::Message {
            conn,
            text,
            reply: None,
        } => format!("page {conn} sent {text} (this mode answers nothing)"),
        WsEvent::Closed {
            conn, code, reason, ..
        } => match code {
            Some(c) => format!("page {conn} closed ({c}): {reason}"),
            None => format!("page {conn} closed: {reason}"),
        },
    }
}

/// Starts the sum server (the exercise) on `listener`; events go to `on_event`.
pub fn start(
    engine: Engine,
    listener: std::net::TcpListener,
    on_event: impl FnMut(WsEvent) + Send + 'static,
) -> std::io::Result<Server<WsServer>> {
    start_mode(engine, listener, WsMode::Sum, on_event)
}

/// Starts a server speaking `mode` on `listener`; events go to `on_event`.
pub fn start_mode(
    engine: Engine,
    listener: std::net::TcpListener,
    mode: WsMode,
    on_event: impl FnMut(WsEvent) + Send + 'static,
) -> std::io::Result<Server<WsServer>> {
    Server::start(engine, listener, WsServer::with_mode(mode), on_event)
}

/// [`start_mode`] on `loops` event loops of `engine` (one on std), each
/// with its own server; each loop's events go to a clone of `on_event`.
pub fn start_loops(
    engine: Engine,
    listener: std::net::TcpListener,
    loops: usize,
    mode: WsMode,
    on_event: impl FnMut(WsEvent) + Send + Clone + 'static,
) -> std::io::Result<Server<WsServer>> {
    Server::start_each(
        engine,
        listener,
        loops,
        || WsServer::with_mode(mode),
        on_event,
    )
}

/// Runs `commlab ws server` until Ctrl-C: console lines become pushes
/// (sum and push modes).
pub fn run_server(args: &ServerArgs) -> anyhow::Result<()> {
    let stop = Stop::on_ctrl_c()?;
    let mode = args.mode.core();
    let listener = args.serve.bind(HOST, args.mode.default_port())?;
    let terminal = Terminal::new();
    let printer = terminal.printer();
    let log = printer.clone();
    let quiet = args.serve.quiet;
    let hello = mode == WsMode::Hello;
    let service = || {
        WsServer::with_mode(mode)
            .with_http(args.slow.http_config())
            .report_messages(!quiet || hello)
    };
    let on_event = move |_: &mut WsServer, e: WsEvent| match &e {
        WsEvent::Message {
            text,
            reply: Some(reply),
            ..
        } if hello => {
            // The class's example 1 prints each exchange this way.
            log.line(&format!("< {text}"));
            log.line(&format!("> {reply}"));
        }
        WsEvent::Rejected { .. } => log.error(&format!("[commlab] {}", describe(&e))),
        _ if !quiet => log.error(&format!("[commlab] {}", describe(&e))),
        _ => {}
    };
    let trace_to = printer.clone();
    let tracer = crate::serve::tracer_to(args.serve.trace, Wire::Http, Side::Server, move |t| {
        trace_to.error(t)
    });
    let (server, tls) =
        args.serve
            .start_loops(listener, || (service(), on_event.clone()), tracer)?;
    let addr = server.local_addr();
    let (http, ws) = if tls {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    match mode {
        WsMode::Sum => {
            printer.line(&format!("page: {http}://{addr}/ (WebSocket on {ws}://{addr}/)"));
            printer.error("[commlab] open the page in a browser; lines typed here are pushed to every open page. Ctrl-C stops.");
        }
        WsMode::Hello => printer.error(&format!(
            "[commlab] example 1 on {ws}://{addr}/: each message NAME is answered with \"Ola NAME!\". Ctrl-C stops."
        )),
        WsMode::Push => printer.error(&format!(
            "[commlab] example 2 on {ws}://{addr}/: each line typed here goes to every client as plain text. Ctrl-C stops."
        )),
    }
    let server = Arc::new(server);
    if !hello {
        let console = Arc::clone(&server);
        stop.console(terminal, "Mensagem: ", move |line| {
            // Every loop pushes to its pages; the last one reports the total.
            let report = printer.clone();
            let pushed = console.post_all_then(
                move |s, now| s.push(now, &line),
                move |n| {
                    let n: usize = n.iter().sum();
                    report.error(&format!("[commlab] pushed to {n} client(s)"));
                },
            );
            if let Err(e) = pushed {
                printer.error(&format!("error: {e}"));
            }
        })?;
    }
    stop.serve(&server, "")
}
