//! A protocol in clear or behind TLS, as one type the engines run: the
//! choice is made once, at start, from the command's options.

use std::net::SocketAddr;
use std::time::Instant;

use commlab_core::tls::{TlsClientEvent, TlsEvent, TlsService, TlsSession};
use commlab_core::trace::Tracer;
use commlab_core::{ConnId, Flow, Readiness, Service, Session};

use super::{ClientTls, ServerTls};

/// A server protocol, in clear or behind TLS. Its events are
/// [`TlsEvent`]s either way (in clear, only `Inner`).
#[derive(Debug)]
pub enum Layered<S: Service> {
    /// No TLS.
    Plain(S),
    /// Behind TLS.
    Tls(Box<TlsService<S>>),
}

impl<S: Service> Layered<S> {
    /// `service` behind `tls` when given; `tracer` sees the plaintext.
    /// Returns the tracer the driver should use (none behind TLS: it
    /// would see only ciphertext).
    pub fn new(
        service: S,
        tls: Option<&ServerTls>,
        tracer: Option<Tracer>,
    ) -> (Self, Option<Tracer>) {
        match tls {
            None => (Self::Plain(service), tracer),
            Some(tls) => (
                Self::Tls(Box::new(
                    TlsService::new(service, tls.config.clone(), tls.clock.clone()).traced(tracer),
                )),
                None,
            ),
        }
    }

    /// The protocol inside.
    pub fn inner_mut(&mut self) -> &mut S {
        match self {
            Self::Plain(s) => s,
            Self::Tls(t) => t.inner_mut(),
        }
    }
}

macro_rules! both {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Self::Plain($s) => $e,
            Self::Tls($s) => $e,
        }
    };
}

impl<S: Service> Service for Layered<S> {
    type Event = TlsEvent<S::Event>;

    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        both!(self, s => s.handle_connect(now, conn, peer));
    }
    fn handle_input(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        both!(self, s => s.handle_input(now, conn, bytes));
    }
    fn handle_eof(&mut self, now: Instant, conn: ConnId) {
        both!(self, s => s.handle_eof(now, conn));
    }
    fn handle_lost(&mut self, now: Instant, conn: ConnId, error: &str) {
        both!(self, s => s.handle_lost(now, conn, error));
    }
    fn handle_timeout(&mut self, now: Instant) {
        both!(self, s => s.handle_timeout(now));
    }
    fn handle_shutdown(&mut self, now: Instant) {
        both!(self, s => s.handle_shutdown(now));
    }
    fn handle_dialed(&mut self, now: Instant, token: u64, conn: ConnId, peer: SocketAddr) {
        both!(self, s => s.handle_dialed(now, token, conn, peer));
    }
    fn handle_dial_failed(&mut self, now: Instant, token: u64, error: &str) {
        both!(self, s => s.handle_dial_failed(now, token, error));
    }
    fn poll_dial(&mut self) -> Option<commlab_core::Dial> {
        both!(self, s => s.poll_dial())
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        match self {
            Self::Plain(s) => s.poll_event().map(TlsEvent::Inner),
            Self::Tls(t) => t.poll_event(),
        }
    }
    fn poll_ready(&mut self) -> Option<(ConnId, Readiness)> {
        both!(self, s => s.poll_ready())
    }
    fn poll_transmit(&mut self, conn: ConnId, out: &mut Vec<u8>, max: usize) -> Flow {
        both!(self, s => s.poll_transmit(conn, out, max))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        both!(self, s => s.poll_timeout())
    }
    fn connections(&self) -> usize {
        both!(self, s => s.connections())
    }
    fn is_open(&self, conn: ConnId) -> bool {
        both!(self, s => s.is_open(conn))
    }
    fn wants_input(&self, conn: ConnId) -> bool {
        both!(self, s => s.wants_input(conn))
    }
}

/// A client protocol, in clear or behind TLS. Its events are
/// [`TlsClientEvent`]s either way (in clear, only `Inner`).
#[derive(Debug)]
pub enum LayeredSession<C: Session> {
    /// No TLS.
    Plain(C),
    /// Behind TLS.
    Tls(Box<TlsSession<C>>),
}

impl<C: Session> LayeredSession<C> {
    /// `session` behind `tls` when given, the handshake starting now;
    /// `tracer` sees the plaintext. Returns the tracer the driver should
    /// use (none behind TLS).
    pub fn new(
        session: C,
        tls: Option<&ClientTls>,
        tracer: Option<Tracer>,
    ) -> anyhow::Result<(Self, Option<Tracer>)> {
        Ok(match tls {
            None => (Self::Plain(session), tracer),
            Some(tls) => (
                Self::Tls(Box::new(
                    TlsSession::new(
                        session,
                        tls.config.clone(),
                        tls.name.clone(),
                        tls.clock.clone(),
                        Instant::now(),
                    )?
                    .traced(tracer),
                )),
                None,
            ),
        })
    }

    /// The protocol inside.
    pub fn inner_mut(&mut self) -> &mut C {
        match self {
            Self::Plain(s) => s,
            Self::Tls(t) => t.inner_mut(),
        }
    }

    /// Ends TLS politely (`close_notify`); nothing in clear.
    pub fn close_tls(&mut self) {
        if let Self::Tls(t) = self {
            t.close();
        }
    }

    /// The protocol inside.
    pub fn inner(&self) -> &C {
        match self {
            Self::Plain(s) => s,
            Self::Tls(t) => t.inner(),
        }
    }
}

impl<C: Session> Session for LayeredSession<C> {
    type Event = TlsClientEvent<C::Event>;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        both!(self, s => s.handle_input(now, bytes));
    }
    fn handle_eof(&mut self, now: Instant) {
        both!(self, s => s.handle_eof(now));
    }
    fn handle_lost(&mut self, now: Instant, error: &str) {
        both!(self, s => s.handle_lost(now, error));
    }
    fn handle_timeout(&mut self, now: Instant) {
        both!(self, s => s.handle_timeout(now));
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        match self {
            Self::Plain(s) => s.poll_event().map(TlsClientEvent::Inner),
            Self::Tls(t) => t.poll_event(),
        }
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        both!(self, s => s.poll_transmit(out));
    }
    fn poll_timeout(&self) -> Option<Instant> {
        both!(self, s => s.poll_timeout())
    }
    fn is_closed(&self) -> bool {
        both!(self, s => s.is_closed())
    }
    fn wants_write_shutdown(&self) -> bool {
        both!(self, s => s.wants_write_shutdown())
    }
}
