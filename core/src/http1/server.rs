//! An HTTP/1.1 server as a sans-IO [`Service`]: an [`HttpConnection`] per
//! connection hands each request to a [`Handler`] in order.
//!
//! Per connection: idle → (request head → body → response)* → close. A
//! connection closes after a response when the request asked for it
//! (`Connection: close`, HTTP/1.0), after any [`HttpError`] (answered with
//! its status), when a started request is not finished within
//! [`REQUEST_TIMEOUT`](super::REQUEST_TIMEOUT) (408), or when idle longer
//! than [`KEEP_ALIVE_TIMEOUT`](super::KEEP_ALIVE_TIMEOUT).

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{
    HttpConfig, HttpConnection, HttpError, Limits, Next, Reply, Request, Response, Status,
    MAX_OUTPUT,
};
use crate::{ConnId, ConnTable, DeadlineQueue, Fault, Overflow, Service};

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
        reason: HttpDrop,
    },
}

/// Why an HTTP connection was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpDrop {
    /// The client stopped reading while answers piled up.
    #[error("{0}")]
    SlowReader(Overflow),
    /// The connection failed in the middle of a request.
    #[error("{0}")]
    Lost(String),
}

impl HttpDrop {
    /// Who is at fault: the client past the output cap, or the network.
    pub fn fault(&self) -> Fault {
        match self {
            Self::SlowReader(_) => Fault::Limit,
            Self::Lost(_) => Fault::Network,
        }
    }
}

#[derive(Debug)]
struct HttpConn {
    peer: SocketAddr,
    http: HttpConnection,
}

/// An HTTP/1.1 server over any [`Handler`]: one [`HttpConnection`] per
/// connection.
///
/// Guarantees: the limits of [`Limits`] on every request; at most
/// [`MAX_OUTPUT`] unsent bytes per connection (past it, dropped); responses
/// in request order; every error answered with its status before closing.
#[derive(Debug)]
pub struct HttpServer<H> {
    handler: H,
    config: HttpConfig,
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
            config: HttpConfig::default(),
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
        self.config.limits = limits;
        self
    }

    /// Replaces every limit and timeout at once.
    pub fn with_http(mut self, config: HttpConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the timeouts (silence within a request, idle keep-alive).
    pub fn with_timeouts(mut self, request: Duration, keep_alive: Duration) -> Self {
        self.config.request_timeout = request;
        self.config.keep_alive_timeout = keep_alive;
        self
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Answers every complete request buffered on `conn`.
    fn drain(&mut self, conn: ConnId) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        let peer = c.peer;
        let (handler, events) = (&mut self.handler, &mut self.events);
        self.scratch.clear();
        let next = c.http.answer(
            &mut self.scratch,
            |req| Reply::Response(handler.handle(req)),
            self.report_served,
            |a| {
                events.push_back(HttpEvent::Served {
                    conn,
                    peer,
                    request_line: a.request_line,
                    status: a.status,
                    bytes: a.bytes,
                });
            },
        );
        self.settle(conn, peer, next);
    }

    /// Sends what a step wrote, then does what it says.
    fn settle(&mut self, conn: ConnId, peer: SocketAddr, next: Next) {
        if !self.scratch.is_empty() {
            if let Err(overflow) = self.table.send(conn, &self.scratch) {
                self.timers.cancel(conn);
                self.events.push_back(HttpEvent::Dropped {
                    conn,
                    peer,
                    reason: HttpDrop::SlowReader(overflow),
                });
                return;
            }
        }
        match next {
            Next::Open => {
                if let Some(c) = self.table.get(conn) {
                    self.timers.schedule(conn, c.http.deadline());
                }
            }
            // A plain handler never upgrades.
            Next::Close | Next::Upgrade(_) => self.close(conn),
            Next::Rejected(error) => {
                self.close(conn);
                self.events
                    .push_back(HttpEvent::Rejected { conn, peer, error });
            }
        }
    }

    fn close(&mut self, conn: ConnId) {
        self.table.close(conn);
        self.timers.cancel(conn);
    }
}

impl<H: Handler> Service for HttpServer<H> {
    type Event = HttpEvent;

    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        let http = HttpConnection::new(now, self.config);
        self.timers.schedule(conn, http.deadline());
        self.table.insert(conn, HttpConn { peer, http });
    }

    fn handle_input(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        c.http.feed(now, bytes);
        self.drain(conn);
    }

    fn handle_eof(&mut self, _now: Instant, conn: ConnId) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        let peer = c.peer;
        self.scratch.clear();
        let next = c.http.handle_eof(&mut self.scratch);
        self.settle(conn, peer, next);
    }

    fn handle_lost(&mut self, _now: Instant, conn: ConnId, error: &str) {
        self.timers.cancel(conn);
        if let Some(c) = self.table.remove(conn) {
            if c.http.in_progress() {
                self.events.push_back(HttpEvent::Dropped {
                    conn,
                    peer: c.peer,
                    reason: HttpDrop::Lost(error.to_owned()),
                });
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(conn) = self.timers.pop_due(now) {
            let Some(c) = self.table.get_mut(conn) else {
                continue;
            };
            let peer = c.peer;
            self.scratch.clear();
            let next = c.http.handle_timeout(now, &mut self.scratch);
            self.settle(conn, peer, next);
        }
    }

    fn handle_shutdown(&mut self, _now: Instant) {
        for conn in self.table.open_ids() {
            self.close(conn);
        }
    }

    crate::conn_table::table_outputs!();
}
