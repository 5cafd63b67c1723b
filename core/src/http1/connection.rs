//! One HTTP/1.1 connection as a state machine: the one request loop every
//! HTTP server in core runs ([`HttpServer`](super::HttpServer), the page and
//! WebSocket server).
//!
//! States: `Idle` (between requests; closed after the keep-alive timeout)
//! → `Request` (a head or body partly received; answered `408` past the
//! request timeout, `100 Continue` when the head asks for it) → the
//! request is answered and the connection goes back to `Idle`, or closes
//! (`Connection: close`, HTTP/1.0, an error answered with its status), or
//! is handed over with the bytes that followed ([`Reply::Upgrade`]).
//! `Idle` and `Request` are told apart by the decoder
//! ([`RequestDecoder::in_progress`]).

use std::time::{Duration, Instant};

use super::{
    HttpError, Limits, Request, RequestDecoder, Response, Status, KEEP_ALIVE_TIMEOUT,
    REQUEST_TIMEOUT,
};

/// Limits and timeouts of one HTTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Size limits of every request.
    pub limits: Limits,
    /// Time a started request has to finish (then `408`).
    pub request_timeout: Duration,
    /// Time an idle keep-alive connection stays open.
    pub keep_alive_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            request_timeout: REQUEST_TIMEOUT,
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
/// every error answered with its status before the close; a request that
/// does not finish within the request timeout is answered `408`.
#[derive(Debug)]
pub struct HttpConnection {
    decoder: RequestDecoder,
    config: HttpConfig,
    last_active: Instant,
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
        }
    }

    /// Bytes arrived at `now`; [`answer`](Self::answer) then answers them.
    pub fn feed(&mut self, now: Instant, bytes: &[u8]) {
        self.decoder.feed(bytes);
        self.last_active = now;
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
                Ok(Some(req)) => req,
                Ok(None) => {
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

    /// When the connection must be woken: the end of the request timeout
    /// while a request is in progress, else of the keep-alive timeout.
    pub fn deadline(&self) -> Instant {
        self.last_active
            + if self.in_progress() {
                self.config.request_timeout
            } else {
                self.config.keep_alive_timeout
            }
    }

    /// Time passed: a late request is answered `408` (written to `out`),
    /// an idle connection closes; before the deadline, nothing happens.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<u8>) -> Next {
        if now < self.deadline() {
            return Next::Open;
        }
        if !self.in_progress() {
            return Next::Close;
        }
        let error = HttpError::new(
            Status::REQUEST_TIMEOUT,
            format!(
                "the request was not finished within {} s",
                self.config.request_timeout.as_secs()
            ),
        );
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
