//! The closed loop every request/answer load runs (`calc`, `rpc`, `http`,
//! `ws`): each client has one request in flight; its answer is checked,
//! and the next request goes out at once, until the run's time or count is
//! over. One loop, generic over the client [`Session`]; what differs is an
//! [`Exchange`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use commlab_core::calc::{parse_answer, CalcNumber, Op};
use commlab_core::http1::{HttpClient, HttpClientEvent};
use commlab_core::ws::{ServerMessage, WsClientEvent, WsClientSession};
use commlab_core::xmlrpc::{decode_response, encode_call, Value};
use commlab_core::Session;
use commlab_mio::ClientDriver;

use super::{check_clients, Operands, Report, TURN};

/// How long the loop waits for answers still in flight after the run.
const DRAIN: Duration = Duration::from_secs(10);

/// What an event says of a client's request in flight.
pub(crate) enum Answer {
    /// The answer came, and it is right.
    Right,
    /// The answer came, and it is wrong.
    Wrong,
    /// The connection is gone.
    Gone,
    /// Nothing about the answer (a push, a greeting...).
    Nothing,
}

/// One kind of closed-loop exchange: each client's session, its next
/// request, and how its answer is read.
pub(crate) trait Exchange {
    /// The client session.
    type Session: Session;
    /// Client `i`'s session, before it connects.
    fn session(&mut self, i: usize) -> Self::Session;
    /// Queues client `i`'s next request.
    fn ask(&mut self, i: usize, session: &mut Self::Session);
    /// What `event` says of client `i`'s request in flight.
    fn answer(&mut self, i: usize, event: <Self::Session as Session>::Event) -> Answer;
}

/// Runs `exchange` with `clients` clients for `duration` or `max_requests`
/// answers, whichever comes first; requests in flight then get
/// [`DRAIN`] to be answered, else they count as lost.
pub(crate) fn closed_loop<E: Exchange>(
    kind: &'static str,
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    max_requests: u64,
    mut exchange: E,
) -> anyhow::Result<Report> {
    check_clients(clients)?;
    let mut report = Report::new(kind, clients);
    let sessions = (0..clients).map(|i| exchange.session(i)).collect();
    let mut d = ClientDriver::connect(addr, sessions)?;
    let start = Instant::now();
    let stop_at = start + duration;
    let mut waiting = vec![false; clients];
    let mut gone = vec![false; clients];
    let mut sent_at = vec![start; clients];
    let mut in_flight = 0usize;
    let mut sent = 0u64;
    for (i, s) in d.sessions_mut() {
        exchange.ask(i, s);
        waiting[i] = true;
        sent_at[i] = Instant::now();
        in_flight += 1;
        sent += 1;
    }
    d.flush_all();
    let mut more = Vec::new();
    while in_flight > 0 && Instant::now() < stop_at + DRAIN {
        let accepting = Instant::now() < stop_at && sent < max_requests;
        d.turn(TURN, |i, _, e| match exchange.answer(i, e) {
            answer @ (Answer::Right | Answer::Wrong) => {
                match answer {
                    Answer::Right if waiting[i] => {
                        report.ok += 1;
                        report.record(sent_at[i]);
                    }
                    _ => report.wrong += 1,
                }
                if waiting[i] {
                    waiting[i] = false;
                    in_flight -= 1;
                    if accepting {
                        more.push(i);
                    }
                }
            }
            Answer::Gone if !gone[i] => {
                gone[i] = true;
                report.errors += 1;
                if waiting[i] {
                    waiting[i] = false;
                    in_flight -= 1;
                }
            }
            Answer::Gone | Answer::Nothing => {}
        })?;
        for i in more.drain(..) {
            if gone[i] || sent >= max_requests {
                continue;
            }
            exchange.ask(i, d.session_mut(i));
            waiting[i] = true;
            sent_at[i] = Instant::now();
            in_flight += 1;
            sent += 1;
            d.flush(i);
        }
    }
    report.elapsed = start.elapsed();
    report.expected = sent;
    report.lost = in_flight as u64;
    Ok(report)
}

/// Checks one HTTP answer: status and body in, right or wrong out.
type Check = Box<dyn Fn(u16, &[u8]) -> bool>;

/// An HTTP exchange: `next` queues client `i`'s request and returns the
/// check of its answer.
struct Http<F> {
    next: F,
    checks: Vec<Option<Check>>,
}

impl<F: FnMut(usize, &mut HttpClient) -> Check> Exchange for Http<F> {
    type Session = HttpClient;

    fn session(&mut self, _i: usize) -> HttpClient {
        self.checks.push(None);
        HttpClient::new()
    }

    fn ask(&mut self, i: usize, session: &mut HttpClient) {
        self.checks[i] = Some((self.next)(i, session));
    }

    fn answer(&mut self, i: usize, event: HttpClientEvent) -> Answer {
        match event {
            HttpClientEvent::Response(r) => match self.checks[i].take() {
                Some(check) if check(r.status, &r.body) => Answer::Right,
                _ => Answer::Wrong,
            },
            HttpClientEvent::Error(_) | HttpClientEvent::Closed => Answer::Gone,
        }
    }
}

fn http_load(
    kind: &'static str,
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    max_requests: u64,
    next: impl FnMut(usize, &mut HttpClient) -> Check,
) -> anyhow::Result<Report> {
    let exchange = Http {
        next,
        checks: Vec::with_capacity(clients),
    };
    closed_loop(kind, addr, clients, duration, max_requests, exchange)
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

/// The WebSocket sums exchange: `{"op":"sum","a":A,"b":B}`, the exact
/// integer sum checked.
struct Sums {
    host: String,
    gens: Vec<Operands>,
    want: Vec<Option<i64>>,
}

impl Exchange for Sums {
    type Session = WsClientSession;

    fn session(&mut self, i: usize) -> WsClientSession {
        self.gens
            .push(Operands(0xD1B5_4A32_D192_ED03 ^ (i as u64 + 1)));
        self.want.push(None);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&(i as u64).to_le_bytes());
        WsClientSession::new(&self.host, "/", key)
    }

    fn ask(&mut self, i: usize, session: &mut WsClientSession) {
        let (a, b) = (self.gens[i].next(), self.gens[i].next());
        session.send_text(&format!(r#"{{"op":"sum","a":{a},"b":{b}}}"#));
        self.want[i] = Some(a + b);
    }

    fn answer(&mut self, i: usize, event: WsClientEvent) -> Answer {
        match event {
            WsClientEvent::Text(t) => {
                let got = match ServerMessage::parse(&t) {
                    ServerMessage::Sum(s) => s.parse::<i64>().ok(),
                    _ => None,
                };
                match (got, self.want[i].take()) {
                    (Some(g), Some(w)) if g == w => Answer::Right,
                    _ => Answer::Wrong,
                }
            }
            WsClientEvent::Closed(_) | WsClientEvent::Error(_) => Answer::Gone,
            WsClientEvent::Open | WsClientEvent::Binary(_) => Answer::Nothing,
        }
    }
}

/// Runs the WebSocket sums load: each client sends `{"op":"sum"...}` and
/// checks the exact integer sum.
pub fn ws(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    max_requests: u64,
) -> anyhow::Result<Report> {
    let exchange = Sums {
        host: addr.to_string(),
        gens: Vec::with_capacity(clients),
        want: Vec::with_capacity(clients),
    };
    closed_loop("ws", addr, clients, duration, max_requests, exchange)
}
