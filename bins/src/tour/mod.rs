//! `commlab tour`: every exercise end to end on loopback, on both engines,
//! with both sides' transcripts and a check of every exchange.

mod calc;
mod chat;
mod db;
mod ft;
mod rpc;
mod tls;
mod ws;

use commlab_core::trace::{Side, Tracer, Wire};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::Engine;

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
    /// Show the wire too: every protocol unit each server reads and
    /// writes, in the transcripts (`wire #1 < ...`).
    #[arg(long, conflicts_with = "quiet")]
    pub trace: bool,
}

/// Both sides' lines, in the order they happened.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    checks: Arc<Mutex<usize>>,
    trace: bool,
}

impl Transcript {
    fn lines(&self) -> MutexGuard<'_, Vec<String>> {
        self.lines.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, line: String) {
        self.lines().push(line);
        self.lines.1.notify_all();
    }

    fn snapshot(&self) -> Vec<String> {
        self.lines().clone()
    }

    /// An HTTP server's events as access-log lines in the transcript.
    fn access_log<S>(&self) -> impl FnMut(&mut S, commlab_core::http1::HttpEvent) + Send + 'static {
        let sink = self.clone();
        move |_, e| {
            sink.push(format!(
                "server : {}",
                crate::rpc::access_log(&e, &crate::log_time())
            ))
        }
    }

    /// With `--trace`, a tracer of a server's `wire` writing into the
    /// transcript.
    fn tracer(&self, wire: Wire) -> Option<Tracer> {
        let sink = self.clone();
        self.trace.then(|| {
            Tracer::new(
                wire,
                Side::Server,
                Instant::now(),
                Box::new(move |entry| sink.push(format!("wire   {entry}"))),
            )
        })
    }

    fn check(&self) {
        *self.checks.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }

    /// Number of checks that passed.
    pub fn checks(&self) -> usize {
        *self.checks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits (no longer than [`STEP_TIMEOUT`]) until the server side
    /// printed a line starting with `want`.
    fn wait_server(&self, want: &str) -> anyhow::Result<()> {
        let line = format!("server | {want}");
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut lines = self.lines();
        loop {
            if lines.iter().any(|l| l.starts_with(&line)) {
                drop(lines);
                self.check();
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the server never printed '{want}'");
            }
            lines = self
                .lines
                .1
                .wait_timeout(lines, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
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
    let steps: [(&str, &str, Step, bool); 9] = [
        (
            "Exercise 1",
            "socket chat, echo mode (the class example)",
            chat::echo,
            true,
        ),
        (
            "Exercise 1",
            "socket chat, chat mode (the exercise)",
            chat::chat,
            true,
        ),
        (
            "Exercise 1",
            "socket chat, room mode (3 clients)",
            chat::room,
            true,
        ),
        ("Exercise 2", "WebSocket sum server and page", ws::ws, true),
        (
            "Exercise 3",
            "SQLite students table (temporary database)",
            db::db,
            false,
        ),
        ("Exercise 4", "XML-RPC calculator", rpc::rpc, true),
        (
            "Exercise 5",
            "file transfer round trip (the challenge)",
            ft::ft,
            true,
        ),
        (
            "Exercise 6",
            "REST Calc client against a local calc server",
            calc::calc,
            true,
        ),
        (
            "TLS",
            "REST Calc over HTTPS, a CA made at start",
            tls::tls,
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
            let log = Transcript {
                trace: args.trace,
                ..Transcript::default()
            };
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
