//! The two shapes every protocol in core takes: a [`Session`] (one
//! connection, a client) and a [`Service`] (a server holding many
//! connections keyed by [`ConnId`]).
//!
//! Both follow one contract: inputs are `handle_*` calls that take the
//! current time, outputs are `poll_*` calls, and after any input or command
//! the driver drains outputs until there are none ("mutate once, then
//! drain"). Core never reads a clock, sleeps or touches a socket.

use core::net::SocketAddr;
use std::time::Instant;

/// Identifies one connection of a [`Service`]. Chosen by the driver, never
/// reused within one run. A driver with several event loops numbers each
/// loop's connections apart ([`ConnId::on_loop`]): the loop is in the top
/// bits, so ids stay unique across a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl ConnId {
    /// Where the loop's number sits in an id: connections of one loop are
    /// numbered below `1 << LOOP_SHIFT`.
    pub const LOOP_SHIFT: u32 = 48;

    /// Connection `n` of event loop `index` (`n` below `1 << LOOP_SHIFT`;
    /// higher bits of `n` are dropped).
    #[must_use]
    pub const fn on_loop(index: u16, n: u64) -> Self {
        Self(((index as u64) << Self::LOOP_SHIFT) | (n & ((1 << Self::LOOP_SHIFT) - 1)))
    }

    /// The event loop that owns this connection (0 for a driver with one).
    #[must_use]
    pub const fn loop_index(self) -> u16 {
        (self.0 >> Self::LOOP_SHIFT) as u16
    }

    /// The connection's number within its loop.
    #[must_use]
    pub const fn local(self) -> u64 {
        self.0 & ((1 << Self::LOOP_SHIFT) - 1)
    }
}

/// `#N` on the first (or only) loop, `#L.N` on loop `L`.
impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.loop_index() {
            0 => write!(f, "#{}", self.0),
            l => write!(f, "#{l}.{}", self.local()),
        }
    }
}

/// What a driver should do for a connection returned by [`Service::poll_ready`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// There is output to take with [`Service::poll_transmit`] (or a graceful
    /// close to carry out after it).
    Send,
    /// Drop the connection now without flushing (the service has forgotten it,
    /// e.g. a slow reader over its output cap).
    Abort,
}

/// What a driver should do after writing the bytes of one [`Service::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep the connection; poll again when it is ready.
    Open,
    /// Write what was appended, then close the connection; the service has
    /// forgotten it.
    Close,
}

/// An outgoing connection a [`Service`] asks its driver to open (the
/// federated chat room's link to its broker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dial {
    /// The service's own number for this attempt, given back in
    /// [`Service::handle_dialed`] or [`Service::handle_dial_failed`].
    pub token: u64,
    /// Where to connect.
    pub addr: SocketAddr,
}

/// A server protocol over many connections: the sans-IO object a driver
/// (thread per connection or one event loop) feeds.
///
/// Drivers call `handle_*` with events from the network, then drain
/// [`poll_event`](Self::poll_event) (for the application),
/// [`poll_ready`](Self::poll_ready) and
/// [`poll_transmit`](Self::poll_transmit) (for the sockets), and wait no
/// longer than [`poll_timeout`](Self::poll_timeout) before calling
/// [`handle_timeout`](Self::handle_timeout). Calls naming an unknown or
/// closed connection are ignored.
pub trait Service {
    /// What the service reports to the application (to log or display).
    type Event;

    /// A new connection was accepted from `peer`.
    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr);
    /// Bytes arrived on `conn`.
    fn handle_input(&mut self, now: Instant, conn: ConnId, bytes: &[u8]);
    /// The peer of `conn` finished sending (read returned 0).
    fn handle_eof(&mut self, now: Instant, conn: ConnId);
    /// The connection failed (reset, broken pipe); nothing more can be sent on it.
    fn handle_lost(&mut self, now: Instant, conn: ConnId, error: &str);
    /// Time passed; deadlines at or before `now` fire.
    fn handle_timeout(&mut self, now: Instant);
    /// The server is stopping: say goodbye and close every connection.
    fn handle_shutdown(&mut self, now: Instant);

    /// The connection of dial `token` is open as `conn` to `peer`: from now
    /// on it is a connection like an accepted one. Ignored by default (a
    /// service that never dials never gets it).
    fn handle_dialed(&mut self, now: Instant, token: u64, conn: ConnId, peer: SocketAddr) {
        let _ = (now, token, conn, peer);
    }
    /// Dial `token` could not connect (refused, unreachable, or not within
    /// the driver's dial timeout).
    fn handle_dial_failed(&mut self, now: Instant, token: u64, error: &str) {
        let _ = (now, token, error);
    }

    /// The next event for the application.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The next outgoing connection to open, if any (none by default):
    /// drained by the driver after every input, like the other outputs.
    #[must_use]
    fn poll_dial(&mut self) -> Option<Dial> {
        None
    }
    /// The next connection with output to send or that must be dropped.
    #[must_use]
    fn poll_ready(&mut self) -> Option<(ConnId, Readiness)>;
    /// Appends at most `max` bytes of `conn`'s output to `out`.
    #[must_use]
    fn poll_transmit(&mut self, conn: ConnId, out: &mut Vec<u8>, max: usize) -> Flow;
    /// The earliest deadline, if any.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;
    /// Number of connections the service still holds (open or flushing).
    fn connections(&self) -> usize;
    /// Whether `conn` is open (not closed, closing or unknown).
    fn is_open(&self, conn: ConnId) -> bool;
    /// Whether the driver should read more from `conn` now (true by
    /// default). False is flow control: the application has not caught up
    /// with what was read (an upload's bytes not yet on disk), so the
    /// driver leaves the rest in the socket, where TCP slows the peer down.
    /// Drivers ask before each read and again after every change (an
    /// input, a command, a job's result), and read on once it is true.
    fn wants_input(&self, conn: ConnId) -> bool {
        let _ = conn;
        true
    }
}

/// A client protocol over one connection.
///
/// Same contract as [`Service`], for a single peer: feed with `handle_*`,
/// drain `poll_*`, stop when [`is_closed`](Self::is_closed).
pub trait Session {
    /// What the session reports to the application.
    type Event;

    /// Bytes arrived.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]);
    /// The peer finished sending.
    fn handle_eof(&mut self, now: Instant);
    /// The connection failed underneath (reset, or a TLS stream cut
    /// without `close_notify`): what was received may be incomplete. A
    /// session that does not tell the two apart takes it as EOF.
    fn handle_lost(&mut self, now: Instant, error: &str) {
        let _ = error;
        self.handle_eof(now);
    }
    /// Time passed; deadlines at or before `now` fire (a session without
    /// deadlines ignores it).
    fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// The next event for the application.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// Appends all pending output to `out`.
    fn poll_transmit(&mut self, out: &mut Vec<u8>);
    /// The earliest deadline, if any (none by default).
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Whether the session is over (nothing more to send or receive).
    fn is_closed(&self) -> bool;
    /// Whether the session has nothing more to send and the driver should
    /// half-close its write side.
    fn wants_write_shutdown(&self) -> bool {
        false
    }
}

/// The outputs of a [`Session`] impl that keeps its events in an `events`
/// queue and its bytes in an `out` [`OutputQueue`](crate::OutputQueue).
macro_rules! queue_outputs {
    () => {
        fn poll_event(&mut self) -> Option<Self::Event> {
            self.events.pop_front()
        }

        fn poll_transmit(&mut self, out: &mut Vec<u8>) {
            self.out.take_into(out, usize::MAX);
        }
    };
}
pub(crate) use queue_outputs;
