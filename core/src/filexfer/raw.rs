//! The class's raw protocol as a [`Service`]: every client that connects
//! receives one file's bytes, then the connection closes ("bytes until
//! close", as the handout's `server.py` sends `teste.xlsx`). No login, no
//! framing, no digest: the compatibility mode for the class's programs.
//!
//! Per connection: `Sending` (the application is asked for data with
//! [`RawEvent::NeedData`] while less than [`LOW_WATER`] bytes wait to be
//! sent) → [`finish`](RawFileServer::finish) (close after the last byte) or
//! a failure → forgotten. Bytes a client sends are ignored. A client that
//! stops reading for [`IDLE_TIMEOUT`] is dropped.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::Instant;

use super::{IDLE_TIMEOUT, LOW_WATER};
use crate::{ConnId, ConnTable, DeadlineQueue, Service};

/// What the raw server reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawEvent {
    /// A client connected: open the file for it (or [`fail`](RawFileServer::fail)).
    Connected {
        /// The connection.
        conn: ConnId,
        /// The client.
        peer: SocketAddr,
    },
    /// Hand over the next bytes with [`send_data`](RawFileServer::send_data),
    /// or [`finish`](RawFileServer::finish) at the end of the file.
    NeedData {
        /// The connection.
        conn: ConnId,
    },
    /// The whole file is queued; the connection closes once it is sent.
    Sent {
        /// The connection.
        conn: ConnId,
        /// Bytes sent.
        bytes: u64,
    },
    /// The connection ended before the whole file went out.
    Failed {
        /// The connection.
        conn: ConnId,
        /// Bytes handed over before it ended.
        bytes: u64,
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Default)]
struct Conn {
    sent: u64,
    asked: bool,
}

/// The raw file server: a file's bytes to every client, then close.
///
/// Guarantees: at most [`LOW_WATER`] bytes plus one handed-over chunk wait
/// per connection; every connection ends with exactly one [`RawEvent::Sent`]
/// or [`RawEvent::Failed`].
#[derive(Debug)]
pub struct RawFileServer {
    table: ConnTable<Conn>,
    timers: DeadlineQueue,
    events: VecDeque<RawEvent>,
}

impl Default for RawFileServer {
    fn default() -> Self {
        Self::new()
    }
}

impl RawFileServer {
    /// A server with no connections.
    pub fn new() -> Self {
        Self {
            table: ConnTable::new(usize::MAX),
            timers: DeadlineQueue::new(),
            events: VecDeque::new(),
        }
    }

    /// The next bytes of the file for `conn` (any amount).
    pub fn send_data(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        c.asked = false;
        c.sent += bytes.len() as u64;
        // The cap is `usize::MAX`: LOW_WATER bounds the queue instead.
        let _ = self.table.send(conn, bytes);
        self.timers.schedule(conn, now + IDLE_TIMEOUT);
        self.ask(conn);
    }

    /// The file is over: `conn` closes once its last byte is sent.
    pub fn finish(&mut self, conn: ConnId) {
        let Some(c) = self.table.close(conn) else {
            return;
        };
        let bytes = c.sent;
        self.timers.cancel(conn);
        self.events.push_back(RawEvent::Sent { conn, bytes });
    }

    /// The file could not be read for `conn`: it is dropped.
    pub fn fail(&mut self, conn: ConnId, reason: &str) {
        self.end(conn, reason.to_owned());
    }

    fn end(&mut self, conn: ConnId, reason: String) {
        let Some(c) = self.table.get(conn) else {
            return;
        };
        let bytes = c.sent;
        self.table.abort(conn);
        self.timers.cancel(conn);
        self.events.push_back(RawEvent::Failed {
            conn,
            bytes,
            reason,
        });
    }

    /// Asks for data when `conn` has room and has not been asked yet.
    fn ask(&mut self, conn: ConnId) {
        let queued = self.table.queued(conn);
        if let Some(c) = self.table.get_mut(conn) {
            if !c.asked && queued < LOW_WATER {
                c.asked = true;
                self.events.push_back(RawEvent::NeedData { conn });
            }
        }
    }
}

impl Service for RawFileServer {
    type Event = RawEvent;

    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        self.table.insert(conn, Conn::default());
        self.timers.schedule(conn, now + IDLE_TIMEOUT);
        self.events.push_back(RawEvent::Connected { conn, peer });
        self.ask(conn);
    }

    fn handle_input(&mut self, _now: Instant, _conn: ConnId, _bytes: &[u8]) {
        // The raw protocol has nothing for a client to say.
    }

    fn handle_eof(&mut self, _now: Instant, _conn: ConnId) {
        // A client that half-closes may still read the file.
    }

    fn handle_lost(&mut self, _now: Instant, conn: ConnId, error: &str) {
        self.end(conn, format!("connection lost: {error}"));
        self.table.remove(conn);
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(conn) = self.timers.pop_due(now) {
            self.end(
                conn,
                format!("the client read nothing for {} s", IDLE_TIMEOUT.as_secs()),
            );
        }
    }

    fn handle_shutdown(&mut self, _now: Instant) {
        for conn in self.table.open_ids() {
            self.end(conn, "the server is shutting down".into());
        }
    }

    crate::conn_table::table_outputs!(after_transmit: ask);
}
