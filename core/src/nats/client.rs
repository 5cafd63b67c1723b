//! [`NatsClient`]: one connection to a NATS server as a [`Session`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::proto::{
    encode_connect, encode_pub, encode_sub, encode_unsub, valid_subject, Message, OpDecoder,
    ProtoError, ServerInfo, ServerOp, DEFAULT_MAX_PAYLOAD,
};
use crate::{Fault, Session};

/// How quiet the link may be before the client sends its own `PING`.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long a `PING` may wait for its `PONG` before the link counts as dead.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server may take to say `INFO` and answer the first `PING`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Cap on the bytes queued for the server and not yet taken by the driver:
/// past it, a publish is refused instead of the queue growing.
pub const MAX_OUTBOX: usize = 4 * 1024 * 1024;

/// What a [`NatsClient`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsEvent {
    /// The server sent `INFO` and answered the `PING` after our `CONNECT`:
    /// the link is up (subscriptions made before are in force).
    Connected(ServerInfo),
    /// A message on one of our subscriptions.
    Message(Message),
    /// The server has processed everything sent before the matching
    /// [`flush`](NatsClient::flush) (its `PONG` came).
    Flushed,
    /// A `-ERR` the server does not close the link for (a permissions
    /// violation, an invalid subject).
    ServerError(String),
    /// The link is dead (see the error); the session is over.
    Failed(NatsError),
    /// The server closed the connection; the session is over.
    Closed,
}

/// Why the link to the server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NatsError {
    /// The server's bytes broke the protocol or a limit.
    #[error("the broker broke the protocol: {0}")]
    Protocol(#[from] ProtoError),
    /// A `-ERR` after which the server closes the link.
    #[error("the broker refused: {0}")]
    Server(String),
    /// No `PONG` within [`PONG_TIMEOUT`] of our `PING`.
    #[error("no PONG within {} s: the link is dead", PONG_TIMEOUT.as_secs())]
    DeadLink,
    /// No `INFO`, or no answer to the first `PING`, within [`CONNECT_TIMEOUT`].
    #[error("the broker did not complete the connection within {} s", CONNECT_TIMEOUT.as_secs())]
    ConnectTimeout,
    /// The connection failed underneath.
    #[error("connection to the broker lost: {0}")]
    Lost(String),
}

impl NatsError {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Protocol(e) => e.fault(),
            Self::Server(_) => Fault::PeerOrder,
            Self::DeadLink | Self::ConnectTimeout => Fault::Limit,
            Self::Lost(_) => Fault::Network,
        }
    }
}

/// Why a subscription or a publish was refused (nothing was queued).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A subject that is empty, has an empty token, spaces or control bytes.
    #[error("invalid subject '{0}'")]
    InvalidSubject(String),
    /// A payload over the server's `max_payload`.
    #[error("a {size}-byte payload, over the broker's limit of {max}")]
    TooLarge {
        /// The payload's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The outgoing queue is over [`MAX_OUTBOX`]: the broker is not keeping up.
    #[error("{queued} bytes wait for the broker, over the cap of {MAX_OUTBOX}")]
    Backlog {
        /// Bytes already queued.
        queued: usize,
    },
    /// The session is over.
    #[error("the link to the broker is closed")]
    Closed,
}

impl SendError {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Self::InvalidSubject(_) | Self::TooLarge { .. } | Self::Closed => Fault::Local,
            Self::Backlog { .. } => Fault::Limit,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the server's `INFO`.
    AwaitInfo,
    /// `CONNECT` and `PING` sent; waiting for the `PONG`.
    AwaitPong,
    /// Up.
    Ready,
    /// Over.
    Closed,
}

/// Why a `PING` went out (their `PONG`s come back in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ping {
    /// After `CONNECT`: its `PONG` means the link is up.
    Connect,
    /// The keep-alive.
    KeepAlive,
    /// [`NatsClient::flush`].
    Flush,
}

/// The client side of one NATS connection: `CONNECT` with `echo:false`
/// (the server never sends us our own messages), subscriptions, publishes,
/// and the keep-alive (`PING` when quiet, a dead link when its `PONG` does
/// not come). Output before `INFO` is held and sent after `CONNECT`.
#[derive(Debug)]
pub struct NatsClient {
    name: String,
    state: State,
    decoder: OpDecoder,
    info: Option<ServerInfo>,
    /// Subscriptions and publishes made before `INFO`.
    early: Vec<u8>,
    out: Vec<u8>,
    events: VecDeque<NatsEvent>,
    next_sid: u64,
    /// Connection deadline, then the next keep-alive check.
    deadline: Instant,
    /// When our keep-alive `PING` must be answered, if one is out.
    pong_due: Option<Instant>,
    /// Our `PING`s not answered yet, oldest first.
    pings: VecDeque<Ping>,
}

/// Whether a `-ERR` leaves the connection open (the NATS server closes it
/// after every other one).
fn recoverable(err: &str) -> bool {
    let e = err.to_ascii_lowercase();
    e.starts_with("permissions violation") || e.starts_with("invalid subject")
}

impl NatsClient {
    /// A client that will introduce itself as `name`, connecting at `now`.
    pub fn new(name: &str, now: Instant) -> Self {
        Self {
            name: name.to_owned(),
            state: State::AwaitInfo,
            decoder: OpDecoder::new(),
            info: None,
            early: Vec::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            next_sid: 1,
            deadline: now + CONNECT_TIMEOUT,
            pong_due: None,
            pings: VecDeque::new(),
        }
    }

    /// Asks the server to confirm it has processed everything sent so
    /// far (a `PING`); [`NatsEvent::Flushed`] comes with its `PONG`. Before
    /// the link is up, the confirmation follows the connection's.
    pub fn flush(&mut self) -> Result<(), SendError> {
        self.queue(|out| out.extend_from_slice(b"PING\r\n"))?;
        self.pings.push_back(Ping::Flush);
        Ok(())
    }

    /// The server's `INFO`, once it came.
    pub fn info(&self) -> Option<&ServerInfo> {
        self.info.as_ref()
    }

    /// Whether the link is up.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// Bytes queued for the server.
    pub fn queued(&self) -> usize {
        self.out.len() + self.early.len()
    }

    fn queue(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), SendError> {
        if self.state == State::Closed {
            return Err(SendError::Closed);
        }
        let queued = self.queued();
        if queued > MAX_OUTBOX {
            return Err(SendError::Backlog { queued });
        }
        if self.state == State::AwaitInfo {
            write(&mut self.early);
        } else {
            write(&mut self.out);
        }
        Ok(())
    }

    /// Subscribes to `subject` (wildcards allowed); returns the sid its
    /// messages will carry.
    pub fn subscribe(&mut self, subject: &str) -> Result<u64, SendError> {
        if !valid_subject(subject) {
            return Err(SendError::InvalidSubject(subject.to_owned()));
        }
        let sid = self.next_sid;
        self.queue(|out| encode_sub(out, subject, sid))?;
        self.next_sid += 1;
        Ok(sid)
    }

    /// Ends the subscription `sid`.
    pub fn unsubscribe(&mut self, sid: u64) -> Result<(), SendError> {
        self.queue(|out| encode_unsub(out, sid))
    }

    /// Publishes `payload` on `subject`, answers asked to `reply`.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) -> Result<(), SendError> {
        if !valid_subject(subject) || reply.is_some_and(|r| !valid_subject(r)) {
            return Err(SendError::InvalidSubject(subject.to_owned()));
        }
        let max = self
            .info
            .as_ref()
            .map_or(DEFAULT_MAX_PAYLOAD, |i| i.max_payload);
        if payload.len() > max {
            return Err(SendError::TooLarge {
                size: payload.len(),
                max,
            });
        }
        self.queue(|out| encode_pub(out, subject, reply, payload))
    }

    fn fail(&mut self, error: NatsError) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.out.clear();
            self.early.clear();
            self.events.push_back(NatsEvent::Failed(error));
        }
    }

    fn on_op(&mut self, now: Instant, op: ServerOp) {
        match op {
            ServerOp::Info(info) => {
                if self.state == State::AwaitInfo {
                    // The early subscriptions go before the PING, so
                    // its PONG means they are in force (early flushes'
                    // PINGs, in `early`, are answered first).
                    encode_connect(&mut self.out, &self.name);
                    self.out.append(&mut self.early);
                    self.out.extend_from_slice(b"PING\r\n");
                    self.pings.push_back(Ping::Connect);
                    self.state = State::AwaitPong;
                }
                self.info = Some(info);
            }
            ServerOp::Ping => self.out.extend_from_slice(b"PONG\r\n"),
            ServerOp::Pong => match self.pings.pop_front() {
                Some(Ping::Connect) => {
                    self.state = State::Ready;
                    self.deadline = now + PING_INTERVAL;
                    if let Some(info) = self.info.clone() {
                        self.events.push_back(NatsEvent::Connected(info));
                    }
                }
                Some(Ping::KeepAlive) => self.pong_due = None,
                Some(Ping::Flush) => self.events.push_back(NatsEvent::Flushed),
                // A PONG nobody asked for: harmless.
                None => {}
            },
            ServerOp::Ok => {}
            ServerOp::Err(e) if recoverable(&e) => self.events.push_back(NatsEvent::ServerError(e)),
            ServerOp::Err(e) => self.fail(NatsError::Server(e)),
            ServerOp::Msg(m) => self.events.push_back(NatsEvent::Message(m)),
        }
    }
}

impl Session for NatsClient {
    type Event = NatsEvent;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if self.state == State::Ready {
            // Any traffic shows the link is alive.
            self.deadline = now + PING_INTERVAL;
        }
        self.decoder.feed(bytes);
        loop {
            match self.decoder.next_op() {
                Ok(Some(op)) => {
                    if self.state == State::AwaitInfo && !matches!(op, ServerOp::Info(_)) {
                        let what = op.name();
                        self.fail(NatsError::Protocol(ProtoError::Malformed(format!(
                            "expected INFO first, got {what}"
                        ))));
                        return;
                    }
                    self.on_op(now, op);
                    if self.state == State::Closed {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    self.fail(NatsError::Protocol(e));
                    return;
                }
            }
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.out.clear();
            self.events.push_back(NatsEvent::Closed);
        }
    }

    fn handle_lost(&mut self, _now: Instant, error: &str) {
        self.fail(NatsError::Lost(error.to_owned()));
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::AwaitInfo | State::AwaitPong if now >= self.deadline => {
                self.fail(NatsError::ConnectTimeout);
            }
            State::Ready => {
                if self.pong_due.is_some_and(|due| now >= due) {
                    self.fail(NatsError::DeadLink);
                } else if self.pong_due.is_none() && now >= self.deadline {
                    self.out.extend_from_slice(b"PING\r\n");
                    self.pings.push_back(Ping::KeepAlive);
                    self.pong_due = Some(now + PONG_TIMEOUT);
                    self.deadline = now + PING_INTERVAL;
                }
            }
            _ => {}
        }
    }

    fn poll_event(&mut self) -> Option<NatsEvent> {
        self.events.pop_front()
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Ready => Some(
                self.pong_due
                    .map_or(self.deadline, |d| d.min(self.deadline)),
            ),
            _ => Some(self.deadline),
        }
    }

    fn is_closed(&self) -> bool {
        self.state == State::Closed && self.events.is_empty()
    }
}
