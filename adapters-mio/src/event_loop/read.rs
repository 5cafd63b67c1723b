//! Reading: from a connection until `WouldBlock` (within a budget), and
//! flow control, where the service wants no input for a while.

use std::io::{self, Read};
use std::time::Instant;

use commlab_core::Service;
use mio::Token;

use super::EventLoop;
use crate::{LINGER_BYTES, READ_BUDGET};

impl<S: Service + 'static> EventLoop<S> {
    pub(super) fn read(&mut self, token: Token, now: Instant) {
        for _ in 0..READ_BUDGET {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            if conn.read_closed {
                return;
            }
            let id = conn.id;
            let peer_done = conn.peer_done;
            if conn.lingering.is_none() && !self.service.wants_input(id) {
                if !conn.paused {
                    conn.paused = true;
                    self.paused.push(token);
                }
                return;
            }
            match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    conn.read_closed = true;
                    if conn.lingering.is_some() {
                        self.drop_conn(token);
                    } else {
                        self.service.handle_eof(now, id);
                    }
                    return;
                }
                Ok(n) => {
                    if let Some(drained) = &mut conn.lingering {
                        *drained += n;
                        if *drained > LINGER_BYTES {
                            self.drop_conn(token);
                            return;
                        }
                    } else {
                        if let Some(t) = &mut self.tracer {
                            t.received(now, Some(id), &self.scratch[..n]);
                        }
                        self.service.handle_input(now, id, &self.scratch[..n]);
                    }
                    // A read shorter than the buffer emptied the socket's
                    // queue: with epoll's and kqueue's edge-triggered
                    // readiness, bytes that come later raise a new event,
                    // so the read that would only say WouldBlock (half the
                    // recvfrom calls of a request/answer load, in `strace
                    // -c`) is skipped, as tokio does. Not once the peer
                    // closed: its EOF raises no further event. Not where
                    // the selector is anything else (Windows' AFD polling):
                    // see [`crate::SHORT_READ_DRAINS`].
                    if crate::SHORT_READ_DRAINS && n < self.scratch.len() && !peer_done {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lose(token, &e);
                    return;
                }
            }
        }
        self.more_to_read.push_back(token);
    }

    /// Reads on from the paused connections whose service wants input
    /// again (what waits in their sockets raises no new event).
    pub(super) fn resume_paused(&mut self) {
        let (service, conns, more) = (&self.service, &mut self.conns, &mut self.more_to_read);
        self.paused.retain(|token| {
            let Some(conn) = conns.get_mut(token) else {
                return false;
            };
            if service.wants_input(conn.id) {
                conn.paused = false;
                more.push_back(*token);
                false
            } else {
                true
            }
        });
    }
}
