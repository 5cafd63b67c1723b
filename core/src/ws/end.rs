//! Why a WebSocket ends, and who is at fault.

use crate::{Fault, Overflow};

/// Why a WebSocket (or its connection) ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WsEnd {
    /// The client sent a close frame (with its reason, if it gave one).
    #[error("client closed{}", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    ClientClosed(Option<String>),
    /// The client went away without a close frame.
    #[error("the client went away without a close frame")]
    Vanished,
    /// The connection failed.
    #[error("connection lost: {0}")]
    Lost(String),
    /// A message or frame over the limit (close 1009).
    #[error("message too big: {0}")]
    TooBig(String),
    /// A text message that is not UTF-8 (close 1007).
    #[error("text message is not valid UTF-8")]
    BadUtf8,
    /// The client broke the WebSocket protocol (close 1002).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server cannot go on with this connection (close 1011).
    #[error("cannot continue: {0}")]
    Internal(String),
    /// No answer to pings (close 1001).
    #[error("idle: no answer to pings")]
    Idle,
    /// The server is stopping (close 1001).
    #[error("server shutting down")]
    Shutdown,
    /// The client stopped reading while output piled up.
    #[error("{0}")]
    SlowReader(Overflow),
}

impl WsEnd {
    /// Who is at fault, if anyone (a client's close and a shutdown are
    /// nobody's fault).
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Self::ClientClosed(_) | Self::Shutdown => None,
            Self::Vanished | Self::Lost(_) => Some(Fault::Network),
            Self::TooBig(_) | Self::Idle | Self::SlowReader(_) => Some(Fault::Limit),
            Self::BadUtf8 => Some(Fault::PeerData),
            Self::Protocol(_) => Some(Fault::PeerOrder),
            Self::Internal(_) => Some(Fault::Local),
        }
    }
}
