//! What a connection has to send: its own bytes, and messages shared with
//! every other recipient of a broadcast (held once, whatever the number of
//! recipients).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::ConnId;

/// Messages for every open connection but each one's sender, gathered so
/// that [`ConnTable::broadcast_batch`](crate::ConnTable::broadcast_batch)
/// queues them once for everyone: each recipient's queue then holds a
/// reference to the same bytes, not a copy.
#[derive(Debug, Default, Clone)]
pub struct BroadcastBatch {
    bytes: Vec<u8>,
    /// Each message's sender (left out) and where it ends in `bytes`.
    ends: Vec<(Option<ConnId>, usize)>,
}

impl BroadcastBatch {
    /// Adds one message, for everyone but `except`.
    pub fn push(&mut self, bytes: &[u8], except: Option<ConnId>) {
        self.bytes.extend_from_slice(bytes);
        self.ends.push((except, self.bytes.len()));
    }

    /// Whether no message waits.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Empties the batch into messages that queues can share.
    pub(crate) fn take_shared(&mut self) -> Arc<SharedMessages> {
        let mut senders: Vec<(ConnId, usize)> = Vec::new();
        let mut start = 0;
        for &(sender, end) in &self.ends {
            if let Some(conn) = sender {
                senders.push((conn, end - start));
            }
            start = end;
        }
        senders.sort_unstable_by_key(|&(conn, _)| conn);
        senders.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 += later.1;
            }
            same
        });
        Arc::new(SharedMessages {
            bytes: std::mem::take(&mut self.bytes),
            ends: std::mem::take(&mut self.ends),
            senders,
        })
    }
}

/// A frozen [`BroadcastBatch`], shared by the queues of its recipients.
#[derive(Debug)]
pub(crate) struct SharedMessages {
    bytes: Vec<u8>,
    ends: Vec<(Option<ConnId>, usize)>,
    /// Every sender with how many bytes it sent, sorted by id.
    senders: Vec<(ConnId, usize)>,
}

/// What one connection gets of some [`SharedMessages`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Share {
    /// Bytes it gets: all but its own messages.
    pub(crate) bytes: usize,
    /// The connection, when it sent some of the messages (they are left out).
    skip: Option<ConnId>,
}

impl SharedMessages {
    /// Bytes of every message.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// What `conn` gets of these messages.
    pub(crate) fn share_of(&self, conn: ConnId) -> Share {
        match self.senders.binary_search_by_key(&conn, |&(c, _)| c) {
            Ok(i) => Share {
                bytes: self.bytes.len() - self.senders[i].1,
                skip: Some(conn),
            },
            Err(_) => Share {
                bytes: self.bytes.len(),
                skip: None,
            },
        }
    }
}

/// One stretch of a queue, in order.
#[derive(Debug, Clone)]
enum Chunk {
    /// Bytes of this connection alone, from `head` on.
    Own { buf: Vec<u8>, head: usize },
    /// Shared messages: from byte `pos` (in message `item`) on, `left`
    /// bytes still to go; `skip` is this connection when it sent some of
    /// them (its own are left out).
    Shared {
        messages: Arc<SharedMessages>,
        skip: Option<ConnId>,
        pos: usize,
        item: usize,
        left: usize,
    },
}

/// A connection's output: appended at the back, taken from the front
/// without shifting on every take; broadcast messages are held by
/// reference (see [`BroadcastBatch`]).
#[derive(Debug, Default, Clone)]
pub struct OutputQueue {
    chunks: VecDeque<Chunk>,
    len: usize,
}

impl OutputQueue {
    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
        self.own_back().extend_from_slice(bytes);
    }

    /// Appends what `encode` appends to the buffer it is lent (the queue's
    /// own: no copy through a buffer of the caller's); returns how many
    /// bytes that was. `encode` must only append.
    pub(crate) fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> usize {
        let buf = self.own_back();
        let before = buf.len();
        encode(buf);
        let added = buf.len().saturating_sub(before);
        self.len += added;
        added
    }

    /// The own buffer at the back to append to (compacted, or made).
    fn own_back(&mut self) -> &mut Vec<u8> {
        if !matches!(self.chunks.back(), Some(Chunk::Own { .. })) {
            self.chunks.push_back(Chunk::Own {
                buf: Vec::new(),
                head: 0,
            });
        }
        match self.chunks.back_mut() {
            Some(Chunk::Own { buf, head }) => {
                if *head > 0 && *head >= buf.len() / 2 {
                    buf.drain(..*head);
                    *head = 0;
                }
                buf
            }
            _ => unreachable!("an own chunk was just ensured at the back"),
        }
    }

    /// Appends shared messages for connection `conn` (all of them but its
    /// own); returns how many bytes that adds.
    #[cfg(test)]
    pub(crate) fn push_shared(&mut self, messages: &Arc<SharedMessages>, conn: ConnId) -> usize {
        let share = messages.share_of(conn);
        self.push_share(messages, share);
        share.bytes
    }

    /// Appends `share` of `messages` (see [`SharedMessages::share_of`]).
    ///
    /// The queue holds a reference only when the share is at least half of
    /// the messages' bytes, else it copies the share: so the memory a queue
    /// keeps alive is at most twice what it counts against its cap, even
    /// for a client that sends much and reads nothing.
    pub(crate) fn push_share(&mut self, messages: &Arc<SharedMessages>, share: Share) {
        if share.bytes == 0 {
            return;
        }
        self.len += share.bytes;
        if share.bytes * 2 < messages.bytes.len() {
            let (mut pos, mut item) = (0, 0);
            let buf = self.own_back();
            copy_shared(messages, share.skip, &mut pos, &mut item, buf, share.bytes);
            return;
        }
        // An empty own chunk at the back only keeps its buffer for reuse.
        if matches!(self.chunks.back(), Some(Chunk::Own { buf, head }) if *head == buf.len()) {
            self.chunks.pop_back();
        }
        self.chunks.push_back(Chunk::Shared {
            messages: Arc::clone(messages),
            skip: share.skip,
            pos: 0,
            item: 0,
            left: share.bytes,
        });
    }

    /// Moves at most `max` bytes from the front to `out`; returns how many.
    pub fn take_into(&mut self, out: &mut Vec<u8>, max: usize) -> usize {
        let mut taken = 0;
        while taken < max {
            let single = self.chunks.len() == 1;
            let Some(chunk) = self.chunks.front_mut() else {
                break;
            };
            let done = match chunk {
                Chunk::Own { buf, head } => {
                    let n = (buf.len() - *head).min(max - taken);
                    out.extend_from_slice(&buf[*head..*head + n]);
                    *head += n;
                    if *head == buf.len() {
                        buf.clear();
                        *head = 0;
                    }
                    taken += n;
                    buf.len() == *head
                }
                Chunk::Shared {
                    messages,
                    skip,
                    pos,
                    item,
                    left,
                } => {
                    let n = copy_shared(messages, *skip, pos, item, out, (max - taken).min(*left));
                    *left -= n;
                    taken += n;
                    *left == 0
                }
            };
            if !done {
                break;
            }
            // Keep the last own buffer (empty) for the next push.
            if !(single && matches!(self.chunks.front(), Some(Chunk::Own { .. }))) {
                self.chunks.pop_front();
            } else {
                break;
            }
        }
        self.len -= taken;
        taken
    }

    /// Drops everything and frees the memory.
    pub fn clear(&mut self) {
        self.chunks = VecDeque::new();
        self.len = 0;
    }
}

/// Copies up to `room` bytes of `messages` from `pos`/`item` on into `out`,
/// leaving out the messages `skip` sent; returns how many it copied.
fn copy_shared(
    messages: &SharedMessages,
    skip: Option<ConnId>,
    pos: &mut usize,
    item: &mut usize,
    out: &mut Vec<u8>,
    room: usize,
) -> usize {
    let Some(me) = skip else {
        // Nothing to leave out: one contiguous copy.
        let n = room.min(messages.bytes.len() - *pos);
        out.extend_from_slice(&messages.bytes[*pos..*pos + n]);
        *pos += n;
        return n;
    };
    let mut copied = 0;
    while copied < room {
        let Some(&(sender, end)) = messages.ends.get(*item) else {
            break;
        };
        if sender == Some(me) {
            *pos = end;
            *item += 1;
            continue;
        }
        let n = (end - *pos).min(room - copied);
        out.extend_from_slice(&messages.bytes[*pos..*pos + n]);
        *pos += n;
        copied += n;
        if *pos == end {
            *item += 1;
        }
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::{BroadcastBatch, OutputQueue};
    use crate::ConnId;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Push(Vec<u8>),
        /// Messages, each from sender 0..4 (0: the queue's own connection).
        Broadcast(Vec<(u64, Vec<u8>)>),
        Take(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let bytes = proptest::collection::vec(any::<u8>(), 1..12);
        prop_oneof![
            bytes.clone().prop_map(Op::Push),
            proptest::collection::vec((0u64..4, bytes), 1..6).prop_map(Op::Broadcast),
            (0usize..40).prop_map(Op::Take),
        ]
    }

    proptest! {
        /// Whatever is pushed, shared or taken, in any amounts, the queue
        /// gives exactly its own bytes and the others' messages, in order,
        /// and its length is what is left.
        #[test]
        fn queue_gives_what_was_queued_in_order(ops in proptest::collection::vec(op(), 0..40)) {
            let me = ConnId(0);
            let mut q = OutputQueue::default();
            let mut want = Vec::new();
            let mut got = Vec::new();
            for op in ops {
                match op {
                    Op::Push(bytes) => {
                        q.push(&bytes);
                        want.extend_from_slice(&bytes);
                    }
                    Op::Broadcast(messages) => {
                        let mut batch = BroadcastBatch::default();
                        for (sender, bytes) in &messages {
                            batch.push(bytes, Some(ConnId(*sender)));
                            if *sender != 0 {
                                want.extend_from_slice(bytes);
                            }
                        }
                        let shared = batch.take_shared();
                        prop_assert!(batch.is_empty());
                        let added = q.push_shared(&shared, me);
                        let others: usize = messages.iter().filter(|(s, _)| *s != 0).map(|(_, b)| b.len()).sum();
                        prop_assert_eq!(added, others);
                    }
                    Op::Take(max) => {
                        let mut out = Vec::new();
                        let n = q.take_into(&mut out, max);
                        prop_assert_eq!(n, out.len());
                        prop_assert!(n <= max);
                        got.extend_from_slice(&out);
                    }
                }
                prop_assert_eq!(q.len(), want.len() - got.len());
            }
            let mut rest = Vec::new();
            q.take_into(&mut rest, usize::MAX);
            got.extend_from_slice(&rest);
            prop_assert_eq!(got, want);
            prop_assert!(q.is_empty());
        }
    }

    #[test]
    fn a_small_share_is_copied_and_a_large_one_referenced() {
        let mut batch = BroadcastBatch::default();
        batch.push(b"mine, long enough to be most of it\n", Some(ConnId(1)));
        batch.push(b"yours\n", Some(ConnId(2)));
        let shared = batch.take_shared();
        let mut sender = OutputQueue::default();
        let mut other = OutputQueue::default();
        sender.push_shared(&shared, ConnId(1));
        other.push_shared(&shared, ConnId(3));
        // Only the non-sender keeps the messages alive.
        assert_eq!(std::sync::Arc::strong_count(&shared), 2);
        let mut out = Vec::new();
        sender.take_into(&mut out, usize::MAX);
        assert_eq!(out, b"yours\n");
        out.clear();
        other.take_into(&mut out, 7);
        assert_eq!(out, b"mine, l");
    }
}
