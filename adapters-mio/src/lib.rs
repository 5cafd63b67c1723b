//! Drives commlab's sans-IO services from one mio event loop, so one thread
//! holds thousands of clients.
//!
//! The loop follows mio's own server example: read until `WouldBlock`
//! (within a per-event budget, so one fast peer cannot starve the others),
//! write until `WouldBlock` keeping the rest, `WRITABLE` interest only while
//! output is pending, the poll timeout from the service's earliest
//! deadline, and accepting keeps going after the process runs out of file
//! descriptors (it backs off and retries). No protocol knowledge lives here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod event_loop;

pub use client::ClientDriver;
pub use event_loop::{serve, serve_traced, ServerHandle};

use std::time::Duration;

/// Bytes read from a socket at once.
pub const READ_CHUNK: usize = 64 * 1024;
/// Reads per readiness event before the loop serves other connections.
pub const READ_BUDGET: usize = 16;
/// Bytes taken from the service per write.
pub const WRITE_CHUNK: usize = 64 * 1024;
/// How many times one loop turn may look again (without waiting) for more
/// input before it writes: input that arrives together is answered with
/// one write per connection instead of one per input (a room line to
/// thousands of clients costs a system call each).
pub const GATHER_ROUNDS: usize = 4;
/// Pause before accepting again after `accept` failed (e.g. out of file descriptors).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long a closed connection is drained of unread input before it is dropped.
pub const LINGER: Duration = Duration::from_secs(2);
/// Most bytes drained from a closed connection.
pub const LINGER_BYTES: usize = 1024 * 1024;
/// How long shutdown waits for goodbyes to flush.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How long an outgoing connection a service asked for may take to open.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
