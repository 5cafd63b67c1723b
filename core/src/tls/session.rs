//! [`TlsSession`]: any client [`Session`] behind TLS.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection};

use super::link::Link;
use super::{TlsClock, TlsError, TlsInfo};
use crate::trace::Tracer;
use crate::Session;

/// What a [`TlsSession`] reports: its inner session's events, and the
/// handshake's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsClientEvent<E> {
    /// An event of the inner session.
    Inner(E),
    /// The handshake finished: the server's certificate is valid for the
    /// name asked for.
    Established(TlsInfo),
    /// The connection failed at the TLS level (a bad certificate, no
    /// common version, a cut or slow handshake); the session is over.
    Failed(TlsError),
}

/// A client [`Session`] that speaks TLS to its server and runs `C` inside.
///
/// The inner session's output is encrypted (held until the handshake is
/// done); it sees only authenticated plaintext. When it is done sending,
/// `close_notify` goes before the write side is shut; a server that stops
/// without one is reported to it as a lost connection.
pub struct TlsSession<C: Session> {
    inner: C,
    link: Link,
    clock: TlsClock,
    /// The name the certificate is checked against (shown as SNI).
    name: String,
    now: Instant,
    events: VecDeque<TlsClientEvent<C::Event>>,
    plain: Vec<u8>,
    tracer: Option<Tracer>,
}

impl<C: Session> std::fmt::Debug for TlsSession<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("server_name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<C: Session> TlsSession<C> {
    /// `inner` over TLS to the server named `name` (checked against its
    /// certificate), with `config` (from
    /// [`client_config`](super::client_config), sharing `clock`); the
    /// handshake starts at `now`.
    ///
    /// Fails only when `config` cannot serve `name`.
    pub fn new(
        inner: C,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        clock: TlsClock,
        now: Instant,
    ) -> Result<Self, TlsError> {
        clock.advance(now);
        let shown = name.to_str().into_owned();
        let tls = ClientConnection::new(config, name).map_err(|e| TlsError::from_rustls(&e))?;
        Ok(Self {
            inner,
            link: Link::new(Connection::Client(tls), now),
            clock,
            name: shown,
            now,
            events: VecDeque::new(),
            plain: Vec::new(),
            tracer: None,
        })
    }

    /// Shows the plaintext each way and the handshake to `tracer`.
    pub fn traced(mut self, tracer: Option<Tracer>) -> Self {
        self.tracer = tracer.map(|mut t| {
            t.opened(None);
            t
        });
        self
    }

    /// The inner session.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The inner session, to run commands on (their output is encrypted
    /// on the next `poll_transmit`).
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Ends the TLS session politely: `close_notify` goes out after any
    /// plaintext still queued (the inner protocol need not know; an HTTP
    /// client that is done with a kept-alive connection, say).
    pub fn close(&mut self) {
        if !self.link.is_failed() {
            self.link.close();
        }
    }

    fn tick(&mut self, now: Instant) {
        self.now = now;
        self.clock.advance(now);
    }

    fn note(&mut self, text: &str) {
        if let Some(t) = &mut self.tracer {
            t.note(self.now, None, text);
        }
    }

    fn fail(&mut self, error: TlsError) {
        if self.link.is_established() {
            self.note(&format!("TLS ended: {error}"));
            self.inner.handle_lost(self.now, &error.to_string());
        } else {
            self.note(&format!("TLS failed: {error}"));
        }
        self.events.push_back(TlsClientEvent::Failed(error));
    }

    fn deliver(&mut self) {
        if self.plain.is_empty() {
            return;
        }
        if let Some(t) = &mut self.tracer {
            t.received(self.now, None, &self.plain);
        }
        self.inner.handle_input(self.now, &self.plain);
        self.plain.clear();
    }

    /// Once the inner session is over, `close_notify` goes out.
    fn sync(&mut self) {
        if (self.inner.is_closed() || self.inner.wants_write_shutdown())
            && !self.link.is_closing()
            && !self.link.is_failed()
        {
            self.link.close();
        }
    }
}

impl<C: Session> Session for TlsSession<C> {
    type Event = TlsClientEvent<C::Event>;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.tick(now);
        let mut plain = std::mem::take(&mut self.plain);
        let fed = self.link.feed(bytes, &mut plain);
        self.plain = plain;
        match fed {
            Ok(fed) => {
                if fed.established {
                    let mut info = self.link.info();
                    // rustls sends SNI for DNS names only, never for IPs.
                    info.sni = self
                        .name
                        .parse::<core::net::IpAddr>()
                        .is_err()
                        .then(|| self.name.clone());
                    self.note(&format!("TLS handshake done: {info}"));
                    self.events.push_back(TlsClientEvent::Established(info));
                }
                self.deliver();
                if fed.peer_closed {
                    self.note("TLS close_notify received");
                    self.inner.handle_eof(now);
                }
            }
            Err(error) => {
                self.plain.clear();
                self.fail(error);
            }
        }
        self.sync();
    }

    fn handle_eof(&mut self, now: Instant) {
        self.tick(now);
        let mut plain = std::mem::take(&mut self.plain);
        let end = self.link.eof(&mut plain);
        self.plain = plain;
        match end {
            Ok(()) => {
                self.deliver();
                if !self.inner.is_closed() {
                    self.inner.handle_eof(now);
                }
            }
            Err(error) => self.fail(error),
        }
        self.sync();
    }

    fn handle_lost(&mut self, now: Instant, error: &str) {
        self.tick(now);
        let _ = self.link.fail(TlsError::HandshakeCut);
        if self.link.is_established() {
            self.inner.handle_lost(now, error);
        } else {
            self.events
                .push_back(TlsClientEvent::Failed(TlsError::HandshakeCut));
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        if !self.link.is_established() && !self.link.is_failed() && now >= self.link.deadline {
            let error = self.link.fail(TlsError::HandshakeTimeout);
            self.fail(error);
        }
        self.inner.handle_timeout(now);
        self.sync();
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        self.inner.poll_event().map(TlsClientEvent::Inner)
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        if !self.link.is_failed() && !self.link.is_closing() {
            self.plain.clear();
            self.inner.poll_transmit(&mut self.plain);
            if !self.plain.is_empty() {
                if let Some(t) = &mut self.tracer {
                    t.sent(self.now, None, &self.plain);
                }
                self.link.write(&self.plain);
                self.plain.clear();
            }
        }
        self.sync();
        self.link.take(out, usize::MAX);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let handshake =
            (!self.link.is_established() && !self.link.is_failed()).then_some(self.link.deadline);
        [handshake, self.inner.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn is_closed(&self) -> bool {
        (self.link.is_failed() || (self.inner.is_closed() && self.link.is_close_sent()))
            && !self.link.wants_write()
    }

    fn wants_write_shutdown(&self) -> bool {
        self.link.is_close_sent() && !self.link.wants_write()
    }
}
