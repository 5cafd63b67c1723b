//! What every server command shares: the listening options, the lines a
//! server prints, and the run until Ctrl-C (with an operator's console for
//! the servers that have one).

use std::sync::mpsc::{self, Receiver, Sender};

use anyhow::Context as _;
use commlab_core::trace::{Side, Tracer, Wire};

use crate::terminal::{spawn_console, Terminal};
use crate::tls::{ClientTls, ServerTls, TlsClientArgs, TlsServerArgs};
use crate::{Engine, Listeners, Server};

/// Options every server command takes (`#[command(flatten)]`); each
/// command gives `--host` and `--port` its exercise's class defaults with
/// [`ServeArgs::bind`].
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. The exercise's default and `localhost` listen
    /// on both 127.0.0.1 and ::1 at one port, so a client that dials
    /// `localhost` is answered on whichever address it tries first
    /// (Windows tries ::1 first); any other address is used alone.
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on (0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Which driver runs the server.
    #[arg(long, value_enum, default_value_t = Engine::Std)]
    pub engine: Engine,
    /// The most connections held at once, counting those still opening a
    /// request and those closed but lingering (at most 2 s); past it a new
    /// connection is closed as soon as it is accepted [default: 10000 on
    /// std, 100000 on mio].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Event loops of the mio engine, each on its own thread [default:
    /// the machine's cores on mio; 1 with --trace, which follows one
    /// loop, and for a room linked to other servers (--nats), which keeps
    /// one shared state]. The std engine runs a thread per connection
    /// instead.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// How connections reach the event loops: `handoff`, the first loop
    /// accepting for all and handing each to the loop holding the fewest,
    /// or `reuseport`, a listener per loop (SO_REUSEPORT, Linux), the
    /// kernel spreading connections by a hash of their addresses (where
    /// it cannot, the hand-off is used and the server says so).
    #[arg(long, value_enum, default_value_t = AcceptMode::Handoff)]
    pub accept: AcceptMode,
    /// Log only problems (refusals, errors), not every connection,
    /// request, message or transfer (for benchmarks and busy servers); the
    /// class's own terminal text is printed regardless.
    #[arg(long, short)]
    pub quiet: bool,
    /// Show every protocol unit as it crosses the wire, on stderr
    /// (`> sent`, `< received`, the time since start, the connection).
    #[arg(long)]
    pub trace: bool,
    /// TLS (`--tls-cert/--tls-key` or `--tls-self-signed`).
    #[command(flatten)]
    pub tls: TlsServerArgs,
}

/// `--accept`: how connections reach the event loops (see
/// [`commlab_mio::Accept`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AcceptMode {
    /// The first loop accepts and hands each connection to the loop holding the fewest.
    Handoff,
    /// A listener per loop (SO_REUSEPORT); the kernel spreads connections.
    Reuseport,
}

impl ServeArgs {
    /// The TLS set-up asked for (`None`: plaintext), its summary printed
    /// on stderr.
    pub fn tls(&self) -> anyhow::Result<Option<ServerTls>> {
        let tls = self.tls.load()?.map(|mut t| {
            t.quiet = self.quiet;
            t
        });
        for line in tls.iter().flat_map(|t| &t.summary) {
            eprintln!("[commlab] {line}");
        }
        Ok(tls)
    }

    /// The tracer `--trace` asks for, decoding `wire` on the server side.
    pub fn tracer(&self, wire: Wire) -> Option<Tracer> {
        tracer(self.trace, wire, Side::Server)
    }

    /// Starts `service` on `listeners` on the engine asked for, behind the
    /// TLS asked for, `tracer` showing the wire, and prints `listening on`
    /// for each address.
    /// Returns the server and whether it speaks TLS.
    pub fn start<S>(
        &self,
        listeners: Listeners,
        service: S,
        on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
        tracer: Option<Tracer>,
    ) -> anyhow::Result<(Server<S>, bool)>
    where
        S: commlab_core::Service + Send + 'static,
        S::Event: Send,
    {
        self.loops(false)?;
        let tls = self.tls()?;
        let server = Server::start_layered(
            self.engine,
            listeners,
            service,
            on_event,
            tracer,
            tls.as_ref(),
        )
        .context("cannot start the server")?;
        crate::announce_listening(server.local_addrs());
        Ok((server, tls.is_some()))
    }

    /// How many event loops to run: `--threads`, else the default (see
    /// its help). `shardable` says whether the server can run on several
    /// (its connections share no state, or share it through commands to
    /// every loop). Errors name the option to change.
    pub fn loops(&self, shardable: bool) -> anyhow::Result<usize> {
        let asked = self.threads.map(usize::from);
        if asked.is_some() && self.engine == Engine::Std {
            anyhow::bail!(
                "--threads is for --engine mio; the std engine runs a thread per connection"
            );
        }
        if asked.is_some_and(|n| n > 1) {
            if self.trace {
                anyhow::bail!("--trace follows one event loop: use --threads 1 with it");
            }
            if !shardable {
                anyhow::bail!(
                    "this server keeps one shared state (a room linked to other servers) on one event loop: use --threads 1"
                );
            }
        }
        Ok(match asked {
            Some(n) => n,
            None if self.engine == Engine::Std || self.trace || !shardable => 1,
            None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        })
    }

    /// [`start`](Self::start) on as many event loops as
    /// [`loops(true)`](Self::loops) says, each with the service and
    /// application `make` returns (called once per loop).
    pub fn start_loops<S, A>(
        &self,
        listeners: Listeners,
        mut make: impl FnMut() -> (S, A),
        tracer: Option<Tracer>,
    ) -> anyhow::Result<(Server<S>, bool)>
    where
        S: commlab_core::Service + Send + 'static,
        S::Event: Send,
        A: commlab_core::App<S> + 'static,
    {
        self.start_with(
            listeners,
            tracer,
            |engine, listeners, loops, tracer, tls| {
                Server::start_loops(engine, listeners, loops, |_| Ok(make()), tracer, tls)
            },
        )
    }

    /// [`start_loops`](Self::start_loops) with the server started by
    /// `start(engine, listeners, loops, tracer, tls)`: for a server whose
    /// loops share more than a closure can (the sharded chat room).
    pub fn start_with<S>(
        &self,
        listeners: Listeners,
        tracer: Option<Tracer>,
        start: impl FnOnce(
            crate::Engine,
            Listeners,
            usize,
            Option<Tracer>,
            Option<&crate::tls::ServerTls>,
        ) -> std::io::Result<Server<S>>,
    ) -> anyhow::Result<(Server<S>, bool)>
    where
        S: commlab_core::Service + Send + 'static,
        S::Event: Send,
    {
        let loops = self.loops(true)?;
        let tls = self.tls()?;
        let server = start(self.engine, listeners, loops, tracer, tls.as_ref())
            .context("cannot start the server")?;
        crate::announce_listening(server.local_addrs());
        announce_loops(server.loops(), server.accepts_per_loop());
        Ok((server, tls.is_some()))
    }

    /// The host asked for, else `default`.
    pub fn host_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.host.as_deref().unwrap_or(default)
    }

    /// Listens on the host and port asked for, else the exercise's `host`
    /// and `port`; the exercise's default host (127.0.0.1 or `localhost`,
    /// as the class's server has it) and `localhost` mean both loopbacks.
    pub fn bind(&self, host: &str, port: u16) -> anyhow::Result<Listeners> {
        let port = self.port.unwrap_or(port);
        let asked = self.host_or(host);
        let reuse_port = self.accept == AcceptMode::Reuseport && self.engine == Engine::Mio;
        if reuse_port && !cfg!(unix) {
            eprintln!(
                "[commlab] --accept reuseport needs SO_REUSEPORT, which this system has not: the first loop hands connections out"
            );
        }
        let listeners = if asked == host || crate::listen::is_localhost(asked) {
            crate::listen::bind_loopbacks_with(port, reuse_port)?
        } else {
            crate::listen::bind_with(asked, port, reuse_port)?
        };
        let cap = self
            .max_connections
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok(listeners.with_max_connections(cap))
    }
}

/// The limits an HTTP server (calc, rpc, ws) puts on slow clients
/// (`#[command(flatten)]`), against slowloris: a head must be whole within
/// a time of its first byte, a body must keep up a rate.
#[derive(Debug, Clone, clap::Args)]
pub struct SlowClientArgs {
    /// Seconds a request's head has, from its first byte, to be complete
    /// (then 408), however slowly its bytes come.
    #[arg(long, value_name = "SECS", default_value_t = commlab_core::http1::HEAD_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub head_timeout: u64,
    /// Seconds a request's body has after its head before it must keep
    /// up --body-min-rate.
    #[arg(long, value_name = "SECS", default_value_t = commlab_core::http1::BODY_GRACE.as_secs())]
    pub body_grace: u64,
    /// Slowest average, in bytes per second, a body may come at once
    /// --body-grace has passed (then 408).
    #[arg(long, value_name = "BYTES", default_value_t = commlab_core::http1::MIN_BODY_RATE, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_min_rate: u64,
    /// Seconds of silence allowed in the middle of a request (then 408).
    #[arg(long, value_name = "SECS", default_value_t = commlab_core::http1::REQUEST_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
}

impl SlowClientArgs {
    /// These limits over core's defaults for everything else.
    pub fn http_config(&self) -> commlab_core::http1::HttpConfig {
        use std::time::Duration;
        commlab_core::http1::HttpConfig {
            head_timeout: Duration::from_secs(self.head_timeout),
            body_grace: Duration::from_secs(self.body_grace),
            min_body_rate: self.body_min_rate,
            request_timeout: Duration::from_secs(self.request_timeout),
            ..commlab_core::http1::HttpConfig::default()
        }
    }
}

/// Where a client command connects (`#[command(flatten)]`); each command
/// gives `--port` its exercise's class default.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long)]
    pub port: u16,
    /// Show every protocol unit as it crosses the wire, on stderr
    /// (`> sent`, `< received`, the time since start).
    #[arg(long, global = true)]
    pub trace: bool,
    /// Speak TLS to the server (one started with --tls-self-signed or
    /// --tls-cert/--tls-key).
    #[arg(long, global = true)]
    pub tls: bool,
    /// Whom to trust, and the name to check, with --tls.
    #[command(flatten)]
    pub trust: TlsClientArgs,
}

impl ConnectArgs {
    /// The TLS set-up `--tls` asks for (`None`: plaintext).
    pub fn client_tls(&self) -> anyhow::Result<Option<ClientTls>> {
        if !self.tls {
            if self.trust.ca.is_some() || self.trust.tls_server_name.is_some() {
                anyhow::bail!("--ca and --tls-server-name apply to TLS connections: add --tls");
            }
            return Ok(None);
        }
        self.trust.client(&self.host).map(Some)
    }
}

/// A tracer printing each entry on stderr, when `on`.
pub fn tracer(on: bool, wire: Wire, side: Side) -> Option<Tracer> {
    tracer_to(on, wire, side, |text| eprintln!("{text}"))
}

/// A tracer handing each entry, as text, to `print` (a terminal's printer,
/// so a line being typed is not garbled), when `on`.
pub fn tracer_to(
    on: bool,
    wire: Wire,
    side: Side,
    print: impl Fn(&str) + Send + 'static,
) -> Option<Tracer> {
    on.then(|| {
        Tracer::new(
            wire,
            side,
            std::time::Instant::now(),
            Box::new(move |entry| print(&entry.to_string())),
        )
    })
}

/// A line a server prints: the class's terminal text, or a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine {
    /// The class's terminal text, in Portuguese (stdout).
    Out(String),
    /// A log line in English (stderr).
    Log(String),
}

/// Says on stderr how many event loops serve, when more than one.
pub fn announce_loops(loops: usize, per_loop: bool) {
    if loops > 1 && per_loop {
        eprintln!(
            "[commlab] {loops} event loops, each accepting its own connections (SO_REUSEPORT)"
        );
    } else if loops > 1 {
        eprintln!("[commlab] {loops} event loops");
    }
}

/// Says how many connections each event loop took (at shutdown, on
/// several loops: how evenly `--accept` spread them).
pub fn report_served(served: &[u64]) {
    if served.len() > 1 {
        let each: Vec<String> = served.iter().map(u64::to_string).collect();
        eprintln!("[commlab] connections taken per loop: {}", each.join(", "));
    }
}

/// Where a server's lines go.
pub type LineSink = Box<dyn FnMut(ServerLine) + Send>;

/// One sink shared by several event loops: each call of the returned
/// function gives a sink of its own that writes, a line at a time, into
/// `sink`.
pub fn shared_sink(sink: LineSink) -> impl Fn() -> LineSink {
    let sink = std::sync::Arc::new(std::sync::Mutex::new(sink));
    move || {
        let sink = std::sync::Arc::clone(&sink);
        Box::new(move |line| {
            let mut sink = sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (*sink)(line);
        })
    }
}

/// Prints a server line as the commands do: class text on stdout, logs on
/// stderr with a `[commlab]` tag.
pub fn print_line(line: ServerLine) {
    match line {
        ServerLine::Out(text) => println!("{text}"),
        ServerLine::Log(text) => eprintln!("[commlab] {text}"),
    }
}

/// A server command's way to stop: Ctrl-C (installed before the server
/// announces itself, so an early Ctrl-C is never lost), or the end of an
/// interactive console.
#[derive(Debug)]
pub struct Stop {
    stop: Sender<&'static str>,
    stopped: Receiver<&'static str>,
}

impl Stop {
    /// Installs the Ctrl-C handler.
    pub fn on_ctrl_c() -> anyhow::Result<Self> {
        let (stop, stopped) = mpsc::channel();
        let on_signal = stop.clone();
        ctrlc::set_handler(move || {
            let _ = on_signal.send("interrupted");
        })
        .context("cannot install the Ctrl-C handler")?;
        Ok(Self { stop, stopped })
    }

    /// Reads the operator's console on its own thread, each line to
    /// `on_line`; Ctrl-D at an interactive console stops the server too.
    pub fn console(
        &self,
        terminal: Terminal,
        prompt: &'static str,
        on_line: impl FnMut(String) + Send + 'static,
    ) -> anyhow::Result<()> {
        spawn_console(terminal, prompt, self.stop.clone(), on_line)
            .context("cannot start the console thread")
    }

    /// Serves until stopped, then shuts `server` down cleanly (`note` is
    /// added to the shutdown log line).
    pub fn serve<S: commlab_core::Service + Send + 'static>(
        self,
        server: &Server<S>,
        note: &str,
    ) -> anyhow::Result<()>
    where
        S::Event: Send,
    {
        let why = self.stopped.recv().unwrap_or("interrupted");
        eprintln!("[commlab] {why}: shutting down{note}");
        report_served(&server.served());
        server.shutdown();
        eprintln!("[commlab] server stopped");
        Ok(())
    }
}
