//! Drives commlab's sans-IO services from mio event loops, so one thread
//! holds thousands of clients, and [`serve_loops`] runs one loop per core,
//! the first accepting and handing each connection to the loop holding the
//! fewest. Blocking work an application hands off ([`commlab_core::Jobs`])
//! runs on `commlab_std::Workers` and comes back through the loop's waker.
//!
//! The loop follows mio's own server example: read until `WouldBlock`
//! (within a per-event budget, so one fast peer cannot starve the others;
//! on epoll and kqueue a short read ends it, see [`SHORT_READ_DRAINS`]),
//! write until `WouldBlock` keeping the rest, `WRITABLE` interest only while
//! output is pending, the poll timeout from the service's earliest
//! deadline, and accepting keeps going after the process runs out of file
//! descriptors (it backs off and retries). No protocol knowledge lives here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod event_loop;

pub use client::ClientDriver;
pub use event_loop::{one_loop, serve, serve_loops, serve_loops_with, serve_on, ServerHandle};

/// How a server on several event loops takes its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accept {
    /// The first loop accepts and hands each connection to the loop
    /// holding the fewest (on every system; long-lived connections stay
    /// even).
    #[default]
    Handoff,
    /// Every loop has a listener of its own on the same address
    /// (`SO_REUSEPORT`, Linux and the BSDs), and the kernel spreads new
    /// connections by a hash of their addresses: no hand-off, but a few
    /// long-lived connections may land on one loop. The listeners given
    /// must have been bound with `SO_REUSEPORT` set; where the system
    /// cannot, the server falls back to [`Handoff`](Self::Handoff) and says so.
    ReusePort,
}

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
/// Whether a read shorter than the buffer proves the socket's queue empty,
/// so that the loop may wait for the next readiness event without the read
/// that would return `WouldBlock`.
///
/// True only where mio's selector is epoll or kqueue, whose edge-triggered
/// readiness fires again for any byte that arrives later. mio promises a
/// new event only after an operation returned `WouldBlock`, and its Windows
/// selector (AFD polling through an I/O completion port) re-arms a socket
/// only then (mio issue 1611): skipping that read there leaves the
/// connection deaf after its first read. tokio draws the same line (its
/// pull request 5881).
pub const SHORT_READ_DRAINS: bool = cfg!(any(
    target_os = "android",
    target_os = "illumos",
    target_os = "linux",
    target_os = "redox",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "ios",
    target_os = "macos",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "tvos",
    target_os = "visionos",
    target_os = "watchos",
));
/// The most sockets one loop holds at once by default; past it a new
/// connection is closed as soon as it is accepted. `serve_on` takes another.
pub const MAX_CONNECTIONS: usize = 100_000;
/// The most event loops one server runs (`--threads`).
pub const MAX_LOOPS: usize = 256;
/// How often, at most, a loop says it is refusing connections at its cap.
pub const CAP_LOG_INTERVAL: Duration = Duration::from_secs(10);
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
