//! Exercise 5: file transfer with login, integrity and atomic replace.
//!
//! A framed protocol ([`Frame`]): a greeting, `LOGIN`, then any number of
//! `GET` / `PUT` / `LIST` / `QUIT`; file content as `DATA` chunks of at most
//! [`MAX_CHUNK`] bytes, then an `END` marker with the total length and a
//! digest (BLAKE3 by default, SHA-256 when either side asks). The server
//! ([`FtServer`]) and the client ([`FtClient`]) frame, count and hash; the
//! application reads and writes the files when their events ask it to.
//! The protocol is written down in `docs/protocols/file-transfer.md`.

mod client;
mod decoder;
mod events;
mod frame;
mod raw;
mod server;
mod temp;

use std::time::Duration;

use crate::Fault;

pub use client::{CommandError, FtClient, FtClientEvent};
pub use decoder::FrameDecoder;
pub use frame::{Frame, FrameError};
pub use raw::{RawEvent, RawFileServer};
pub use server::{FtEnd, FtEvent, FtServer, Transfer};
pub use temp::{is_temp_name, temp_name};

/// Protocol version in the greeting.
pub const VERSION: u8 = 1;
/// Largest `DATA` payload.
pub const MAX_CHUNK: usize = 64 * 1024;
/// `DATA` payload buffers handed back with `recycle` that a decoder keeps
/// for the payloads to come (each at most [`MAX_CHUNK`] bytes).
pub const SPARE_PAYLOADS: usize = 2;
/// Largest control frame payload.
pub const MAX_CONTROL: usize = 4 * 1024;
/// Longest file name, in bytes.
pub const MAX_NAME: usize = 255;
/// Default largest file a server accepts (4 GiB).
pub const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024 * 1024;
/// Failed logins before the connection is closed.
pub const MAX_LOGIN_FAILURES: u8 = 3;
/// Silence after which a connection is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Time a connection has, from its opening, to log in, however its bytes
/// trickle in (the file server's head deadline, against slowloris).
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Time an upload has after it starts before it must keep
/// [`MIN_UPLOAD_RATE`].
pub const UPLOAD_GRACE: Duration = Duration::from_secs(20);
/// Slowest average an upload may arrive at, in bytes per second, once
/// [`UPLOAD_GRACE`] has passed: `n` bytes must be in by `UPLOAD_GRACE + n /
/// MIN_UPLOAD_RATE` seconds after the upload started.
pub const MIN_UPLOAD_RATE: u64 = 500;

/// The limits a file server puts on slow clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowLimits {
    /// Time from the opening to a successful login.
    pub login_timeout: Duration,
    /// Time an upload has before it must keep `min_upload_rate`.
    pub upload_grace: Duration,
    /// Slowest average upload, bytes per second (at least 1).
    pub min_upload_rate: u64,
}

impl Default for SlowLimits {
    fn default() -> Self {
        Self {
            login_timeout: LOGIN_TIMEOUT,
            upload_grace: UPLOAD_GRACE,
            min_upload_rate: MIN_UPLOAD_RATE,
        }
    }
}
/// Length of a digest in an `END` frame (both algorithms give 32 bytes).
pub const DIGEST_LEN: usize = 32;
/// A download asks the application for more data while less than this
/// much output waits to be sent.
pub const LOW_WATER: usize = 512 * 1024;
/// Most upload bytes the server hands its application before the
/// application gives them back written ([`FtServer::recycle`]): past it the
/// server reads no more of that connection until the disk catches up.
pub const UPLOAD_WINDOW: usize = 4 * 1024 * 1024;

/// Error codes of `ERR` frames.
pub mod code {
    /// The request does not parse or comes at the wrong moment.
    pub const BAD_REQUEST: u16 = 400;
    /// A transfer before a successful login.
    pub const LOGIN_REQUIRED: u16 = 401;
    /// Wrong user or password (says nothing about which).
    pub const LOGIN_FAILED: u16 = 403;
    /// No such file.
    pub const NOT_FOUND: u16 = 404;
    /// The file is over the server's size limit.
    pub const TOO_LARGE: u16 = 413;
    /// Too slow: no login in time, or an upload under the minimum rate.
    pub const TOO_SLOW: u16 = 408;
    /// A name that is not a single plain file name in the folder.
    pub const BAD_NAME: u16 = 422;
    /// The received length does not match the announced one.
    pub const LENGTH_MISMATCH: u16 = 460;
    /// The digest does not match the content.
    pub const DIGEST_MISMATCH: u16 = 461;
    /// The server could not read or write the file (disk full...).
    pub const SERVER_ERROR: u16 = 500;
    /// Success.
    pub const OK: u16 = 200;
}

/// A content digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    /// BLAKE3 (the default; check with `b3sum`).
    Blake3,
    /// SHA-256 (check with `sha256sum`).
    Sha256,
}

impl DigestAlg {
    /// The byte that names it on the wire.
    pub fn id(self) -> u8 {
        match self {
            Self::Blake3 => 1,
            Self::Sha256 => 2,
        }
    }

    /// The algorithm a wire byte names.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Self::Blake3),
            2 => Some(Self::Sha256),
            _ => None,
        }
    }

    /// The name students type (`blake3`, `sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Blake3 => "blake3",
            Self::Sha256 => "sha256",
        }
    }

    /// SHA-256 when either side asks for it, else BLAKE3.
    pub fn agree(self, other: Self) -> Self {
        if self == Self::Sha256 || other == Self::Sha256 {
            Self::Sha256
        } else {
            Self::Blake3
        }
    }
}

/// A running digest.
#[derive(Clone)]
pub enum Hasher {
    /// BLAKE3.
    Blake3(Box<blake3::Hasher>),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Blake3(_) => "Hasher(blake3)",
            Self::Sha256(_) => "Hasher(sha256)",
        })
    }
}

impl Hasher {
    /// A fresh digest of `alg`.
    pub fn new(alg: DigestAlg) -> Self {
        use sha2::Digest as _;
        match alg {
            DigestAlg::Blake3 => Self::Blake3(Box::new(blake3::Hasher::new())),
            DigestAlg::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest as _;
        match self {
            Self::Blake3(h) => {
                h.update(bytes);
            }
            Self::Sha256(h) => h.update(bytes),
        }
    }

    /// The digest of everything added.
    pub fn finish(&self) -> [u8; DIGEST_LEN] {
        use sha2::Digest as _;
        match self {
            Self::Blake3(h) => *h.finalize().as_bytes(),
            Self::Sha256(h) => h.clone().finalize().into(),
        }
    }
}

/// A digest as lowercase hex (as `b3sum` and `sha256sum` print it).
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a file name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty.
    #[error("a file name cannot be empty")]
    Empty,
    /// Longer than [`MAX_NAME`].
    #[error("a file name is at most {MAX_NAME} bytes")]
    TooLong,
    /// `.` or `..`.
    #[error("{0:?} is not a file name")]
    Dot(String),
    /// Holds `/`, `\`, NUL or another control character.
    #[error("{0:?} holds a path separator or control character: only a single file name inside the folder is allowed")]
    Separator(String),
    /// A drive letter (`C:`).
    #[error("{0:?} looks like a drive letter or absolute path")]
    Absolute(String),
    /// The name of a file being written ([`temp_name`]): never listed,
    /// read or replaced by a client.
    #[error("{0:?} is the name of a transfer in progress, not a file")]
    Reserved(String),
}

impl NameError {
    /// Who is at fault: the peer that asked for the name.
    pub fn fault(&self) -> Fault {
        Fault::PeerData
    }
}

/// Checks that `name` is a single plain file name (no path, no `..`, no
/// drive letter, no control characters, not a [`temp_name`]). Links are
/// checked by the application, which sees the folder.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    if name == "." || name == ".." {
        return Err(NameError::Dot(name.to_owned()));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(NameError::Separator(name.to_owned()));
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Err(NameError::Absolute(name.to_owned()));
    }
    if is_temp_name(name) {
        return Err(NameError::Reserved(name.to_owned()));
    }
    Ok(())
}
