//! `commlab load`: load generators for the servers, built on the same core
//! sessions and driven by one mio loop (or `--threads` of them, for the
//! closed loops). Every run is bounded in time and
//! count, and every answer is checked, not only counted.

mod chat;
mod closed_loop;
mod ft;
mod report;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context as _};

pub use chat::chat;
pub use closed_loop::{calc, http, rpc, ws};
pub use ft::ft;
pub use report::Report;

/// Most clients one run may open.
pub const MAX_CLIENTS: usize = 20_000;
/// Longest run.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// How long one turn of the loop waits.
pub(crate) const TURN: Duration = Duration::from_millis(20);

/// Where to send the load.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Server address (loopback unless given explicitly).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long)]
    pub port: u16,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where the chat load goes: one server, or the servers of one
/// federated room.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatTarget {
    /// Server address (loopback unless given explicitly).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port (or --servers).
    #[arg(long, required_unless_present = "servers")]
    pub port: Option<u16>,
    /// The servers of one federated room, HOST:PORT,HOST:PORT,...: the
    /// clients are spread over them in turn (instead of --host/--port).
    #[arg(
        long,
        value_delimiter = ',',
        conflicts_with = "port",
        value_name = "HOST:PORT"
    )]
    pub servers: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

impl ChatTarget {
    /// Every server's address, in the order given.
    fn addrs(&self) -> anyhow::Result<Vec<SocketAddr>> {
        if self.servers.is_empty() {
            let port = self.port.context("give --port or --servers")?;
            return Ok(vec![resolve(&self.host, port)?]);
        }
        self.servers
            .iter()
            .map(|s| {
                let (host, port) = s
                    .rsplit_once(':')
                    .with_context(|| format!("{s} is not HOST:PORT"))?;
                let port = port
                    .parse()
                    .with_context(|| format!("{s}: {port} is not a port"))?;
                resolve(host.trim_start_matches('[').trim_end_matches(']'), port)
            })
            .collect()
    }
}

/// The bounds of a closed-loop run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunLimits {
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Stop after this many answers in all.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_requests: u64,
    /// Client event loops, each on a thread of its own with an equal
    /// share of the clients and of --max-requests, so that the load tool
    /// is not what limits a server on several cores; their reports are
    /// added up.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_LOAD_THREADS))]
    pub threads: u16,
}

/// Most client event loops one closed-loop run may use.
pub const MAX_LOAD_THREADS: i64 = 64;

impl RunLimits {
    /// Runs `one(clients, duration, max_requests)` on `--threads` threads,
    /// `clients` shared out among them (each gets at least one), and adds
    /// their reports up.
    fn run(
        &self,
        clients: usize,
        one: impl Fn(usize, Duration, u64) -> anyhow::Result<Report> + Sync,
    ) -> anyhow::Result<Report> {
        let duration = bounded(self.duration)?;
        let threads = usize::from(self.threads).clamp(1, clients.max(1));
        if threads == 1 {
            return one(clients, duration, self.max_requests);
        }
        let max = self.max_requests.div_ceil(threads as u64);
        let one = &one;
        let reports: Vec<anyhow::Result<Report>> = std::thread::scope(|scope| {
            let running: Vec<_> = (0..threads)
                .map(|i| {
                    let share = clients / threads + usize::from(i < clients % threads);
                    scope.spawn(move || one(share, duration, max))
                })
                .collect();
            running
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a load thread panicked")))
                })
                .collect()
        });
        let mut reports = reports.into_iter();
        let mut total = reports
            .next()
            .unwrap_or_else(|| Err(anyhow::anyhow!("no load thread ran")))?;
        for r in reports {
            total.merge(r?);
        }
        Ok(total)
    }
}

/// `commlab load` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LoadCommand {
    /// A chat room (`chat server --mode room`): SENDERS of the clients
    /// (all by default) each send LINES lines; every other client must
    /// receive each, in order, once.
    Chat {
        /// Where.
        #[command(flatten)]
        target: ChatTarget,
        /// Clients connected at once.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// How many of the clients send (default: all of them).
        #[arg(long)]
        senders: Option<usize>,
        /// Lines each sender sends.
        #[arg(long, default_value_t = 10)]
        lines: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// The REST calc (`calc server`): closed loop, keep-alive, every answer checked.
    Calc {
        /// Where.
        #[command(flatten)]
        target: Target,
        /// Route prefix.
        #[arg(long, default_value = "/api")]
        prefix: String,
        /// Clients, one request in flight each.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// How long, and how many answers at most.
        #[command(flatten)]
        limits: RunLimits,
    },
    /// The WebSocket sum server (`ws server`): closed loop, one sum in flight per client.
    Ws {
        /// Where.
        #[command(flatten)]
        target: Target,
        /// Clients, one sum in flight each.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// How long, and how many sums at most.
        #[command(flatten)]
        limits: RunLimits,
    },
    /// The file server (`ft server`): each of PARALLEL clients uploads a
    /// generated file of SIZE bytes and downloads it back; digests checked
    /// both ways. Leaves files `commlab-load-N.bin` on the server.
    Ft {
        /// Where.
        #[command(flatten)]
        target: Target,
        /// User name.
        #[arg(long)]
        user: String,
        /// Password (else COMMLAB_PASSWORD).
        #[arg(long, env = "COMMLAB_PASSWORD", hide_env_values = true)]
        password: String,
        /// Bytes per file.
        #[arg(long, default_value_t = 64 * 1024 * 1024)]
        size: u64,
        /// Clients transferring at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Any HTTP server as a floor probe: posts the same XML-RPC calls as
    /// `load rpc` to PATH and checks only for status 200 (for a baseline
    /// that answers every request with a fixed 200).
    Http {
        /// Where.
        #[command(flatten)]
        target: Target,
        /// Request path.
        #[arg(long, default_value = "/RPC2")]
        path: String,
        /// Clients, one request in flight each.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// How long, and how many answers at most.
        #[command(flatten)]
        limits: RunLimits,
    },
    /// The XML-RPC calculator (`rpc server`): closed loop, keep-alive, every answer checked.
    Rpc {
        /// Where.
        #[command(flatten)]
        target: Target,
        /// Clients, one request in flight each.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// How long, and how many answers at most.
        #[command(flatten)]
        limits: RunLimits,
    },
}

fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))
}

fn resolve_target(target: &Target) -> anyhow::Result<SocketAddr> {
    resolve(&target.host, target.port)
}

pub(crate) fn check_clients(clients: usize) -> anyhow::Result<()> {
    if clients == 0 || clients > MAX_CLIENTS {
        bail!("--clients is 1 to {MAX_CLIENTS}");
    }
    // Each client needs a descriptor: raise the soft limit to the hard one.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    Ok(())
}

fn bounded(seconds: f64) -> anyhow::Result<Duration> {
    if seconds.is_nan() || seconds <= 0.0 || seconds > MAX_DURATION.as_secs_f64() {
        bail!(
            "--duration is more than 0 and at most {} s",
            MAX_DURATION.as_secs()
        );
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A small deterministic generator of operands (xorshift).
pub(crate) struct Operands(pub(crate) u64);

impl Operands {
    pub(crate) fn next(&mut self) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        i64::try_from(self.0 % 2_000_001).unwrap_or(0) - 1_000_000
    }
}

/// Runs `commlab load ...`; any error, wrong or lost answer makes it fail.
pub fn run(command: &LoadCommand) -> anyhow::Result<()> {
    let (report, json) = match command {
        LoadCommand::Chat {
            target,
            clients,
            senders,
            lines,
            timeout,
        } => (
            chat(
                &target.addrs()?,
                *clients,
                senders.unwrap_or(*clients),
                *lines,
                Duration::from_secs((*timeout).min(MAX_DURATION.as_secs())),
            )?,
            target.json,
        ),
        LoadCommand::Calc {
            target,
            prefix,
            clients,
            limits,
        } => (
            {
                let addr = resolve_target(target)?;
                limits.run(*clients, |n, d, max| calc(addr, prefix, n, d, max))?
            },
            target.json,
        ),
        LoadCommand::Ft {
            target,
            user,
            password,
            size,
            parallel,
            timeout,
        } => (
            ft(
                resolve_target(target)?,
                user,
                password,
                *size,
                *parallel,
                Duration::from_secs((*timeout).min(MAX_DURATION.as_secs())),
            )?,
            target.json,
        ),
        LoadCommand::Ws {
            target,
            clients,
            limits,
        } => (
            {
                let addr = resolve_target(target)?;
                limits.run(*clients, |n, d, max| ws(addr, n, d, max))?
            },
            target.json,
        ),
        LoadCommand::Http {
            target,
            path,
            clients,
            limits,
        } => (
            {
                let addr = resolve_target(target)?;
                limits.run(*clients, |n, d, max| http(addr, path, n, d, max))?
            },
            target.json,
        ),
        LoadCommand::Rpc {
            target,
            clients,
            limits,
        } => (
            {
                let addr = resolve_target(target)?;
                limits.run(*clients, |n, d, max| rpc(addr, n, d, max))?
            },
            target.json,
        ),
    };
    if json {
        println!("{}", report.json());
    } else {
        println!("{}", report.table());
    }
    if report.failed() {
        bail!(
            "{} error(s), {} wrong and {} lost answer(s)",
            report.errors,
            report.wrong,
            report.lost
        );
    }
    Ok(())
}
