//! A deadline queue for many connections, with lazy invalidation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::{ConnId, ConnMap};

/// Deadlines keyed by connection, one live deadline each.
///
/// Guarantees: [`schedule`](Self::schedule) only ever moves a connection's
/// deadline earlier (a later one is found when the earlier fires and the
/// owner reschedules), so the heap holds about one entry per connection; its top is always
/// live, so
/// [`next`](Self::next) and [`pop_due`](Self::pop_due) are O(log n).
#[derive(Debug, Default)]
pub struct DeadlineQueue {
    heap: BinaryHeap<Reverse<(Instant, ConnId)>>,
    live: ConnMap<Instant>,
}

impl DeadlineQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wake `conn` at `at` unless it already has an earlier deadline.
    pub fn schedule(&mut self, conn: ConnId, at: Instant) {
        match self.live.get(&conn) {
            Some(&current) if current <= at => {}
            _ => {
                self.live.insert(conn, at);
                self.heap.push(Reverse((at, conn)));
            }
        }
    }

    /// Forget `conn`'s deadline.
    pub fn cancel(&mut self, conn: ConnId) {
        self.live.remove(&conn);
        self.drop_stale();
    }

    /// The earliest live deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// A connection whose deadline is at or before `now`; its deadline is removed.
    pub fn pop_due(&mut self, now: Instant) -> Option<ConnId> {
        let Reverse((at, conn)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.live.remove(&conn);
        self.drop_stale();
        Some(conn)
    }

    /// Keeps the invariant that the heap's top entry is live.
    fn drop_stale(&mut self) {
        while let Some(Reverse((at, conn))) = self.heap.peek() {
            if self.live.get(conn) == Some(at) {
                break;
            }
            self.heap.pop();
        }
    }
}
