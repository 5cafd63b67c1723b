//! Accepting on the loop's listeners: until `WouldBlock` (which is also
//! what re-arms a listener's readiness on every selector mio has), each
//! new connection registered readable and told to the service.

use std::io;
use std::time::Instant;

use commlab_core::{ConnId, Service};
use mio::{Interest, Token};

use super::{token_of, Conn, EventLoop};
use crate::{ACCEPT_BACKOFF, CAP_LOG_INTERVAL};

/// Most listeners one loop serves (their tokens sit below `usize::MAX`,
/// far above any connection's).
pub(super) const MAX_LISTENERS: usize = 16;

/// Listener `i`'s token; an `InvalidInput` error past [`MAX_LISTENERS`].
pub(super) fn listener_token(i: usize) -> io::Result<Token> {
    if i >= MAX_LISTENERS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("at most {MAX_LISTENERS} listeners per event loop"),
        ));
    }
    Ok(Token(usize::MAX - i))
}

/// Whether `token` is a listener's.
pub(super) fn is_listener(token: Token) -> bool {
    token.0 > usize::MAX - MAX_LISTENERS
}

impl<S: Service + 'static> EventLoop<S> {
    /// Accepts on the listener behind `token`, or on every listener when
    /// `token` is `None` (after a back-off), until each would block.
    pub(super) fn accept(&mut self, token: Option<Token>, now: Instant) {
        for i in 0..self.listeners.len() {
            if token.is_none_or(|t| t.0 == usize::MAX - i) {
                self.accept_on(i, now);
            }
        }
    }

    fn accept_on(&mut self, i: usize, now: Instant) {
        while self.accept_backoff.is_none() {
            let Some(listener) = self.listeners.get(i) else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    if self.conns.len() >= self.max_connections {
                        // Dropped, so closed, at once.
                        drop(stream);
                        self.refused_at_cap(now);
                        continue;
                    }
                    let id = ConnId(self.next_id);
                    self.next_id += 1;
                    let token = token_of(id);
                    let _ = stream.set_nodelay(true);
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut stream, token, Interest::READABLE)
                    {
                        eprintln!("commlab: could not register a connection: {e}");
                        continue;
                    }
                    self.conns.insert(token, Conn::new(id, stream, None));
                    if let Some(t) = &mut self.tracer {
                        t.opened(Some(id));
                    }
                    self.service.handle_connect(now, id, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // Out of file descriptors (EMFILE/ENFILE) or memory: the
                    // pending connection stays queued; retry shortly.
                    eprintln!(
                        "commlab: accept failed: {e}; retrying in {} ms",
                        ACCEPT_BACKOFF.as_millis()
                    );
                    self.accept_backoff = Some(now + ACCEPT_BACKOFF);
                }
            }
        }
    }

    /// Says, at most once per [`CAP_LOG_INTERVAL`], that connections are
    /// being closed at the cap.
    fn refused_at_cap(&mut self, now: Instant) {
        if self
            .last_refusal_log
            .is_none_or(|at| now.duration_since(at) >= CAP_LOG_INTERVAL)
        {
            self.last_refusal_log = Some(now);
            eprintln!(
                "commlab: {} connections open, the most allowed (--max-connections): closing new ones at once",
                self.max_connections
            );
        }
    }
}
