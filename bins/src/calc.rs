//! Exercise 6: `commlab calc server` (the class's REST Calc API, offline)
//! and `commlab calc client` (the class's client, over ureq with HTTPS).

use std::io::{BufRead as _, Write as _};
use std::time::Duration;

use crate::http_client::HttpLink;
use crate::tls::TlsClientArgs;
use anyhow::{bail, Context as _};
use commlab_core::calc::{
    parse_answer, parse_int, request_url, Answer, CalcHandler, CalcServer, Op,
};
use commlab_core::http1::HttpServer;
use commlab_core::trace::Wire;

use crate::{log_time, Engine, ServeArgs, Server, Stop};

/// The class's port for a local calc server (Chalice's `chalice local`).
pub const PORT: u16 = 8000;
/// The address the local calc server listens on by default.
pub const HOST: &str = "127.0.0.1";
/// The class's deployed API.
pub const CLASS_URL: &str = "https://mrl0vy3w26.execute-api.sa-east-1.amazonaws.com/api";
/// Largest answer body read.
pub const MAX_ANSWER: u64 = 64 * 1024;

/// Options of `commlab calc server`.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("host", |a| a.default_value(HOST)), mut_arg("port", |a| a.default_value("8000")))]
pub struct ServerArgs {
    /// Listening options.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Limits on slow clients.
    #[command(flatten)]
    pub slow: crate::serve::SlowClientArgs,
    /// Path prefix of the routes (the deployed API's stage is /api).
    #[arg(long, default_value = "/api")]
    pub prefix: String,
}

/// Options of `commlab calc client`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Base URL of the API.
    #[arg(long, env = "COMMLAB_CALC_URL", default_value = CLASS_URL)]
    pub base_url: String,
    /// Print the raw JSON answer.
    #[arg(long, conflicts_with = "value")]
    pub json: bool,
    /// Print only the number (for scripts).
    #[arg(long)]
    pub value: bool,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Show the request and response as they cross the wire, on stderr
    /// (over HTTPS, the plaintext and the handshake).
    #[arg(long)]
    pub trace: bool,
    /// Whom to trust for `https://` URLs.
    #[command(flatten)]
    pub tls: TlsClientArgs,
    /// Operation: soma, sub, div or mult (asked for when missing).
    pub op: Option<String>,
    /// First integer.
    #[arg(allow_hyphen_values = true)]
    pub a: Option<String>,
    /// Second integer.
    #[arg(allow_hyphen_values = true)]
    pub b: Option<String>,
}

/// Starts the calc server on `listener`.
pub fn start(
    engine: Engine,
    listener: std::net::TcpListener,
    prefix: &str,
    on_event: impl FnMut(commlab_core::http1::HttpEvent) + Send + 'static,
) -> std::io::Result<Server<CalcServer>> {
    Server::start(
        engine,
        listener,
        HttpServer::new(CalcHandler::new(prefix)),
        on_event,
    )
}

/// [`start`] on `loops` event loops of `engine` (one on std), each with
/// its own calc service; each loop's events go to a clone of `on_event`.
pub fn start_loops(
    engine: Engine,
    listener: std::net::TcpListener,
    loops: usize,
    prefix: &str,
    on_event: impl FnMut(commlab_core::http1::HttpEvent) + Send + Clone + 'static,
) -> std::io::Result<Server<CalcServer>> {
    let service = || HttpServer::new(CalcHandler::new(prefix));
    Server::start_each(engine, listener, loops, service, on_event)
}

/// Runs `commlab calc server` until Ctrl-C.
pub fn run_server(args: &ServerArgs) -> anyhow::Result<()> {
    let stop = Stop::on_ctrl_c()?;
    let listener = args.serve.bind(HOST, PORT)?;
    let quiet = args.serve.quiet;
    let service = || {
        HttpServer::new(CalcHandler::new(&args.prefix))
            .with_http(args.slow.http_config())
            .report_served(!quiet)
    };
    let on_event = move |_: &mut _, e| {
        if !(quiet && matches!(e, commlab_core::http1::HttpEvent::Served { .. })) {
            eprintln!("{}", crate::rpc::access_log(&e, &log_time()));
        }
    };
    let tracer = args.serve.tracer(Wire::Http);
    let (server, tls) = args
        .serve
        .start_loops(listener, || (service(), on_event), tracer)?;
    let addr = server.local_addr();
    let scheme = if tls { "https" } else { "http" };
    eprintln!(
        "[commlab] REST calc at {scheme}://{addr}{}/soma|sub|mult|div/A/B (try: commlab calc client --base-url {scheme}://{addr}{}). Ctrl-C stops.",
        args.prefix.trim_end_matches('/'),
        args.prefix.trim_end_matches('/')
    );
    stop.serve(&server, "")
}

/// One call of the API: the answer, and the raw body for `--json`;
/// `trace` shows its wire.
pub fn call(
    base: &str,
    op: Op,
    a: &str,
    b: &str,
    timeout: Duration,
    trace: bool,
    tls: &TlsClientArgs,
) -> anyhow::Result<(Answer, String)> {
    let url = request_url(base, op, a, b);
    let mut link = HttpLink::new(&url, timeout, MAX_ANSWER, trace, tls)?;
    let path = link.path().to_owned();
    let resp = link.request("GET", &path, None, b"")?;
    let answer =
        parse_answer(resp.status, &resp.body).with_context(|| format!("{url} answered badly"))?;
    Ok((answer, String::from_utf8_lossy(&resp.body).into_owned()))
}

fn ask(prompt: &str) -> anyhow::Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("end of input");
    }
    Ok(line.trim().to_owned())
}

/// Runs `commlab calc client`: one-shot with OP A B, else the class's
/// interactive client with its exact prompts.
pub fn run_client(args: &ClientArgs) -> anyhow::Result<()> {
    let interactive = args.op.is_none();
    let op_text = match &args.op {
        Some(op) => op.clone(),
        None => ask("Informe a operação: [soma] [sub] [div] [mult]")?,
    };
    let op = Op::parse(op_text.trim())?;
    if interactive {
        println!("operação: {op}");
    }
    let a = match &args.a {
        Some(a) => a.clone(),
        None => ask("Informe o valor 1: ")?,
    };
    let b = match &args.b {
        Some(b) => b.clone(),
        None => ask("Informe o valor 2: ")?,
    };
    parse_int(&a)?;
    parse_int(&b)?;
    let (answer, raw) = call(
        &args.base_url,
        op,
        &a,
        &b,
        Duration::from_secs(args.timeout),
        args.trace,
        &args.tls,
    )?;
    if args.json {
        println!("{raw}");
    } else if args.value {
        println!("{}", answer.value);
    } else {
        println!("{}", answer.python_dict());
    }
    if interactive {
        println!("Fim...");
    }
    Ok(())
}
