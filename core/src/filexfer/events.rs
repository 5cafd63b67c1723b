//! What the file server reports to the application, and asks of it: the
//! events of [`FtServer`](super::FtServer), each answered (where it asks)
//! with one of the server's commands.

use core::net::SocketAddr;

#[cfg(doc)]
use super::{validate_name, FtServer};
use super::{DigestAlg, FrameError};
use crate::ConnId;
use crate::{Fault, Overflow};

/// Why a connection, or a transfer on it, ended before its time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FtEnd {
    /// The client closed its side.
    #[error("the client closed the connection")]
    ClientClosed,
    /// The client said QUIT.
    #[error("client quit")]
    Quit,
    /// The connection failed.
    #[error("connection lost: {0}")]
    Lost(String),
    /// Too many failed logins.
    #[error("{0} failed logins")]
    LoginFailures(u8),
    /// The client sent bytes that are not a frame.
    #[error("bad frame: {0}")]
    BadFrame(FrameError),
    /// The client sent a frame at the wrong moment (its name).
    #[error("unexpected {0} here")]
    OutOfOrder(&'static str),
    /// An upload's length or digest did not match what was announced.
    #[error("{0}")]
    Mismatch(String),
    /// The file changed on the server while it was being sent.
    #[error("the file grew while being sent")]
    FileChanged,
    /// The application could not read or write the file.
    #[error("{0}")]
    Storage(String),
    /// The client stopped reading while output piled up.
    #[error("{0}")]
    SlowReader(Overflow),
    /// The client was silent too long.
    #[error("idle")]
    Idle,
    /// The client was too slow: no login in time, or an upload under the
    /// minimum rate (what it ran into).
    #[error("{0}")]
    TooSlow(String),
    /// The server is stopping.
    #[error("server shutting down")]
    Shutdown,
}

impl FtEnd {
    /// Who is at fault, if anyone (a client that closes or quits, and a
    /// server that stops, are nobody's fault).
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Self::ClientClosed | Self::Quit | Self::Shutdown => None,
            Self::Lost(_) => Some(Fault::Network),
            Self::LoginFailures(_) | Self::SlowReader(_) | Self::Idle | Self::TooSlow(_) => {
                Some(Fault::Limit)
            }
            Self::BadFrame(e) => Some(e.fault()),
            Self::OutOfOrder(_) => Some(Fault::PeerOrder),
            Self::Mismatch(_) => Some(Fault::PeerData),
            Self::FileChanged | Self::Storage(_) => Some(Fault::Local),
        }
    }
}

/// A whole transfer, its length and digest verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Digest (hex).
    pub digest: String,
    /// Digest algorithm.
    pub alg: DigestAlg,
}

/// `NAME (SIZE bytes, ALG DIGEST)`, as the logs show it.
impl std::fmt::Display for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} bytes, {} {})",
            self.name,
            self.size,
            self.alg.name(),
            self.digest
        )
    }
}

/// What the server reports, and asks of the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FtEvent {
    /// A client connected.
    Connected {
        /// The connection.
        conn: ConnId,
        /// The client.
        peer: SocketAddr,
    },
    /// Check these credentials, then call [`FtServer::login_result`].
    Login {
        /// The connection.
        conn: ConnId,
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// A login succeeded.
    LoggedIn {
        /// The connection.
        conn: ConnId,
        /// User name.
        user: String,
    },
    /// A login failed; `closed` once the connection is closed for it.
    LoginFailed {
        /// The connection.
        conn: ConnId,
        /// The user name tried.
        user: String,
        /// Failures so far.
        failures: u8,
        /// Whether the connection was closed.
        closed: bool,
    },
    /// List the folder, then call [`FtServer::list_result`].
    ListRequest {
        /// The connection.
        conn: ConnId,
    },
    /// Open `name` for reading, then call [`FtServer::download_begin`] or [`FtServer::refuse`].
    OpenRead {
        /// The connection.
        conn: ConnId,
        /// The file name (already checked by [`validate_name`]).
        name: String,
    },
    /// Hand over the next bytes with [`FtServer::download_data`] (or
    /// [`FtServer::download_eof`] at the end of the file).
    NeedData {
        /// The connection.
        conn: ConnId,
    },
    /// A download ended with its end marker.
    Downloaded {
        /// The connection.
        conn: ConnId,
        /// What went through.
        file: Transfer,
    },
    /// A download stopped before its end: close the file.
    DownloadAborted {
        /// The connection.
        conn: ConnId,
        /// File name.
        name: String,
    },
    /// Create a temporary file for `name`, then call [`FtServer::upload_accept`] or [`FtServer::refuse`].
    OpenWrite {
        /// The connection.
        conn: ConnId,
        /// The file name (already checked by [`validate_name`]).
        name: String,
        /// Announced size.
        size: u64,
    },
    /// Append these bytes to the temporary file.
    UploadData {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The upload arrived whole (length and digest match): put the
    /// temporary file in place, then call [`FtServer::upload_committed`]
    /// (or [`FtServer::upload_failed`]).
    UploadEnd {
        /// The connection.
        conn: ConnId,
        /// File name.
        name: String,
        /// Bytes received.
        size: u64,
        /// Digest (hex).
        digest: String,
    },
    /// An upload was stored.
    Uploaded {
        /// The connection.
        conn: ConnId,
        /// What went through.
        file: Transfer,
    },
    /// An upload will not complete: delete the temporary file; the old
    /// file stays as it was.
    UploadAborted {
        /// The connection.
        conn: ConnId,
        /// File name.
        name: String,
        /// Why.
        reason: FtEnd,
    },
    /// The client broke the protocol; it was told and closed.
    ProtocolError {
        /// The connection.
        conn: ConnId,
        /// What was wrong.
        reason: FtEnd,
    },
    /// A connection closed.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: FtEnd,
    },
}
