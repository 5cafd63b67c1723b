//! [`TlsService`]: any [`Service`] behind TLS.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rustls::{Connection, ServerConfig, ServerConnection};

use super::link::Link;
use super::{TlsClock, TlsError, TlsInfo, PLAINTEXT_CHUNK};
use crate::trace::Tracer;
use crate::{ConnId, ConnMap, DeadlineQueue, Flow, Readiness, Service};

/// What a [`TlsService`] reports: its inner service's events, and each
/// handshake's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsEvent<E> {
    /// An event of the inner service.
    Inner(E),
    /// A handshake finished; the inner service now has the connection.
    Established {
        /// The connection.
        conn: ConnId,
        /// Its peer.
        peer: SocketAddr,
        /// What was agreed.
        info: TlsInfo,
    },
    /// A connection failed before the inner service had it (a bad
    /// handshake, plaintext, a timeout); it is closed.
    Failed {
        /// The connection.
        conn: ConnId,
        /// Its peer.
        peer: SocketAddr,
        /// Why.
        error: TlsError,
    },
}

/// The plaintext answer to plaintext HTTP on a TLS port (as nginx's 497).
fn plain_http_refusal() -> Vec<u8> {
    let body = "This port speaks TLS: use https:// (or wss://).\n";
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Where the inner service is with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    /// Handshaking: the inner service does not know the connection.
    NotYet,
    /// The inner service holds it.
    Open,
    /// The inner service has forgotten it (closed, lost or never had it).
    Gone,
}

#[derive(Debug)]
struct Conn {
    link: Link,
    peer: SocketAddr,
    inner: Inner,
    /// The inner service said it has output.
    inner_ready: bool,
    /// The peer's close_notify was passed on as EOF.
    eof_told: bool,
    /// In the ready queue.
    queued: bool,
    /// Plaintext to send instead of TLS, then close (plaintext HTTP).
    refusal: Option<Vec<u8>>,
}

/// A [`Service`] that speaks TLS on every connection and runs `S` inside.
///
/// The inner service is told of a connection once its handshake is done,
/// sees only authenticated plaintext, and is asked for output only as
/// the driver takes ciphertext (so its own output cap and slow-reader
/// rules still hold). Connections that fail before that are reported as
/// [`TlsEvent::Failed`] and never reach it. Outgoing connections the inner
/// service dials are not TLS: they pass straight through.
pub struct TlsService<S: Service> {
    inner: S,
    /// The last time a `handle_*` call gave.
    now: Instant,
    config: Arc<ServerConfig>,
    clock: TlsClock,
    conns: ConnMap<Conn>,
    /// Outgoing connections the inner service dialed: plaintext, passed
    /// straight through (the broker link of a federated room).
    dialed: ConnMap<()>,
    ready: VecDeque<ConnId>,
    aborts: Vec<ConnId>,
    handshakes: DeadlineQueue,
    events: VecDeque<TlsEvent<S::Event>>,
    plain: Vec<u8>,
    tracer: Option<Tracer>,
}

impl<S: Service> std::fmt::Debug for TlsService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsService")
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

impl<S: Service> TlsService<S> {
    /// `inner` behind TLS with `config` (from
    /// [`server_config`](super::server_config), sharing `clock`).
    pub fn new(inner: S, config: Arc<ServerConfig>, clock: TlsClock) -> Self {
        Self {
            inner,
            now: clock.anchor(),
            config,
            clock,
            conns: ConnMap::default(),
            dialed: ConnMap::default(),
            ready: VecDeque::new(),
            aborts: Vec::new(),
            handshakes: DeadlineQueue::new(),
            events: VecDeque::new(),
            plain: Vec::new(),
            tracer: None,
        }
    }

    /// Shows the plaintext each way and every handshake to `tracer` (the
    /// driver's own tracer would only see ciphertext).
    pub fn traced(mut self, tracer: Option<Tracer>) -> Self {
        self.tracer = tracer;
        self
    }

    /// The inner service.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The inner service, to run commands on (their output is taken as
    /// usual, through this service's `poll_*`).
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    fn tick(&mut self, now: Instant) {
        self.now = now;
        self.clock.advance(now);
    }

    fn mark(ready: &mut VecDeque<ConnId>, id: ConnId, c: &mut Conn) {
        if !c.queued {
            c.queued = true;
            ready.push_back(id);
        }
    }

    fn note(&mut self, now: Instant, id: ConnId, text: &str) {
        if let Some(t) = &mut self.tracer {
            t.note(now, Some(id), text);
        }
    }

    /// Reports a failure before the inner service had the connection, or
    /// tells the inner service the connection is lost.
    fn failed(&mut self, now: Instant, id: ConnId, error: TlsError) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let peer = c.peer;
        let was = c.inner;
        c.inner = Inner::Gone;
        Self::mark(&mut self.ready, id, c);
        self.handshakes.cancel(id);
        match was {
            Inner::Open => {
                self.note(now, id, &format!("TLS ended: {error}"));
                self.inner.handle_lost(now, id, &error.to_string());
            }
            Inner::NotYet => {
                self.note(now, id, &format!("TLS failed: {error}"));
                self.events.push_back(TlsEvent::Failed {
                    conn: id,
                    peer,
                    error,
                });
            }
            // The inner service closed it already: a peer that does not
            // answer close_notify is nobody's concern.
            Inner::Gone => {}
        }
    }

    /// Hands the plaintext in `self.plain` to the inner service.
    fn deliver(&mut self, now: Instant, id: ConnId) {
        if self.plain.is_empty() {
            return;
        }
        if self.conns.get(&id).is_some_and(|c| c.inner == Inner::Open) {
            if let Some(t) = &mut self.tracer {
                t.received(now, Some(id), &self.plain);
            }
            self.inner.handle_input(now, id, &self.plain);
        }
        self.plain.clear();
    }

    fn forget(&mut self, now: Instant, id: ConnId) {
        self.conns.remove(&id);
        self.handshakes.cancel(id);
        if let Some(t) = &mut self.tracer {
            t.closed(now, Some(id));
        }
    }
}

impl<S: Service> Service for TlsService<S> {
    type Event = TlsEvent<S::Event>;

    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        self.tick(now);
        match ServerConnection::new(Arc::clone(&self.config)) {
            Ok(tls) => {
                let link = Link::new(Connection::Server(tls), now);
                self.handshakes.schedule(conn, link.deadline);
                self.conns.insert(
                    conn,
                    Conn {
                        link,
                        peer,
                        inner: Inner::NotYet,
                        inner_ready: false,
                        eof_told: false,
                        queued: false,
                        refusal: None,
                    },
                );
                if let Some(t) = &mut self.tracer {
                    t.opened(Some(conn));
                }
            }
            Err(e) => {
                self.aborts.push(conn);
                self.events.push_back(TlsEvent::Failed {
                    conn,
                    peer,
                    error: TlsError::Protocol(e.to_string()),
                });
            }
        }
    }

    fn handle_input(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        self.tick(now);
        if self.dialed.contains_key(&conn) {
            if let Some(t) = &mut self.tracer {
                t.received(now, Some(conn), bytes);
            }
            return self.inner.handle_input(now, conn, bytes);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.link.first_byte().is_none() && bytes.first().is_some_and(u8::is_ascii_uppercase) {
            // A method name: plaintext HTTP.
            c.refusal = Some(plain_http_refusal());
            let _ = c.link.fail(TlsError::PlainHttp);
            self.failed(now, conn, TlsError::PlainHttp);
            return;
        }
        let mut plain = std::mem::take(&mut self.plain);
        let fed = c.link.feed(bytes, &mut plain);
        self.plain = plain;
        match fed {
            Ok(fed) => {
                if fed.established {
                    let info = c.link.info();
                    let peer = c.peer;
                    c.inner = Inner::Open;
                    self.handshakes.cancel(conn);
                    self.note(now, conn, &format!("TLS handshake done: {info}"));
                    self.events
                        .push_back(TlsEvent::Established { conn, peer, info });
                    self.inner.handle_connect(now, conn, peer);
                }
                self.deliver(now, conn);
                if fed.peer_closed {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        if c.inner == Inner::Open && !c.eof_told {
                            c.eof_told = true;
                            self.note(now, conn, "TLS close_notify received");
                            self.inner.handle_eof(now, conn);
                        }
                    }
                }
            }
            Err(error) => {
                self.plain.clear();
                self.failed(now, conn, error);
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.link.wants_write() {
                Self::mark(&mut self.ready, conn, c);
            }
        }
    }

    fn handle_eof(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        if self.dialed.contains_key(&conn) {
            return self.inner.handle_eof(now, conn);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut plain = std::mem::take(&mut self.plain);
        let end = c.link.eof(&mut plain);
        self.plain = plain;
        match end {
            Ok(()) => {
                self.deliver(now, conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    if c.inner == Inner::Open && !c.eof_told {
                        c.eof_told = true;
                        self.inner.handle_eof(now, conn);
                    }
                }
            }
            Err(error) => self.failed(now, conn, error),
        }
    }

    fn handle_lost(&mut self, now: Instant, conn: ConnId, error: &str) {
        self.tick(now);
        if self.dialed.remove(&conn).is_some() {
            if let Some(t) = &mut self.tracer {
                t.closed(now, Some(conn));
            }
            return self.inner.handle_lost(now, conn, error);
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let (inner, peer) = (c.inner, c.peer);
        self.forget(now, conn);
        match inner {
            Inner::Open => self.inner.handle_lost(now, conn, error),
            Inner::NotYet => self.events.push_back(TlsEvent::Failed {
                conn,
                peer,
                error: TlsError::HandshakeCut,
            }),
            Inner::Gone => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        while let Some(id) = self.handshakes.pop_due(now) {
            if let Some(c) = self.conns.get_mut(&id) {
                if c.inner == Inner::NotYet {
                    let _ = c.link.fail(TlsError::HandshakeTimeout);
                    self.failed(now, id, TlsError::HandshakeTimeout);
                }
            }
        }
        if self.inner.poll_timeout().is_some_and(|at| at <= now) {
            self.inner.handle_timeout(now);
        }
    }

    fn handle_shutdown(&mut self, now: Instant) {
        self.tick(now);
        self.inner.handle_shutdown(now);
        let handshaking: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.inner == Inner::NotYet)
            .map(|(id, _)| *id)
            .collect();
        for id in handshaking {
            if let Some(c) = self.conns.get_mut(&id) {
                c.inner = Inner::Gone;
                let _ = c.link.fail(TlsError::HandshakeCut);
                Self::mark(&mut self.ready, id, c);
            }
        }
    }

    fn handle_dialed(&mut self, now: Instant, token: u64, conn: ConnId, peer: SocketAddr) {
        self.tick(now);
        self.dialed.insert(conn, ());
        if let Some(t) = &mut self.tracer {
            t.opened(Some(conn));
        }
        self.inner.handle_dialed(now, token, conn, peer);
    }

    fn handle_dial_failed(&mut self, now: Instant, token: u64, error: &str) {
        self.tick(now);
        self.inner.handle_dial_failed(now, token, error);
    }

    fn poll_dial(&mut self) -> Option<crate::Dial> {
        self.inner.poll_dial()
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        self.inner.poll_event().map(TlsEvent::Inner)
    }

    fn poll_ready(&mut self) -> Option<(ConnId, Readiness)> {
        if let Some(id) = self.aborts.pop() {
            return Some((id, Readiness::Abort));
        }
        while let Some((id, readiness)) = self.inner.poll_ready() {
            match readiness {
                Readiness::Send if self.dialed.contains_key(&id) => {
                    return Some((id, Readiness::Send));
                }
                Readiness::Send => {
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.inner_ready = true;
                        Self::mark(&mut self.ready, id, c);
                    }
                }
                Readiness::Abort => {
                    if self.dialed.remove(&id).is_some() {
                        return Some((id, Readiness::Abort));
                    }
                    if self.conns.contains_key(&id) {
                        self.forget(self.now, id);
                        return Some((id, Readiness::Abort));
                    }
                }
            }
        }
        while let Some(id) = self.ready.pop_front() {
            if let Some(c) = self.conns.get_mut(&id) {
                c.queued = false;
                return Some((id, Readiness::Send));
            }
        }
        None
    }

    fn poll_transmit(&mut self, conn: ConnId, out: &mut Vec<u8>, max: usize) -> Flow {
        if self.dialed.contains_key(&conn) {
            let start = out.len();
            let flow = self.inner.poll_transmit(conn, out, max);
            if let Some(t) = &mut self.tracer {
                t.sent(self.now, Some(conn), &out[start..]);
            }
            if flow == Flow::Close {
                self.dialed.remove(&conn);
            }
            return flow;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return Flow::Close;
        };
        if let Some(reply) = c.refusal.take() {
            out.extend_from_slice(&reply);
            self.forget(self.now, conn);
            return Flow::Close;
        }
        let start = out.len();
        loop {
            let room = max.saturating_sub(out.len() - start);
            c.link.take(out, room);
            let room = max.saturating_sub(out.len() - start);
            if room == 0 || c.inner != Inner::Open || !c.inner_ready || c.link.pending() > 0 {
                break;
            }
            self.plain.clear();
            let flow = self
                .inner
                .poll_transmit(conn, &mut self.plain, PLAINTEXT_CHUNK.min(room));
            let got = !self.plain.is_empty();
            if got {
                if let Some(t) = &mut self.tracer {
                    t.sent(self.now, Some(conn), &self.plain);
                }
                c.link.write(&self.plain);
                self.plain.clear();
            } else {
                c.inner_ready = false;
            }
            if flow == Flow::Close {
                c.inner = Inner::Gone;
                c.link.close();
            } else if !got {
                break;
            }
        }
        if c.link.is_done() && c.inner != Inner::Open {
            self.forget(self.now, conn);
            return Flow::Close;
        }
        Flow::Open
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.inner.poll_timeout(), self.handshakes.next()]
            .into_iter()
            .flatten()
            .min()
    }

    fn connections(&self) -> usize {
        self.conns.len() + self.dialed.len()
    }

    fn is_open(&self, conn: ConnId) -> bool {
        let ours = self.dialed.contains_key(&conn)
            || self
                .conns
                .get(&conn)
                .is_some_and(|c| c.inner == Inner::Open);
        ours && self.inner.is_open(conn)
    }

    fn wants_input(&self, conn: ConnId) -> bool {
        self.inner.wants_input(conn)
    }
}
