//! Exercise 1: the TCP chat, as newline-framed UTF-8 lines.
//!
//! [`ChatServer`] is the server logic in three modes ([`ChatMode`]): the
//! class's echo example, the exercise's 1:1 chat where the client speaks
//! first, and a room for many clients. [`ChatClient`] is the client side.

mod client;
pub mod federation;
mod server;

use core::net::SocketAddr;
use std::time::Duration;

pub use client::{ChatClient, ClientEvent, SendError};
pub use server::{
    welcome_line, welcomed_nick, ChatServer, FederationConfig, InvalidId, RoomBatch, RoomNames,
    ShardEvent, ANNOUNCE_INTERVAL, MAX_IN_FLIGHT, MAX_PENDING_WHO, MAX_REMOTE_NAMES, MAX_SERVERS,
    MEMBERS_PART, OUT_SLACK, SUMMARY_ABOVE, SUMMARY_INTERVAL, WHO_DEADLINE, WHO_LATE,
};

use crate::{ConnId, Fault, LineError, Overflow};

/// Longest nickname in room mode, in bytes.
pub const MAX_NICK: usize = 32;
/// Default idle time after which a silent client is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Default limit on simultaneous clients.
pub const MAX_CLIENTS: usize = 20_000;

/// How the chat server treats lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatMode {
    /// The class example: every line is answered with `Eco=><line>`.
    Echo,
    /// The exercise: one client and the server operator talk in full duplex;
    /// the client speaks first.
    Chat,
    /// Many clients; each line goes to every other client as `nick: line`.
    Room,
}

/// Settings of a [`ChatServer`]. Every limit is bounded by a named default.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Server behaviour.
    pub mode: ChatMode,
    /// Longest accepted line (default [`MAX_LINE`](crate::MAX_LINE)).
    pub max_line: usize,
    /// Output a client may leave unread before it is dropped (default [`MAX_BACKLOG`](crate::MAX_BACKLOG)).
    pub max_backlog: usize,
    /// Silence after which a client is disconnected (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Quiet period after which bytes without a newline count as a line
    /// (`None`: only newlines end lines). Lets the class's Python client,
    /// which sends no newline, talk to commlab unchanged.
    pub quiet_flush: Option<Duration>,
    /// Most clients at once; more are told so and closed.
    pub max_clients: usize,
    /// Room mode: announce joins, leaves and renames to everyone (their
    /// number grows as clients², so a large room may switch them off).
    pub notices: bool,
}

impl ChatConfig {
    /// The defaults for `mode`.
    pub fn new(mode: ChatMode) -> Self {
        Self {
            mode,
            max_line: crate::MAX_LINE,
            max_backlog: crate::MAX_BACKLOG,
            idle_timeout: Some(IDLE_TIMEOUT),
            quiet_flush: Some(crate::QUIET_FLUSH),
            max_clients: MAX_CLIENTS,
            notices: true,
        }
    }
}

/// Why the server closed (or lost) a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed its side.
    #[error("client closed the connection")]
    PeerClosed,
    /// The client sent `/quit`.
    #[error("client quit")]
    Quit,
    /// The connection failed.
    #[error("connection lost: {0}")]
    Lost(String),
    /// The client sent a line over the limit.
    #[error("{0}")]
    LineTooLong(LineError),
    /// The client stopped reading while output piled up.
    #[error("{0}")]
    SlowReader(Overflow),
    /// The client was silent too long.
    #[error("idle for {}", human(*.0))]
    Idle(Duration),
    /// Chat mode talks to one client at a time.
    #[error("busy: already chatting with another client")]
    Busy,
    /// The server holds its maximum number of clients.
    #[error("server full")]
    Full,
    /// The server is shutting down.
    #[error("server shutting down")]
    Shutdown,
}

impl CloseReason {
    /// Who is at fault, if anyone (a client that closes or quits, a busy or
    /// full server and a shutdown are nobody's fault).
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Self::PeerClosed | Self::Quit | Self::Busy | Self::Full | Self::Shutdown => None,
            Self::Lost(_) => Some(Fault::Network),
            Self::LineTooLong(e) => Some(e.fault()),
            Self::SlowReader(_) | Self::Idle(_) => Some(Fault::Limit),
        }
    }
}

/// What the chat server reports to its operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// A client connected (the class server prints `Server conectado por ...`).
    Connected {
        /// The connection.
        conn: ConnId,
        /// Its address.
        peer: SocketAddr,
        /// Its name in room mode.
        nick: String,
    },
    /// A client was turned away at once.
    Refused {
        /// The connection.
        conn: ConnId,
        /// Its address.
        peer: SocketAddr,
        /// Why.
        reason: CloseReason,
    },
    /// A client sent a line (the class server prints `Cliente enviou: ...`).
    Received {
        /// The connection.
        conn: ConnId,
        /// The sender's name.
        nick: String,
        /// The text.
        line: String,
    },
    /// A client changed its name in room mode.
    Renamed {
        /// The connection.
        conn: ConnId,
        /// The old name.
        old: String,
        /// The new name.
        new: String,
    },
    /// A client sent a line that is not UTF-8; it was told and stays connected.
    BadLine {
        /// The connection.
        conn: ConnId,
        /// What was wrong.
        error: LineError,
    },
    /// A client left or was disconnected.
    Disconnected {
        /// The connection.
        conn: ConnId,
        /// Its name.
        nick: String,
        /// Why.
        reason: CloseReason,
    },
    /// About the other servers of a federated room.
    Federation(FederationEvent),
    /// A sharded room's request to its application (rooms spread across
    /// event loops only).
    Shard(ShardEvent),
}

/// What a federated room reports about the other servers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FederationEvent {
    /// Another server's message was dropped (see the error); `total`
    /// counts every one dropped so far.
    Refused {
        /// Why.
        error: federation::EnvelopeError,
        /// Dropped so far.
        total: u64,
    },
    /// A name was on two servers (found after an outage): the local
    /// client gave way to `server`'s and is now `renamed`.
    NameClash {
        /// The name.
        nick: String,
        /// The server that keeps it.
        server: String,
        /// The local client's new name.
        renamed: String,
    },
    /// A server not heard from for three announce intervals is taken
    /// to be gone, its `names` freed.
    ServerGone {
        /// Its id.
        server: String,
        /// How many names it held.
        names: usize,
    },
}

/// Why a line typed at the server console was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// No client is connected.
    #[error("no client is connected yet; wait for one")]
    NoClient,
    /// Chat mode: the client has not spoken yet.
    #[error("the client speaks first: wait for its first message")]
    ClientFirst,
    /// Echo mode has no operator chat.
    #[error("the echo server has no operator chat (use --mode chat or --mode room)")]
    EchoMode,
    /// The text cannot be sent as one line.
    #[error(transparent)]
    Line(#[from] LineError),
}

impl ConsoleError {
    /// Who is at fault: the operator, who typed at the wrong moment or in
    /// the wrong mode.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Line(e) => e.fault(),
            Self::NoClient | Self::ClientFirst | Self::EchoMode => Fault::Local,
        }
    }
}

/// A duration as people write it: `300 ms`, `15 s`.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs())
    }
}
