//! The page and WebSocket server as a sans-IO [`Service`].
//!
//! Per connection: `Http` (requests answered as they come; `GET /` the
//! page) → on a valid upgrade (any path), `Ws` (messages answered as the
//! server's [`WsMode`] says, pushes from the console) → closed. Closes: the
//! client's close frame (answered, then the TCP close), 1009 for a message
//! over [`MAX_MESSAGE`], 1007 for text that is not UTF-8, 1002 for a
//! protocol error, 1001 for idleness and shutdown.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::io;
use std::time::Instant;

use tungstenite::error::CapacityError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

use super::mem::MemStream;
use super::WsEnd;
use super::{
    route, Route, WsMode, MAX_FRAME, MAX_MESSAGE, MAX_OUTPUT, PING_INTERVAL, WS_IDLE_TIMEOUT,
};
use crate::http1::{HttpConfig, HttpConnection, HttpError, Next, Reply, Status};
use crate::{ConnId, ConnTable, DeadlineQueue, Overflow, Service};

/// What the server reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// An HTTP request was answered (the page, an error...).
    Http {
        /// The connection.
        conn: ConnId,
        /// The client.
        peer: SocketAddr,
        /// `METHOD TARGET HTTP/1.x`.
        request_line: String,
        /// The status sent.
        status: Status,
    },
    /// A request did not parse; answered with its status, then closed.
    Rejected {
        /// The connection.
        conn: ConnId,
        /// The client.
        peer: SocketAddr,
        /// What was wrong.
        error: HttpError,
    },
    /// A WebSocket opened.
    Opened {
        /// The connection.
        conn: ConnId,
        /// The client.
        peer: SocketAddr,
    },
    /// A message came (text, or binary holding UTF-8 text).
    Message {
        /// The connection.
        conn: ConnId,
        /// What the client sent.
        text: String,
        /// What the server answered (`None` in push mode, which answers
        /// nothing).
        reply: Option<String>,
    },
    /// A WebSocket closed.
    Closed {
        /// The connection.
        conn: ConnId,
        /// The client.
        peer: SocketAddr,
        /// The close code, if one was sent or received.
        code: Option<u16>,
        /// Why.
        reason: WsEnd,
    },
}

enum State {
    Http(Box<HttpConnection>),
    Ws {
        ctx: Box<WebSocketContext>,
        io: MemStream,
        pinged: bool,
    },
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Http(_) => "Http",
            Self::Ws { .. } => "Ws",
        })
    }
}

#[derive(Debug)]
struct Conn {
    peer: SocketAddr,
    state: State,
    last_active: Instant,
}

/// The page and WebSocket sum server.
///
/// Guarantees: every message and frame bounded by [`MAX_MESSAGE`] and
/// [`MAX_FRAME`]; at most [`MAX_OUTPUT`] unsent bytes per connection; in
/// sum and hello modes every message gets exactly one reply; a bad message
/// never closes the connection, a bad frame closes only its own.
#[derive(Debug)]
pub struct WsServer {
    mode: WsMode,
    http: HttpConfig,
    table: ConnTable<Conn>,
    timers: DeadlineQueue,
    events: VecDeque<WsEvent>,
    config: WebSocketConfig,
    scratch: Vec<u8>,
    /// An empty buffer with capacity, swapped in for the one whose bytes
    /// go to the output queue (no allocation per message).
    spare: Vec<u8>,
    report_messages: bool,
}

impl Default for WsServer {
    fn default() -> Self {
        Self::new()
    }
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }
}

impl WsServer {
    /// A sum server (the exercise) with the default limits.
    pub fn new() -> Self {
        Self::with_mode(WsMode::Sum)
    }

    /// A server speaking `mode`, with the default limits.
    pub fn with_mode(mode: WsMode) -> Self {
        Self {
            mode,
            http: HttpConfig::default(),
            table: ConnTable::new(MAX_OUTPUT),
            timers: DeadlineQueue::new(),
            events: VecDeque::new(),
            config: WebSocketConfig::default()
                .max_message_size(Some(MAX_MESSAGE))
                .max_frame_size(Some(MAX_FRAME))
                .read_buffer_size(super::READ_BUFFER),
            scratch: Vec::new(),
            spare: Vec::new(),
            report_messages: true,
        }
    }

    /// Whether every answered message is reported as [`WsEvent::Message`]
    /// (on by default; off spares copying each message and reply for a log
    /// nobody prints). Connections, closes and problems are always reported.
    pub fn report_messages(mut self, on: bool) -> Self {
        self.report_messages = on;
        self
    }

    /// Replaces the limits and timeouts of the page's HTTP requests (and of
    /// upgrade requests).
    pub fn with_http(mut self, config: HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// The mode the server speaks.
    pub fn mode(&self) -> WsMode {
        self.mode
    }

    /// Sends a console line to every open WebSocket as a push (JSON in sum
    /// mode, plain text otherwise); returns how many got it.
    pub fn push(&mut self, _now: Instant, text: &str) -> usize {
        let message = self.mode.push(text);
        let mut sent = 0;
        for conn in self.table.open_ids() {
            let Some(Conn {
                state: State::Ws { ctx, io, .. },
                ..
            }) = self.table.get_mut(conn)
            else {
                continue;
            };
            if ctx.write(io, Message::text(message.clone())).is_ok() && ctx.flush(io).is_ok() {
                sent += 1;
            }
            self.flush_output(conn);
        }
        sent
    }

    /// Number of open WebSockets.
    pub fn sockets(&self) -> usize {
        self.table
            .iter_open()
            .filter(|(_, c)| matches!(c.state, State::Ws { .. }))
            .count()
    }

    /// Moves what tungstenite wrote into the connection's output queue.
    fn flush_output(&mut self, conn: ConnId) {
        let Some(Conn {
            state: State::Ws { io, .. },
            peer,
            ..
        }) = self.table.get_mut(conn)
        else {
            return;
        };
        if io.output.is_empty() {
            return;
        }
        let mut out = std::mem::replace(&mut io.output, std::mem::take(&mut self.spare));
        let peer = *peer;
        let sent = self.table.send(conn, &out);
        out.clear();
        self.spare = out;
        if let Err(overflow) = sent {
            self.dropped(conn, peer, overflow);
        }
    }

    /// A connection went over its output cap: the table aborts it.
    fn dropped(&mut self, conn: ConnId, peer: SocketAddr, overflow: Overflow) {
        self.timers.cancel(conn);
        self.events.push_back(WsEvent::Closed {
            conn,
            peer,
            code: None,
            reason: WsEnd::SlowReader(overflow),
        });
    }

    /// Closes a WebSocket with `code`: the close frame is sent, then the TCP close.
    fn close_ws(&mut self, conn: ConnId, code: u16, reason: WsEnd) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        let peer = c.peer;
        if let State::Ws { ctx, io, .. } = &mut c.state {
            let _ = ctx.close(io, Some(close_frame(code, &reason.to_string())));
            let _ = ctx.flush(io);
        }
        self.end_ws(conn, peer, Some(code), reason);
    }

    /// Sends what tungstenite has written (a close frame last), closes the
    /// connection after it, and reports the close.
    fn end_ws(&mut self, conn: ConnId, peer: SocketAddr, code: Option<u16>, reason: WsEnd) {
        self.flush_output(conn);
        self.table.close(conn);
        self.timers.cancel(conn);
        self.events.push_back(WsEvent::Closed {
            conn,
            peer,
            code,
            reason,
        });
    }

    /// Answers every complete request buffered on an HTTP connection (the
    /// page, errors), or upgrades it.
    fn on_http(&mut self, conn: ConnId) {
        let Some(Conn {
            state: State::Http(http),
            peer,
            ..
        }) = self.table.get_mut(conn)
        else {
            return;
        };
        let (peer, events) = (*peer, &mut self.events);
        self.scratch.clear();
        let next = http.answer(
            &mut self.scratch,
            |req| match route(req) {
                Route::Http(resp) => Reply::Response(resp),
                Route::Upgrade(head) => Reply::Upgrade(head),
            },
            true,
            |a| {
                events.push_back(WsEvent::Http {
                    conn,
                    peer,
                    request_line: a.request_line,
                    status: a.status,
                });
            },
        );
        self.settle_http(conn, peer, next);
    }

    /// Sends what an HTTP step wrote, then does what it says.
    fn settle_http(&mut self, conn: ConnId, peer: SocketAddr, next: Next) {
        if !self.scratch.is_empty() {
            if let Err(overflow) = self.table.send(conn, &self.scratch) {
                self.dropped(conn, peer, overflow);
                return;
            }
        }
        match next {
            Next::Open => self.reschedule(conn),
            Next::Close => {
                self.table.close(conn);
                self.timers.cancel(conn);
            }
            Next::Rejected(error) => {
                self.table.close(conn);
                self.timers.cancel(conn);
                self.events
                    .push_back(WsEvent::Rejected { conn, peer, error });
            }
            Next::Upgrade(rest) => {
                let ctx = WebSocketContext::new(Role::Server, Some(self.config));
                if let Some(c) = self.table.get_mut(conn) {
                    c.state = State::Ws {
                        ctx: Box::new(ctx),
                        io: MemStream {
                            input: rest,
                            ..MemStream::default()
                        },
                        pinged: false,
                    };
                    self.events.push_back(WsEvent::Opened { conn, peer });
                    self.on_ws(conn);
                    self.reschedule(conn);
                }
            }
        }
    }

    /// Reads every complete message buffered on a WebSocket and answers it.
    fn on_ws(&mut self, conn: ConnId) {
        loop {
            let Some(Conn {
                state: State::Ws { ctx, io, .. },
                peer,
                ..
            }) = self.table.get_mut(conn)
            else {
                return;
            };
            let peer = *peer;
            match ctx.read(io) {
                Ok(Message::Text(text)) => {
                    let reply = self.mode.reply(text.as_str());
                    self.answer(conn, text.as_str(), reply);
                }
                Ok(Message::Binary(bytes)) => {
                    let reply = self.mode.reply_binary(&bytes);
                    self.answer(conn, &String::from_utf8_lossy(&bytes), reply);
                }
                Ok(Message::Close(frame)) => {
                    let _ = ctx.flush(io);
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    let reason = WsEnd::ClientClosed(
                        frame
                            .map(|f| f.reason.as_str().to_owned())
                            .filter(|r| !r.is_empty()),
                    );
                    self.end_ws(conn, peer, code, reason);
                    return;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = ctx.flush(io);
                    self.flush_output(conn);
                    return;
                }
                Err(tungstenite::Error::Capacity(CapacityError::MessageTooLong {
                    size, ..
                })) if msb_length(size) => {
                    // tungstenite reads the 64-bit length as a size; RFC
                    // 6455 §5.2 forbids its most significant bit: not a
                    // size at all, a protocol error.
                    let why = "a 64-bit frame length with its most significant bit set (RFC 6455 section 5.2)";
                    self.close_ws(conn, 1002, WsEnd::Protocol(why.to_owned()));
                    return;
                }
                Err(tungstenite::Error::Capacity(e)) => {
                    self.close_ws(conn, 1009, WsEnd::TooBig(e.to_string()));
                    return;
                }
                Err(tungstenite::Error::Utf8(_)) => {
                    self.close_ws(conn, 1007, WsEnd::BadUtf8);
                    return;
                }
                Err(tungstenite::Error::Protocol(e)) => {
                    self.close_ws(conn, 1002, WsEnd::Protocol(e.to_string()));
                    return;
                }
                Err(e) => {
                    self.close_ws(conn, 1011, WsEnd::Internal(e.to_string()));
                    return;
                }
            }
        }
    }

    /// Writes `reply` (if any) to a WebSocket and reports the exchange.
    fn answer(&mut self, conn: ConnId, text: &str, reply: Option<String>) {
        let Some(Conn {
            state: State::Ws { ctx, io, .. },
            ..
        }) = self.table.get_mut(conn)
        else {
            return;
        };
        let logged = self.report_messages.then(|| reply.clone());
        if let Some(reply) = reply {
            let _ = ctx.write(io, Message::text(reply));
        }
        if let Some(reply) = logged {
            self.events.push_back(WsEvent::Message {
                conn,
                text: text.to_owned(),
                reply,
            });
        }
    }

    fn reschedule(&mut self, conn: ConnId) {
        let Some(c) = self.table.get(conn) else {
            return;
        };
        let at = match &c.state {
            State::Http(http) => http.deadline(),
            State::Ws { pinged: false, .. } => c.last_active + PING_INTERVAL,
            State::Ws { pinged: true, .. } => c.last_active + WS_IDLE_TIMEOUT,
        };
        self.timers.schedule(conn, at);
    }
}

impl Service for WsServer {
    type Event = WsEvent;

    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        self.table.insert(
            conn,
            Conn {
                peer,
                state: State::Http(Box::new(HttpConnection::new(now, self.http))),
                last_active: now,
            },
        );
        self.reschedule(conn);
    }

    fn handle_input(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        c.last_active = now;
        match &mut c.state {
            State::Http(http) => {
                http.feed(now, bytes);
                self.on_http(conn);
            }
            State::Ws { io, pinged, .. } => {
                *pinged = false;
                io.input.extend_from_slice(bytes);
                self.on_ws(conn);
            }
        }
        self.reschedule(conn);
    }

    fn handle_eof(&mut self, _now: Instant, conn: ConnId) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        let peer = c.peer;
        if let State::Http(http) = &mut c.state {
            self.scratch.clear();
            let next = http.handle_eof(&mut self.scratch);
            self.settle_http(conn, peer, next);
            return;
        }
        self.events.push_back(WsEvent::Closed {
            conn,
            peer,
            code: None,
            reason: WsEnd::Vanished,
        });
        self.table.close(conn);
        self.timers.cancel(conn);
    }

    fn handle_lost(&mut self, _now: Instant, conn: ConnId, error: &str) {
        self.timers.cancel(conn);
        if let Some(c) = self.table.remove(conn) {
            if matches!(c.state, State::Ws { .. }) {
                self.events.push_back(WsEvent::Closed {
                    conn,
                    peer: c.peer,
                    code: None,
                    reason: WsEnd::Lost(error.to_owned()),
                });
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(conn) = self.timers.pop_due(now) {
            let Some(c) = self.table.get_mut(conn) else {
                continue;
            };
            let idle = now.saturating_duration_since(c.last_active);
            let peer = c.peer;
            match &mut c.state {
                State::Http(http) => {
                    self.scratch.clear();
                    let next = http.handle_timeout(now, &mut self.scratch);
                    self.settle_http(conn, peer, next);
                    continue;
                }
                State::Ws { .. } if idle >= WS_IDLE_TIMEOUT => {
                    self.close_ws(conn, 1001, WsEnd::Idle);
                    continue;
                }
                State::Ws { ctx, io, pinged } if idle >= PING_INTERVAL && !*pinged => {
                    *pinged = true;
                    let _ = ctx.write(io, Message::Ping(Vec::new().into()));
                    let _ = ctx.flush(io);
                    self.flush_output(conn);
                }
                State::Ws { .. } => {}
            }
            self.reschedule(conn);
        }
    }

    fn handle_shutdown(&mut self, _now: Instant) {
        for conn in self.table.open_ids() {
            match self
                .table
                .get(conn)
                .map(|c| matches!(c.state, State::Ws { .. }))
            {
                Some(true) => self.close_ws(conn, 1001, WsEnd::Shutdown),
                _ => {
                    self.table.close(conn);
                    self.timers.cancel(conn);
                }
            }
        }
    }

    crate::conn_table::table_outputs!();
}

/// Whether a frame size tungstenite reports came from a 64-bit length with
/// its most significant bit set (as `usize`: on 64-bit targets, where the
/// length is read whole).
fn msb_length(size: usize) -> bool {
    u64::try_from(size).is_ok_and(|s| s > i64::MAX as u64)
}
