//! An HTTP/1.1 server as a sans-IO [`Service`]: decodes requests on every
//! connection, hands each to a [`Handler`] in order, encodes the answers.
//!
//! Per connection: idle → (request head → body → response)* → close. A
//! connection closes after a response when the request asked for it
//! (`Connection: close`, HTTP/1.0), after any [`HttpError`] (answered with
//! its status), when a started request is not finished within
//! [`REQUEST_TIMEOUT`] (408), or when idle longer than
//! [`KEEP_ALIVE_TIMEOUT`].

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{
    HttpError, Limits, Request, RequestDecoder, Response, Status, KEEP_ALIVE_TIMEOUT, MAX_OUTPUT,
    REQUEST_TIMEOUT,
};
use crate::{ConnId, ConnTable, DeadlineQueue, Flow, Readiness, Service};

/// Application logic behind an [`HttpServer`]: one response per request.
pub trait Handler {
    /// Answers `req`. Pipelined requests arrive in order.
    fn handle(&mut self, req: &Request) -> Response;
}

/// What an [`HttpServer`] reports (for an access log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpEvent {
    /// A request was answered.
    Served {
        /// The connection.
        conn: ConnId,
        /// The client.
        peer: SocketAddr,
        /// `METHOD TARGET HTTP/1.x`.
        request_line: String,
        /// The status sent.
        status: Status,
        /// Bytes of body sent.
        bytes: usize,
    },
    /// A request was refused with an error status; the connection closes.
    Rejected {
        /// The connection.
        conn: ConnId,
        /// The client.
        peer: SocketAddr,
        /// What was wrong.
        error: HttpError,
    },
    /// A connection was dropped: its client stopped reading or it failed.
    Dropped {
        /// The connection.
        conn: ConnId,
        /// The client.
        peer: SocketAddr,
        /// Why.
        reason: String,
    },
}

#[derive(Debug)]
struct HttpConn {
    peer: SocketAddr,
    decoder: RequestDecoder,
    last_active: Instant,
}

/// An HTTP/1.1 server over any [`Handler`].
///
/// Guarantees: the limits of [`Limits`] on every request; at most
/// [`MAX_OUTPUT`] unsent bytes per connection (past it, dropped); responses
/// in request order; every error answered with its status before closing.
#[derive(Debug)]
pub struct HttpServer<H> {
    handler: H,
    limits: Limits,
    request_timeout: Duration,
    keep_alive_timeout: Duration,
    table: ConnTable<HttpConn>,
    timers: DeadlineQueue,
    events: VecDeque<HttpEvent>,
    scratch: Vec<u8>,
    report_served: bool,
}

impl<H: Handler> HttpServer<H> {
    /// A server with the default limits and timeouts.
    pub fn new(handler: H) -> Self {
        Self {
            handler,
            limits: Limits::default(),
            request_timeout: REQUEST_TIMEOUT,
            keep_alive_timeout: KEEP_ALIVE_TIMEOUT,
            table: ConnTable::new(MAX_OUTPUT),
            timers: DeadlineQueue::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
            report_served: true,
        }
    }

    /// Whether every answered request is reported as [`HttpEvent::Served`]
    /// (on by default; off spares building the request line for a log
    /// nobody prints). Problems are always reported.
    pub fn report_served(mut self, on: bool) -> Self {
        self.report_served = on;
        self
    }

    /// Replaces the size limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the timeouts (request to finish, idle keep-alive).
    pub fn with_timeouts(mut self, request: Duration, keep_alive: Duration) -> Self {
        self.request_timeout = request;
        self.keep_alive_timeout = keep_alive;
        self
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    fn send_scratch(&mut self, conn: ConnId, peer: SocketAddr) -> bool {
        match self.table.send(conn, &self.scratch) {
            Ok(()) => true,
            Err(overflow) => {
                self.timers.cancel(conn);
                self.events.push_back(HttpEvent::Dropped {
                    conn,
                    peer,
                    reason: overflow.to_string(),
                });
                false
            }
        }
    }

    fn close(&mut self, conn: ConnId) {
        self.table.close(conn);
        self.timers.cancel(conn);
    }

    fn reject(&mut self, conn: ConnId, peer: SocketAddr, error: HttpError) {
        let mut resp = Response::text(error.status, &error.message);
        if error.status == Status::METHOD_NOT_ALLOWED {
            resp = resp.header("Allow", "POST");
        }
        self.scratch.clear();
        resp.encode(false, false, &mut self.scratch);
        if self.send_scratch(conn, peer) {
            self.close(conn);
        }
        self.events
            .push_back(HttpEvent::Rejected { conn, peer, error });
    }

    /// Answers every complete request buffered on `conn`.
    fn drain(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.table.get_mut(conn) else {
                return;
            };
            let peer = c.peer;
            match c.decoder.next_request() {
                Ok(Some(req)) => {
                    let resp = self.handler.handle(&req);
                    let keep = req.keep_alive && !resp.close;
                    self.scratch.clear();
                    resp.encode(keep, req.method == "HEAD", &mut self.scratch);
                    if self.report_served {
                        self.events.push_back(HttpEvent::Served {
                            conn,
                            peer,
                            request_line: req.request_line(),
                            status: resp.status,
                            bytes: resp.body.len(),
                        });
                    }
                    c.decoder.recycle(req);
                    if !self.send_scratch(conn, peer) {
                        return;
                    }
                    if !keep {
                        self.close(conn);
                        return;
                    }
                }
                Ok(None) => {
                    if c.decoder.take_expect_continue() {
                        self.scratch.clear();
                        self.scratch
                            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        self.send_scratch(conn, peer);
                    }
                    return;
                }
                Err(error) => {
                    self.reject(conn, peer, error);
                    return;
                }
            }
        }
    }

    fn reschedule(&mut self, conn: ConnId) {
        if let Some(c) = self.table.get(conn) {
            let wait = if c.decoder.in_progress() {
                self.request_timeout
            } else {
                self.keep_alive_timeout
            };
            self.timers.schedule(conn, c.last_active + wait);
        }
    }
}

impl<H: Handler> Service for HttpServer<H> {
    type Event = HttpEvent;

    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        self.table.insert(
            conn,
            HttpConn {
                peer,
                decoder: RequestDecoder::new(self.limits),
                last_active: now,
            },
        );
        self.reschedule(conn);
    }

    fn handle_input(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        c.decoder.feed(bytes);
        c.last_active = now;
        self.drain(conn);
        self.reschedule(conn);
    }

    fn handle_eof(&mut self, _now: Instant, conn: ConnId) {
        let Some(c) = self.table.get(conn) else {
            return;
        };
        if c.decoder.in_progress() {
            let peer = c.peer;
            let error = HttpError::new(
                Status::BAD_REQUEST,
                "the connection closed in the middle of a request",
            );
            self.reject(conn, peer, error);
        } else {
            self.close(conn);
        }
    }

    fn handle_lost(&mut self, _now: Instant, conn: ConnId, error: &str) {
        self.timers.cancel(conn);
        if let Some(c) = self.table.remove(conn) {
            if c.decoder.in_progress() {
                self.events.push_back(HttpEvent::Dropped {
                    conn,
                    peer: c.peer,
                    reason: error.to_owned(),
                });
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(conn) = self.timers.pop_due(now) {
            let Some(c) = self.table.get(conn) else {
                continue;
            };
            let in_progress = c.decoder.in_progress();
            let wait = if in_progress {
                self.request_timeout
            } else {
                self.keep_alive_timeout
            };
            if c.last_active + wait > now {
                self.reschedule(conn);
            } else if in_progress {
                let peer = c.peer;
                let message = format!(
                    "the request was not finished within {} s",
                    self.request_timeout.as_secs()
                );
                self.reject(conn, peer, HttpError::new(Status::REQUEST_TIMEOUT, message));
            } else {
                self.close(conn);
            }
        }
    }

    fn handle_shutdown(&mut self, _now: Instant) {
        for conn in self.table.open_ids() {
            self.close(conn);
        }
    }

    fn poll_event(&mut self) -> Option<HttpEvent> {
        self.events.pop_front()
    }

    fn poll_ready(&mut self) -> Option<(ConnId, Readiness)> {
        self.table.poll_ready()
    }

    fn poll_transmit(&mut self, conn: ConnId, out: &mut Vec<u8>, max: usize) -> Flow {
        self.table.poll_transmit(conn, out, max)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn connections(&self) -> usize {
        self.table.len()
    }

    fn is_open(&self, conn: ConnId) -> bool {
        self.table.get(conn).is_some()
    }
}
