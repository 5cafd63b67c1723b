//! `commlab load`: load generators for the servers, built on the same core
//! sessions and driven by one mio loop. Every run is bounded in time and
//! count, and every answer is checked, not only counted.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use commlab_core::calc::{parse_answer, CalcNumber, Op};
use commlab_core::chat::ClientEvent;
use commlab_core::http1::{HttpClient, HttpClientEvent};
use commlab_core::xmlrpc::{decode_response, encode_call, Value};
use commlab_core::ChatClient;
use commlab_mio::ClientDriver;
use hdrhistogram::Histogram;
use serde_json::json;

/// Most clients one run may open.
pub const MAX_CLIENTS: usize = 20_000;
/// Longest run.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// How long one turn of the loop waits.
const TURN: Duration = Duration::from_millis(20);

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

/// The bounds of a closed-loop run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunLimits {
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Stop after this many answers in all.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_requests: u64,
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
        target: Target,
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

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Which load.
    pub kind: &'static str,
    /// Clients.
    pub clients: usize,
    /// Requests (or lines) expected to be answered (delivered).
    pub expected: u64,
    /// Answers (deliveries) received and correct.
    pub ok: u64,
    /// Transport or protocol errors.
    pub errors: u64,
    /// Answers that came back wrong.
    pub wrong: u64,
    /// Requests never answered (deliveries never made).
    pub lost: u64,
    /// Wall time of the measured phase.
    pub elapsed: Duration,
    /// Latencies in microseconds.
    pub latency: Histogram<u64>,
}

impl Report {
    fn new(kind: &'static str, clients: usize) -> Self {
        Self {
            kind,
            clients,
            expected: 0,
            ok: 0,
            errors: 0,
            wrong: 0,
            lost: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, 600_000_000, 3)
                .expect("constant histogram bounds are valid"),
        }
    }

    fn record(&mut self, since: Instant) {
        self.record_at(since, Instant::now());
    }

    /// Records an answer seen at `now` (read once per loop turn when answers
    /// come by the thousand).
    fn record_at(&mut self, since: Instant, now: Instant) {
        self.record_us(micros(now.saturating_duration_since(since)));
    }

    /// Records a latency already in microseconds.
    fn record_us(&mut self, us: u64) {
        let _ = self.latency.record(us.clamp(1, 600_000_000));
    }

    /// Answers per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// Whether anything went wrong.
    pub fn failed(&self) -> bool {
        self.errors + self.wrong + self.lost > 0
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        format!(
            "load {}: {} clients, {:.2} s\n{:>10} {:>10} {:>7} {:>7} {:>7} {:>12} {:>9} {:>9} {:>9}\n{:>10} {:>10} {:>7} {:>7} {:>7} {:>12.1} {:>9.3} {:>9.3} {:>9.3}",
            self.kind,
            self.clients,
            self.elapsed.as_secs_f64(),
            "expected", "ok", "errors", "wrong", "lost", "per second", "p50 ms", "p99 ms", "p99.9 ms",
            self.expected,
            self.ok,
            self.errors,
            self.wrong,
            self.lost,
            self.per_second(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.quantile_ms(0.999),
        )
    }

    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "kind": self.kind,
            "clients": self.clients,
            "seconds": self.elapsed.as_secs_f64(),
            "expected": self.expected,
            "ok": self.ok,
            "errors": self.errors,
            "wrong": self.wrong,
            "lost": self.lost,
            "per_second": self.per_second(),
            "p50_ms": self.quantile_ms(0.5),
            "p99_ms": self.quantile_ms(0.99),
            "p999_ms": self.quantile_ms(0.999),
        })
    }
}

fn resolve(target: &Target) -> anyhow::Result<SocketAddr> {
    (target.host.as_str(), target.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {}", target.host))?
        .next()
        .with_context(|| format!("no address for {}", target.host))
}

fn check_clients(clients: usize) -> anyhow::Result<()> {
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
struct Operands(u64);

impl Operands {
    fn next(&mut self) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        i64::try_from(self.0 % 2_000_001).unwrap_or(0) - 1_000_000
    }
}

/// Runs the chat load.
pub fn chat(
    addr: SocketAddr,
    clients: usize,
    senders: usize,
    lines: usize,
    timeout: Duration,
) -> anyhow::Result<Report> {
    check_clients(clients)?;
    if senders == 0 || senders > clients {
        bail!("--senders must be between 1 and --clients ({clients})");
    }
    let sessions = (0..clients)
        .map(|_| ChatClient::new(commlab_core::MAX_LINE + commlab_core::chat::OUT_SLACK, None))
        .collect();
    let mut d = ClientDriver::connect(addr, sessions)?;
    let deadline = Instant::now() + timeout;
    let mut nick: Vec<Option<String>> = vec![None; clients];
    let mut report = Report::new("chat", clients);
    // Phase 1: everyone is in the room.
    while nick.iter().any(Option::is_none) {
        if Instant::now() > deadline {
            bail!(
                "only {} of {clients} clients were welcomed in time (is the server in room mode?)",
                nick.iter().flatten().count()
            );
        }
        d.turn(TURN, |i, _, e| match e {
            ClientEvent::Line(l) => {
                if let Some(name) = commlab_core::chat::welcomed_nick(&l) {
                    nick[i] = Some(name.to_owned());
                }
            }
            ClientEvent::Closed(_) => report.errors += 1,
            _ => {}
        })?;
        if report.errors > 0 {
            bail!("{} clients were disconnected while joining", report.errors);
        }
    }
    // Phase 2: the senders send their lines; every other client must get them.
    let start = Instant::now();
    for (i, s) in d.sessions_mut().take(senders) {
        for k in 0..lines {
            s.send_line(&format!("L {i} {k} {}", micros(start.elapsed())))?;
        }
    }
    d.flush_all();
    report.expected = (senders as u64) * (clients as u64 - 1) * lines as u64;
    // next[i * senders + s]: the line client i expects next from sender s.
    let mut next = vec![0usize; clients * senders];
    while report.ok + report.wrong < report.expected && Instant::now() < deadline {
        d.turn_ready(TURN, |i, session| {
            // Lines carry their send time in microseconds since `start`.
            let now = micros(start.elapsed());
            while let Some(event) = session.poll_event_ref() {
                match event {
                    ClientEvent::Line(l) if l.starts_with("* ") => {}
                    ClientEvent::Line(l) => match parse_delivery(l) {
                        Some((sender, k, t))
                            if sender < senders
                                && sender != i
                                && next[i * senders + sender] == k =>
                        {
                            next[i * senders + sender] += 1;
                            report.ok += 1;
                            report.record_us(now.saturating_sub(t));
                        }
                        _ => report.wrong += 1,
                    },
                    ClientEvent::Closed(_) => report.errors += 1,
                    _ => {}
                }
            }
        })?;
    }
    report.elapsed = start.elapsed();
    report.lost = report.expected.saturating_sub(report.ok + report.wrong);
    Ok(report)
}

/// A duration in whole microseconds (saturating).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Reads `NICK: L SENDER K MICROS` (what `chat` sends, as the room relays
/// it) in one pass: plain decimal numbers of at most 19 digits (so they
/// cannot overflow), one space apart, nothing else.
fn parse_delivery(line: &str) -> Option<(usize, usize, u64)> {
    let bytes = line.as_bytes();
    let colon = bytes.iter().position(|&b| b == b':')?;
    let rest = bytes[colon..].strip_prefix(b": L ")?;
    let mut numbers = [0u64; 3];
    let mut field = 0;
    let mut digits = 0;
    for &b in rest {
        match b {
            b'0'..=b'9' if digits < 19 => {
                numbers[field] = numbers[field] * 10 + u64::from(b - b'0');
                digits += 1;
            }
            b' ' if digits > 0 && field < 2 => {
                field += 1;
                digits = 0;
            }
            _ => return None,
        }
    }
    let [sender, k, t] = numbers;
    (field == 2 && digits > 0).then_some((
        usize::try_from(sender).ok()?,
        usize::try_from(k).ok()?,
        t,
    ))
}

/// Checks one answer: status and body in, right or wrong out.
type Check = Box<dyn Fn(u16, &[u8]) -> bool>;

/// Runs a closed-loop HTTP load: `next` builds each request for client
/// `i` (method, target, body) and returns a checker for its answer.
fn http_load(
    kind: &'static str,
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    max_requests: u64,
    mut next: impl FnMut(usize, &mut HttpClient) -> Check,
) -> anyhow::Result<Report> {
    check_clients(clients)?;
    let mut report = Report::new(kind, clients);
    let sessions: Vec<HttpClient> = (0..clients).map(|_| HttpClient::new()).collect();
    let mut d = ClientDriver::connect(addr, sessions)?;
    let start = Instant::now();
    let stop_at = start + duration;
    let mut checks: Vec<Option<Check>> = Vec::with_capacity(clients);
    let mut sent_at = vec![start; clients];
    let mut sent = 0u64;
    for (i, s) in d.sessions_mut() {
        checks.push(Some(next(i, s)));
        sent_at[i] = Instant::now();
        sent += 1;
    }
    d.flush_all();
    let mut closed = vec![false; clients];
    while checks.iter().any(Option::is_some) && Instant::now() < stop_at + Duration::from_secs(10) {
        let accepting = Instant::now() < stop_at && sent < max_requests;
        let mut more = Vec::new();
        d.turn(TURN, |i, _, e| match e {
            HttpClientEvent::Response(r) => {
                if let Some(check) = checks[i].take() {
                    if check(r.status, &r.body) {
                        report.ok += 1;
                        report.record(sent_at[i]);
                    } else {
                        report.wrong += 1;
                    }
                }
                if accepting {
                    more.push(i);
                }
            }
            HttpClientEvent::Error(_) | HttpClientEvent::Closed if !closed[i] => {
                closed[i] = true;
                report.errors += 1;
                checks[i] = None;
            }
            _ => {}
        })?;
        for i in more {
            if closed[i] || sent >= max_requests {
                continue;
            }
            let check = next(i, d.session_mut(i));
            checks[i] = Some(check);
            sent_at[i] = Instant::now();
            sent += 1;
            d.flush(i);
        }
    }
    report.elapsed = start.elapsed();
    report.expected = sent;
    report.lost = checks.iter().filter(|c| c.is_some()).count() as u64;
    Ok(report)
}

/// Runs the REST calc load.
pub fn calc(
    addr: SocketAddr,
    prefix: &str,
    clients: usize,
    duration: Duration,
    max_requests: u64,
) -> anyhow::Result<Report> {
    let prefix = prefix.trim_end_matches('/').to_owned();
    let mut gens: Vec<Operands> = (0..clients)
        .map(|i| Operands(0x2545_F491_4F6C_DD1D ^ (i as u64 + 1)))
        .collect();
    let mut count = 0usize;
    http_load(
        "calc",
        addr,
        clients,
        duration,
        max_requests,
        move |i, s| {
            let op = Op::ALL[count % 4];
            count += 1;
            let a = gens[i].next();
            let mut b = gens[i].next();
            if b == 0 {
                b = 7;
            }
            s.request("GET", &format!("{prefix}/{}/{a}/{b}", op.name()), None, b"");
            let want = op.apply(a, b).ok();
            Box::new(move |status, body| {
                let Ok(answer) = parse_answer(status, body) else {
                    return false;
                };
                answer.key == op.key()
                    && match (answer.value, want) {
                        (CalcNumber::Int(x), Some(CalcNumber::Int(y))) => x == y,
                        (CalcNumber::Float(x), Some(CalcNumber::Float(y))) => x == y,
                        _ => false,
                    }
            })
        },
    )
}

/// The calculator calls `rpc` and `http` send: per client, operands from
/// its own generator, cycling through `add`, `sub` and `div`.
struct RpcCalls {
    gens: Vec<Operands>,
    count: usize,
}

impl RpcCalls {
    fn new(clients: usize) -> Self {
        Self {
            gens: (0..clients)
                .map(|i| Operands(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1)))
                .collect(),
            count: 0,
        }
    }

    /// The next call of client `i`, encoded, and the answer it must get.
    fn next(&mut self, i: usize) -> (String, Value) {
        let (a, b) = (self.gens[i].next(), self.gens[i].next());
        let (a, b) = (
            i32::try_from(a).unwrap_or(1),
            i32::try_from(b).unwrap_or(1).max(1),
        );
        let (method, want) = match self.count % 3 {
            0 => ("add", Value::Int(a + b)),
            1 => ("sub", Value::Int(a - b)),
            _ => ("div", Value::Double(f64::from(a) / f64::from(b))),
        };
        self.count += 1;
        let body = encode_call(method, &[Value::Int(a), Value::Int(b)]).unwrap_or_default();
        (body, want)
    }
}

/// Runs the XML-RPC load.
pub fn rpc(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    max_requests: u64,
) -> anyhow::Result<Report> {
    let mut calls = RpcCalls::new(clients);
    http_load("rpc", addr, clients, duration, max_requests, move |i, s| {
        let (body, want) = calls.next(i);
        s.request("POST", "/RPC2", Some("text/xml"), body.as_bytes());
        Box::new(move |status, body| {
            status == 200 && decode_response(body).ok() == Some(Ok(want.clone()))
        })
    })
}

/// Runs the HTTP floor probe: the calls `rpc` makes, posted to `path`,
/// where only a 200 status counts as right.
pub fn http(
    addr: SocketAddr,
    path: &str,
    clients: usize,
    duration: Duration,
    max_requests: u64,
) -> anyhow::Result<Report> {
    let mut calls = RpcCalls::new(clients);
    http_load(
        "http",
        addr,
        clients,
        duration,
        max_requests,
        move |i, s| {
            let (body, _) = calls.next(i);
            s.request("POST", path, Some("text/xml"), body.as_bytes());
            Box::new(|status, _| status == 200)
        },
    )
}

/// Runs the WebSocket sums load: each client sends `{"op":"sum"...}` and
/// checks the exact integer sum.
pub fn ws(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    max_requests: u64,
) -> anyhow::Result<Report> {
    use commlab_core::ws::{WsClientEvent, WsClientSession};
    check_clients(clients)?;
    let mut report = Report::new("ws", clients);
    let host = addr.to_string();
    let sessions: Vec<WsClientSession> = (0..clients)
        .map(|i| {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            WsClientSession::new(&host, "/", key)
        })
        .collect();
    let mut d = ClientDriver::connect(addr, sessions)?;
    let mut gens: Vec<Operands> = (0..clients)
        .map(|i| Operands(0xD1B5_4A32_D192_ED03 ^ (i as u64 + 1)))
        .collect();
    let start = Instant::now();
    let stop_at = start + duration;
    let mut want: Vec<Option<i64>> = vec![None; clients];
    let mut sent_at = vec![start; clients];
    let mut sent = 0u64;
    let mut done = vec![false; clients];
    let ask = |i: usize,
               s: &mut WsClientSession,
               gens: &mut Vec<Operands>,
               want: &mut Vec<Option<i64>>,
               sent: &mut u64| {
        let (a, b) = (gens[i].next(), gens[i].next());
        s.send_text(&format!(r#"{{"op":"sum","a":{a},"b":{b}}}"#));
        want[i] = Some(a + b);
        *sent += 1;
    };
    for (i, s) in d.sessions_mut() {
        ask(i, s, &mut gens, &mut want, &mut sent);
        sent_at[i] = Instant::now();
    }
    d.flush_all();
    while want.iter().any(Option::is_some) && Instant::now() < stop_at + Duration::from_secs(10) {
        let accepting = Instant::now() < stop_at && sent < max_requests;
        let mut more = Vec::new();
        d.turn(TURN, |i, _, e| match e {
            WsClientEvent::Text(t) => {
                let got = serde_json::from_str::<serde_json::Value>(&t)
                    .ok()
                    .and_then(|j| j.get("sum").and_then(serde_json::Value::as_i64));
                match (got, want[i].take()) {
                    (Some(g), Some(w)) if g == w => {
                        report.ok += 1;
                        report.record(sent_at[i]);
                    }
                    _ => report.wrong += 1,
                }
                if accepting {
                    more.push(i);
                }
            }
            WsClientEvent::Closed(_) | WsClientEvent::Error(_) if !done[i] => {
                done[i] = true;
                report.errors += 1;
                want[i] = None;
            }
            _ => {}
        })?;
        for i in more {
            if done[i] || sent >= max_requests {
                continue;
            }
            ask(i, d.session_mut(i), &mut gens, &mut want, &mut sent);
            sent_at[i] = Instant::now();
            d.flush(i);
        }
    }
    report.elapsed = start.elapsed();
    report.expected = sent;
    report.lost = want.iter().filter(|w| w.is_some()).count() as u64;
    Ok(report)
}

/// Deterministic file content for `load ft` (the same bytes for a given
/// client and offset).
fn fill(buf: &mut [u8], client: usize, offset: u64) {
    for (j, b) in buf.iter_mut().enumerate() {
        let x = offset + j as u64;
        *b = (x.wrapping_mul(2_654_435_761) >> 13) as u8 ^ client as u8;
    }
}

/// Runs the file transfer load: upload then download back, per client.
pub fn ft(
    addr: SocketAddr,
    user: &str,
    password: &str,
    size: u64,
    parallel: usize,
    timeout: Duration,
) -> anyhow::Result<Report> {
    use commlab_core::filexfer::{DigestAlg, FtClient, FtClientEvent, Hasher};
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Step {
        Hello,
        Login,
        Uploading,
        Ending,
        Downloading,
        Done,
    }
    check_clients(parallel)?;
    let mut report = Report::new("ft", parallel);
    let sessions = (0..parallel)
        .map(|_| FtClient::new(DigestAlg::Blake3))
        .collect();
    let mut d = ClientDriver::connect(addr, sessions)?;
    let start = Instant::now();
    let deadline = start + timeout;
    let mut step = vec![Step::Hello; parallel];
    let mut offset = vec![0u64; parallel];
    let mut received = vec![0u64; parallel];
    let mut started = vec![start; parallel];
    let mut expected_digest = vec![String::new(); parallel];
    let mut moved = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    report.expected = 2 * parallel as u64;
    while step.iter().any(|s| *s != Step::Done) && Instant::now() < deadline {
        let mut to_start: Vec<usize> = Vec::new();
        d.turn(TURN, |i, s, e| match (step[i], e) {
            (Step::Hello, FtClientEvent::Hello { .. }) => {
                let _ = s.login(user, password);
                step[i] = Step::Login;
            }
            (Step::Login, FtClientEvent::Ok(_)) => {
                let _ = s.put(&format!("commlab-load-{i}.bin"), size);
            }
            (Step::Login, FtClientEvent::UploadReady { .. }) => {
                step[i] = Step::Uploading;
                started[i] = Instant::now();
            }
            (Step::Ending, FtClientEvent::Uploaded { digest, .. }) => {
                if digest == expected_digest[i] {
                    report.ok += 1;
                } else {
                    report.wrong += 1;
                }
                report.record(started[i]);
                to_start.push(i);
            }
            (Step::Downloading, FtClientEvent::Data(data)) => {
                received[i] += data.len() as u64;
                moved += data.len() as u64;
            }
            (
                Step::Downloading,
                FtClientEvent::Downloaded {
                    size: got, digest, ..
                },
            ) => {
                if got == size && digest == expected_digest[i] {
                    report.ok += 1;
                } else {
                    report.wrong += 1;
                }
                report.record(started[i]);
                step[i] = Step::Done;
            }
            (_, FtClientEvent::DownloadReady { .. }) => {}
            (_, FtClientEvent::DownloadFailed(_)) => {
                report.wrong += 1;
                step[i] = Step::Done;
            }
            (_, FtClientEvent::Error { .. } | FtClientEvent::Closed) if step[i] != Step::Done => {
                report.errors += 1;
                step[i] = Step::Done;
            }
            _ => {}
        })?;
        for i in to_start {
            let s = d.session_mut(i);
            if s.get(&format!("commlab-load-{i}.bin")).is_ok() {
                step[i] = Step::Downloading;
                started[i] = Instant::now();
            }
            d.flush(i);
        }
        // Keep every upload's output topped up (at most about 1 MiB queued).
        for i in 0..parallel {
            if step[i] != Step::Uploading {
                continue;
            }
            let s = d.session_mut(i);
            while s.pending_output() < 1024 * 1024 && offset[i] < size {
                let n = (size - offset[i]).min(buf.len() as u64) as usize;
                fill(&mut buf[..n], i, offset[i]);
                let _ = s.upload_data(&buf[..n]);
                offset[i] += n as u64;
                moved += n as u64;
            }
            if offset[i] == size {
                let mut h = Hasher::new(DigestAlg::Blake3);
                let mut at = 0u64;
                while at < size {
                    let n = (size - at).min(buf.len() as u64) as usize;
                    fill(&mut buf[..n], i, at);
                    h.update(&buf[..n]);
                    at += n as u64;
                }
                expected_digest[i] = commlab_core::filexfer::hex(&h.finish());
                let _ = s.upload_end();
                step[i] = Step::Ending;
            }
            d.flush(i);
        }
    }
    report.elapsed = start.elapsed();
    report.lost = report
        .expected
        .saturating_sub(report.ok + report.wrong + report.errors);
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "[commlab] moved {:.1} MiB in {secs:.2} s: {:.0} MiB/s",
        moved as f64 / 1048576.0,
        moved as f64 / 1048576.0 / secs
    );
    Ok(report)
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
                resolve(target)?,
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
            calc(
                resolve(target)?,
                prefix,
                *clients,
                bounded(limits.duration)?,
                limits.max_requests,
            )?,
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
                resolve(target)?,
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
            ws(
                resolve(target)?,
                *clients,
                bounded(limits.duration)?,
                limits.max_requests,
            )?,
            target.json,
        ),
        LoadCommand::Http {
            target,
            path,
            clients,
            limits,
        } => (
            http(
                resolve(target)?,
                path,
                *clients,
                bounded(limits.duration)?,
                limits.max_requests,
            )?,
            target.json,
        ),
        LoadCommand::Rpc {
            target,
            clients,
            limits,
        } => (
            rpc(
                resolve(target)?,
                *clients,
                bounded(limits.duration)?,
                limits.max_requests,
            )?,
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

#[cfg(test)]
mod tests {
    use super::parse_delivery;

    #[test]
    fn deliveries_parse_only_in_the_exact_form_sent() {
        assert_eq!(parse_delivery("guest7: L 3 14 1500"), Some((3, 14, 1500)));
        assert_eq!(parse_delivery("a: L 0 0 18446744073709551615"), None); // 20 digits
        assert_eq!(
            parse_delivery("a: L 0 0 9999999999999999999"),
            Some((0, 0, 9_999_999_999_999_999_999))
        );
        for wrong in [
            "guest7: L 3 14",
            "guest7: L 3 14 1500 9",
            "guest7: L 3 +14 1500",
            "guest7: L 3  14 1500",
            "guest7: L 3 14 15x0",
            "guest7: M 3 14 1500",
            "guest7 L 3 14 1500",
            "",
        ] {
            assert_eq!(parse_delivery(wrong), None, "{wrong:?}");
        }
    }
}
