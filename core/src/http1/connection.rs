//! One HTTP/1.1 connection as a state machine: the one request loop every
//! HTTP server in core runs ([`HttpServer`](super::HttpServer), the page and
//! WebSocket server).
//!
//! States: `Idle` (between requests; closed after the keep-alive timeout)
//! → `Request` (a head or body partly received; answered `408` when the
//! head is not whole [`HEAD_TIMEOUT`] after its first byte, when the body
//! falls below [`MIN_BODY_RATE`] after [`BODY_GRACE`], or after
//! [`REQUEST_TIMEOUT`] of silence; `100 Continue` when the head asks for
//! it) → the
//! request is answered and the connection goes back to `Idle`, or closes
//! (`Connection: close`, HTTP/1.0, an error answered with its status), or
//! is handed over with the bytes that followed ([`Reply::Upgrade`]).
//! `Idle` and `Request` are told apart by the decoder
//! ([`RequestDecoder::in_progress`]).

use std::time::{Duration, Instant};

use super::{
    HttpError, Limits, Request, RequestDecoder, Response, Status, BODY_GRACE, HEAD_TIMEOUT,
    KEEP_ALIVE_TIMEOUT, MIN_BODY_RATE, REQUEST_TIMEOUT,
};

/// Limits and timeouts of one HTTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Size limits of every request.
    pub limits: Limits,
    /// Longest silence in the middle of a request (then `408`).
    pub request_timeout: Duration,
    /// Time a request's head has from its first byte (then `408`).
    pub head_timeout: Duration,
    /// Time a body has after its head before it must keep up
    /// `min_body_rate`.
    pub body_grace: Duration,
    /// Slowest average a body may arrive at after `body_grace`, in bytes
    /// per second (at least 1).
    pub min_body_rate: u64,
    /// Time an idle keep-alive connection stays open.
    pub keep_alive_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            request_timeout: REQUEST_TIMEOUT,
            head_timeout: HEAD_TIMEOUT,
            body_grace: BODY_GRACE,
            min_body_rate: MIN_BODY_RATE,
            keep_alive_timeout: KEEP_ALIVE_TIMEOUT,
        }
    }
}

/// How a server answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// With this response; the connection stays HTTP.
    Response(Response),
    /// With these bytes (a `101 Switching Protocols` head); the connection
    /// then belongs to another protocol.
    Upgrade(Vec<u8>),
}

/// One answered request, for a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// `METHOD TARGET HTTP/1.x`.
    pub request_line: String,
    /// The status sent.
    pub status: Status,
    /// Bytes of body sent.
    pub bytes: usize,
}

/// What the connection does after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Go on reading requests.
    Open,
    /// Close once what was written is sent.
    Close,
    /// A request was refused: its error answer was written; close once it
    /// is sent.
    Rejected(HttpError),
    /// The connection speaks another protocol from now on; these bytes
    /// came after the upgrade request and belong to it.
    Upgrade(Vec<u8>),
}

/// One HTTP/1.1 connection: requests in, answers out, deadlines.
///
/// Guarantees: every request within [`Limits`]; answers in request order;
/// every error answered with its status before the close; a request whose
/// head is not whole `head_timeout` after its first byte, whose body falls
/// below `min_body_rate` after `body_grace`, or that goes silent for
/// `request_timeout`, is answered `408`, however its bytes trickle in.
#[derive(Debug)]
pub struct HttpConnection {
    decoder: RequestDecoder,
    config: HttpConfig,
    last_active: Instant,
    /// When the request in progress began (its first byte came).
    started: Option<Instant>,
    /// When the request in progress had its head whole.
    body_started: Option<Instant>,
}

/// Which limit a late request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Late {
    Head,
    Body,
    Silent,
}

/// The error answer every HTTP server in core sends (then it closes).
fn encode_error(error: &HttpError, out: &mut Vec<u8>) {
    Response::text(error.status, &error.message).encode(false, false, out);
}

impl HttpConnection {
    /// A connection opened at `now`.
    pub fn new(now: Instant, config: HttpConfig) -> Self {
        Self {
            decoder: RequestDecoder::new(config.limits),
            config,
            last_active: now,
            started: None,
            body_started: None,
        }
    }

    /// Bytes arrived at `now`; [`answer`](Self::answer) then answers them.
    pub fn feed(&mut self, now: Instant, bytes: &[u8]) {
        self.decoder.feed(bytes);
        self.last_active = now;
        if self.started.is_none() && self.decoder.in_progress() {
            self.started = Some(now);
        }
    }

    /// After the decoder moved on: the clocks of the request in progress
    /// (a pipelined one began when the bytes that hold it came).
    fn track(&mut self) {
        if !self.decoder.in_progress() {
            self.started = None;
            self.body_started = None;
            return;
        }
        self.started.get_or_insert(self.last_active);
        match self.decoder.body_received() {
            Some(_) => {
                self.body_started.get_or_insert(self.last_active);
            }
            None => self.body_started = None,
        }
    }

    /// Answers every complete request received, with `reply`, appending
    /// the answers to `out`; each answered request goes to `answered` when
    /// `report` is set (so no request line is built for a log nobody keeps).
    pub fn answer(
        &mut self,
        out: &mut Vec<u8>,
        mut reply: impl FnMut(&Request) -> Reply,
        report: bool,
        mut answered: impl FnMut(Answered),
    ) -> Next {
        loop {
            let req = match self.decoder.next_request() {
                Ok(Some(req)) => {
                    // The next request, if any, starts its own clocks.
                    self.started = None;
                    self.body_started = None;
                    req
                }
                Ok(None) => {
                    self.track();
                    if self.decoder.take_expect_continue() {
                        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    return Next::Open;
                }
                Err(error) => {
                    encode_error(&error, out);
                    return Next::Rejected(error);
                }
            };
            match reply(&req) {
                Reply::Response(resp) => {
                    let keep = req.keep_alive && !resp.close;
                    resp.encode(keep, req.method == "HEAD", out);
                    if report {
                        answered(Answered {
                            request_line: req.request_line(),
                            status: resp.status,
                            bytes: resp.body.len(),
                        });
                    }
                    self.decoder.recycle(req);
                    if !keep {
                        return Next::Close;
                    }
                }
                Reply::Upgrade(head) => {
                    out.extend_from_slice(&head);
                    if report {
                        answered(Answered {
                            request_line: req.request_line(),
                            status: Status(101),
                            bytes: 0,
                        });
                    }
                    return Next::Upgrade(self.decoder.take_rest());
                }
            }
        }
    }

    /// Whether a request has begun and is not complete yet.
    pub fn in_progress(&self) -> bool {
        self.decoder.in_progress()
    }

    /// When the connection must be woken: while a request is in progress,
    /// the earliest of its head's deadline (or its body's, from the bytes
    /// received so far) and the end of the silence allowed; else the end of
    /// the keep-alive timeout.
    pub fn deadline(&self) -> Instant {
        self.deadline_and_limit().0
    }

    fn deadline_and_limit(&self) -> (Instant, Late) {
        if !self.in_progress() {
            return (
                self.last_active + self.config.keep_alive_timeout,
                Late::Silent,
            );
        }
        let silent = (self.last_active + self.config.request_timeout, Late::Silent);
        let phase = match (self.body_started, self.decoder.body_received()) {
            (Some(at), Some(received)) => {
                let rate = self.config.min_body_rate.max(1);
                let earned = u64::try_from(received).unwrap_or(u64::MAX) / rate;
                (
                    at + self.config.body_grace + Duration::from_secs(earned),
                    Late::Body,
                )
            }
            _ => (
                self.started.unwrap_or(self.last_active) + self.config.head_timeout,
                Late::Head,
            ),
        };
        if phase.0 <= silent.0 {
            phase
        } else {
            silent
        }
    }

    /// Time passed: a late request is answered `408` (written to `out`),
    /// saying which limit it ran into; an idle connection closes; before
    /// the deadline, nothing happens.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<u8>) -> Next {
        let (deadline, late) = self.deadline_and_limit();
        if now < deadline {
            return Next::Open;
        }
        if !self.in_progress() {
            return Next::Close;
        }
        let c = &self.config;
        let why = match late {
            Late::Head => format!(
                "the request head was not complete within {} s of its first byte",
                c.head_timeout.as_secs()
            ),
            Late::Body => format!(
                "the request body came slower than {} bytes/s ({} s allowed after the head)",
                c.min_body_rate,
                c.body_grace.as_secs()
            ),
            Late::Silent => format!(
                "nothing arrived for {} s in the middle of a request",
                c.request_timeout.as_secs()
            ),
        };
        let error = HttpError::new(Status::REQUEST_TIMEOUT, why);
        encode_error(&error, out);
        Next::Rejected(error)
    }

    /// The client finished sending: in the middle of a request that is a
    /// `400` (written to `out`), else the connection just closes.
    pub fn handle_eof(&mut self, out: &mut Vec<u8>) -> Next {
        if !self.in_progress() {
            return Next::Close;
        }
        let error = HttpError::new(
            Status::BAD_REQUEST,
            "the connection closed in the middle of a request",
        );
        encode_error(&error, out);
        Next::Rejected(error)
    }
}
