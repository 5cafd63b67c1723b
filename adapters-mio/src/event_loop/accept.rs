//! Accepting on the first loop's listeners: until `WouldBlock` (which is
//! also what re-arms a listener's readiness on every selector mio has),
//! each new connection handed to the loop holding the fewest, which
//! registers it readable and tells its service.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use commlab_core::{ConnId, Service};
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::{token_of, Conn, EventLoop, Msg};
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
                Ok((stream, peer)) => {
                    let held: usize = self
                        .peers
                        .iter()
                        .map(|p| p.load.load(Ordering::SeqCst))
                        .sum();
                    if held >= self.max_connections {
                        // Dropped, so closed, at once.
                        drop(stream);
                        self.refused_at_cap(now);
                        continue;
                    }
                    let target = if self.handoff {
                        self.pick_loop()
                    } else {
                        usize::from(self.index)
                    };
                    let Some(peer_loop) = self.peers.get(target) else {
                        continue;
                    };
                    peer_loop.load.fetch_add(1, Ordering::SeqCst);
                    if target == usize::from(self.index) {
                        self.adopt(stream, peer, now);
                    } else if !peer_loop.post(Msg::Adopt(stream, peer)) {
                        // That loop has stopped (the server is stopping).
                        peer_loop.load.fetch_sub(1, Ordering::SeqCst);
                    }
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

    /// The loop holding the fewest sockets, the search starting one past
    /// the last choice so that ties are taken in turn.
    fn pick_loop(&mut self) -> usize {
        let n = self.peers.len();
        let start = self.next_pick % n.max(1);
        let best = (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| self.peers[i].load.load(Ordering::SeqCst))
            .unwrap_or(0);
        self.next_pick = best + 1;
        best
    }

    /// Takes `stream` from `peer` as one of this loop's connections
    /// (counted in its load already): registered readable and told to the
    /// service. Dropped if the loop is stopping.
    pub(super) fn adopt(&mut self, mut stream: TcpStream, peer: SocketAddr, now: Instant) {
        if self.stopping.is_some() {
            self.load.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let id = ConnId::on_loop(self.index, self.next_id);
        self.next_id += 1;
        let token = token_of(id);
        let _ = stream.set_nodelay(true);
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
        {
            eprintln!("commlab: could not register a connection: {e}");
            self.load.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        self.conns.insert(token, Conn::new(id, stream, None));
        self.served.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = &mut self.tracer {
            t.opened(Some(id));
        }
        self.service.handle_connect(now, id, peer);
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
