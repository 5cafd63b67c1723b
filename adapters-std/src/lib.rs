//! Drives commlab's sans-IO core over blocking `std::net` sockets.
//!
//! - [`serve`] runs a [`Service`](commlab_core::Service) with a thread per
//!   connection for reading and one for writing, plus one timer thread.
//! - [`Connection`] runs a client [`Session`](commlab_core::Session) on a
//!   socket shared by a reading thread and the caller's commands.
//! - [`BlockingSession`] runs a client session step by step on one thread,
//!   for scripts and tests.
//!
//! No protocol knowledge lives here: only bytes, events and deadlines.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod server;
mod sockets;
mod workers;

pub use client::{BlockingSession, Connection};
pub use server::{serve, serve_on, ServerHandle};
pub use workers::{Workers, IO_WORKERS, WORKER_STACK};

use std::time::Duration;

/// Bytes a server connection's thread reads from its socket at once.
pub const READ_CHUNK: usize = 16 * 1024;
/// Bytes a client reads at once: one client, so a larger buffer costs
/// little and takes a bulk download (four TLS records) per call.
pub const CLIENT_READ_CHUNK: usize = 64 * 1024;
/// Bytes taken from a service per write.
pub const WRITE_CHUNK: usize = 64 * 1024;
/// How long an outgoing connection a service asked for may take to open.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`ServerHandle::shutdown`] waits for goodbyes to flush.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How long a closed connection is drained of unread input before it is
/// dropped (dropping a socket with unread input resets it, which can lose
/// the last reply).
pub const LINGER: Duration = Duration::from_secs(2);
/// Most bytes drained from a closed connection.
pub const LINGER_BYTES: usize = 1024 * 1024;
/// The most sockets a server holds at once by default (each costs two
/// threads); past it a new connection is closed as soon as it is accepted.
/// `serve_on` takes another.
pub const MAX_CONNECTIONS: usize = 10_000;
/// How often a connection's reading thread wakes from a read that waits,
/// to see whether its connection was closed, where shutting the socket
/// down does not wake a read already waiting (seen on Windows under Wine;
/// Windows' own documentation promises nothing either way). Elsewhere
/// `None`: the writer's `shutdown` wakes the reader at once.
pub const READER_WAKE: Option<Duration> = if cfg!(windows) { Some(LINGER) } else { None };
/// Stack size of connection threads.
pub const THREAD_STACK: usize = 1024 * 1024;

/// Whether an IO error means "try again" rather than a failure.
pub(crate) fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
    )
}
