//! Per-connection bookkeeping every multi-connection [`Service`](crate::Service)
//! shares: state by [`ConnId`], a bounded output queue each, the ready list
//! drivers poll, and graceful or abortive closing.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::output_queue::SharedMessages;
use crate::{BroadcastBatch, ConnId, ConnMap, Fault, Flow, OutputQueue, Readiness};

/// Default cap on one connection's unsent output (1 MiB). A peer that stops
/// reading past it is dropped instead of making the server's memory grow.
pub const MAX_BACKLOG: usize = 1024 * 1024;

/// A connection's output queue went over its cap; the connection is now
/// being aborted and its queue discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("peer stopped reading: {backlog} bytes of output waiting, over the cap of {cap}")]
pub struct Overflow {
    /// Bytes that would have been queued.
    pub backlog: usize,
    /// The cap in force.
    pub cap: usize,
}

impl Overflow {
    /// Who is at fault: the peer that stopped reading, past a limit.
    pub fn fault(&self) -> Fault {
        Fault::Limit
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Open,
    AfterFlush,
    Abort,
}

#[derive(Debug)]
struct Entry<T> {
    state: T,
    out: OutputQueue,
    closing: Closing,
    queued: bool,
}

/// Connections by id, each with protocol state `T` and a bounded output queue.
///
/// A connection is *open* until [`close`](Self::close) or an overflow;
/// then it is excluded from [`open_ids`](Self::open_ids) and lingers only
/// until the driver has flushed it ([`Flow::Close`]) or dropped it
/// ([`Readiness::Abort`]).
#[derive(Debug)]
pub struct ConnTable<T> {
    conns: ConnMap<Entry<T>>,
    ready: VecDeque<ConnId>,
    cap: usize,
}

impl<T> ConnTable<T> {
    /// An empty table whose connections may each queue at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            conns: ConnMap::default(),
            ready: VecDeque::new(),
            cap,
        }
    }

    /// Adds an open connection (replacing any entry with the same id).
    pub fn insert(&mut self, conn: ConnId, state: T) {
        self.conns.insert(
            conn,
            Entry {
                state,
                out: OutputQueue::default(),
                closing: Closing::Open,
                queued: false,
            },
        );
    }

    /// The state of an open connection.
    pub fn get(&self, conn: ConnId) -> Option<&T> {
        self.conns
            .get(&conn)
            .filter(|e| e.closing == Closing::Open)
            .map(|e| &e.state)
    }

    /// The state of a connection, open or closing (as long as the table
    /// still holds it).
    pub fn get_any(&self, conn: ConnId) -> Option<&T> {
        self.conns.get(&conn).map(|e| &e.state)
    }

    /// The state of an open connection, mutably.
    pub fn get_mut(&mut self, conn: ConnId) -> Option<&mut T> {
        self.conns
            .get_mut(&conn)
            .filter(|e| e.closing == Closing::Open)
            .map(|e| &mut e.state)
    }

    /// Ids of the open connections, in no particular order.
    pub fn open_ids(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, e)| e.closing == Closing::Open)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Open connections with their state.
    pub fn iter_open(&self) -> impl Iterator<Item = (ConnId, &T)> {
        self.conns
            .iter()
            .filter(|(_, e)| e.closing == Closing::Open)
            .map(|(id, e)| (*id, &e.state))
    }

    /// Bytes queued for `conn` and not yet taken by the driver.
    pub fn queued(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |e| e.out.len())
    }

    /// Number of entries, open or lingering.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Queues bytes for an open connection.
    ///
    /// Unknown or closing connections are ignored (`Ok`). [`Overflow`]: the
    /// queue would pass the cap, so the connection is now aborted, its queue
    /// dropped; the caller reports why.
    pub fn send(&mut self, conn: ConnId, bytes: &[u8]) -> Result<(), Overflow> {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        if entry.closing != Closing::Open {
            return Ok(());
        }
        let queued = Self::queue(entry, bytes, self.cap);
        Self::mark(&mut self.ready, conn, entry);
        queued
    }

    /// [`send`](Self::send) of the `adds` bytes `encode` appends to the
    /// connection's queue itself (no copy through a caller's buffer).
    pub(crate) fn send_with(
        &mut self,
        conn: ConnId,
        adds: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), Overflow> {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        if entry.closing != Closing::Open {
            return Ok(());
        }
        Self::admit(entry, adds, self.cap)?;
        let added = entry.out.push_with(encode);
        debug_assert_eq!(added, adds, "send_with: the encoder wrote another length");
        Self::mark(&mut self.ready, conn, entry);
        Ok(())
    }

    /// Appends to an open entry's queue, or aborts it when the cap would be passed.
    fn queue(entry: &mut Entry<T>, bytes: &[u8], cap: usize) -> Result<(), Overflow> {
        Self::admit(entry, bytes.len(), cap)?;
        entry.out.push(bytes);
        Ok(())
    }

    /// Whether `adds` more bytes fit under the cap; if not, the entry is
    /// aborted and its queue dropped.
    fn admit(entry: &mut Entry<T>, adds: usize, cap: usize) -> Result<(), Overflow> {
        let backlog = entry.out.len() + adds;
        if backlog > cap {
            entry.closing = Closing::Abort;
            entry.out.clear();
            return Err(Overflow { backlog, cap });
        }
        Ok(())
    }

    /// Queues the same bytes for every open connection but `except`, in one
    /// pass over the table; returns how many it went to. Connections that go
    /// over their cap are aborted as in [`send`](Self::send) and listed in
    /// `overflowed` for the caller to report.
    pub fn broadcast(
        &mut self,
        bytes: &[u8],
        except: Option<ConnId>,
        overflowed: &mut Vec<(ConnId, Overflow)>,
    ) -> usize {
        let mut sent = 0;
        for (&conn, entry) in &mut self.conns {
            if entry.closing != Closing::Open || Some(conn) == except {
                continue;
            }
            sent += 1;
            if let Err(overflow) = Self::queue(entry, bytes, self.cap) {
                overflowed.push((conn, overflow));
            }
            Self::mark(&mut self.ready, conn, entry);
        }
        sent
    }

    /// Queues every message of `batch` for every open connection but the
    /// message's sender, in order, and empties the batch. Connections that
    /// go over their cap are aborted as in [`send`](Self::send) and listed
    /// in `overflowed`.
    pub fn broadcast_batch(
        &mut self,
        batch: &mut BroadcastBatch,
        overflowed: &mut Vec<(ConnId, Overflow)>,
    ) {
        if batch.is_empty() {
            return;
        }
        self.broadcast_shared(&batch.take_shared(), overflowed);
    }

    /// Queues messages already shared (a [`BroadcastBatch`] taken once,
    /// possibly by another table: a room's other event loop) for every
    /// open connection but each message's sender, as
    /// [`broadcast_batch`](Self::broadcast_batch) does.
    pub(crate) fn broadcast_shared(
        &mut self,
        messages: &Arc<SharedMessages>,
        overflowed: &mut Vec<(ConnId, Overflow)>,
    ) {
        for (&conn, entry) in &mut self.conns {
            if entry.closing != Closing::Open {
                continue;
            }
            let share = messages.share_of(conn);
            if share.bytes == 0 {
                continue;
            }
            match Self::admit(entry, share.bytes, self.cap) {
                Ok(()) => entry.out.push_share(messages, share),
                Err(overflow) => overflowed.push((conn, overflow)),
            }
            Self::mark(&mut self.ready, conn, entry);
        }
    }

    /// Closes a connection after its queued output is sent; returns its state.
    pub fn close(&mut self, conn: ConnId) -> Option<&mut T> {
        let entry = self.conns.get_mut(&conn)?;
        if entry.closing == Closing::Open {
            entry.closing = Closing::AfterFlush;
            Self::mark(&mut self.ready, conn, entry);
        }
        Some(&mut entry.state)
    }

    /// Drops a connection without sending what it still has queued (a peer
    /// that stopped reading): the driver is told to abort it.
    pub fn abort(&mut self, conn: ConnId) {
        if let Some(entry) = self.conns.get_mut(&conn) {
            entry.closing = Closing::Abort;
            entry.out = OutputQueue::default();
            Self::mark(&mut self.ready, conn, entry);
        }
    }

    /// Forgets a connection at once (its peer is gone); returns its state.
    pub fn remove(&mut self, conn: ConnId) -> Option<T> {
        self.conns.remove(&conn).map(|e| e.state)
    }

    /// The next connection a driver must serve (see [`Service::poll_ready`](crate::Service::poll_ready)).
    #[must_use]
    pub fn poll_ready(&mut self) -> Option<(ConnId, Readiness)> {
        while let Some(conn) = self.ready.pop_front() {
            let Some(entry) = self.conns.get_mut(&conn) else {
                continue;
            };
            entry.queued = false;
            if entry.closing == Closing::Abort {
                self.conns.remove(&conn);
                return Some((conn, Readiness::Abort));
            }
            return Some((conn, Readiness::Send));
        }
        None
    }

    /// Moves at most `max` queued bytes of `conn` to `out` (see
    /// [`Service::poll_transmit`](crate::Service::poll_transmit)); a closing
    /// connection whose queue is empty afterwards is forgotten.
    #[must_use]
    pub fn poll_transmit(&mut self, conn: ConnId, out: &mut Vec<u8>, max: usize) -> Flow {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return Flow::Close;
        };
        if entry.closing == Closing::Abort {
            self.conns.remove(&conn);
            return Flow::Close;
        }
        entry.out.take_into(out, max);
        if entry.closing == Closing::AfterFlush && entry.out.is_empty() {
            self.conns.remove(&conn);
            return Flow::Close;
        }
        Flow::Open
    }

    fn mark(ready: &mut VecDeque<ConnId>, conn: ConnId, entry: &mut Entry<T>) {
        if !entry.queued {
            entry.queued = true;
            ready.push_back(conn);
        }
    }
}

/// The outputs of a [`Service`](crate::Service) impl every server in core
/// shares: events from its `events` queue, readiness and transmits from
/// its `table` ([`ConnTable`]), deadlines from its `timers`
/// ([`DeadlineQueue`](crate::DeadlineQueue)), counts from the table.
/// `before: METHOD` runs first in every `poll_*` that moves output (a
/// server that gathers work lazily); `after_transmit: METHOD` runs with
/// the connection after each transmit (a server that refills a queue as it
/// drains).
macro_rules! table_outputs {
    ($(before: $before:ident)? $(after_transmit: $after:ident)?) => {
        fn poll_event(&mut self) -> Option<Self::Event> {
            $(self.$before();)?
            self.events.pop_front()
        }

        fn poll_ready(&mut self) -> Option<($crate::ConnId, $crate::Readiness)> {
            $(self.$before();)?
            self.table.poll_ready()
        }

        fn poll_transmit(
            &mut self,
            conn: $crate::ConnId,
            out: &mut Vec<u8>,
            max: usize,
        ) -> $crate::Flow {
            $(self.$before();)?
            let flow = self.table.poll_transmit(conn, out, max);
            $(self.$after(conn);)?
            flow
        }

        fn poll_timeout(&self) -> Option<std::time::Instant> {
            self.timers.next()
        }

        fn connections(&self) -> usize {
            self.table.len()
        }

        fn is_open(&self, conn: $crate::ConnId) -> bool {
            self.table.get(conn).is_some()
        }
    };
}
pub(crate) use table_outputs;
