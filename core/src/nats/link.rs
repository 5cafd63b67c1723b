//! [`BrokerLink`]: a layer that gives any [`Federated`] service one
//! connection to a NATS broker, through the driver's own outgoing
//! connections ([`Service::poll_dial`]).
//!
//! The layer owns everything about the link and nothing about the
//! protocol above it: which seed to dial, the NATS session on the dialed
//! connection, reconnecting with a backoff from [`BACKOFF_START`] to
//! [`BACKOFF_MAX`], the bound on what waits for the broker
//! ([`LINK_BACKLOG`]). The service inside says what to subscribe to,
//! hears when the link comes and goes, gets the messages, and hands out
//! what to publish ([`Federated`]). Every other connection passes
//! through untouched.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Message, NatsClient, NatsError, NatsEvent, SendError};
use crate::{ConnId, Dial, Flow, OutputQueue, Readiness, Service, Session};

/// The first wait before dialing again after a failure.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// The longest wait between dials (the wait doubles up to it).
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Bytes that may wait for the broker (not yet taken by the driver): past
/// it the broker is not keeping up and the link is dropped, with the
/// reason, rather than the queue growing.
pub const LINK_BACKLOG: usize = super::MAX_OUTBOX;

/// One message a [`Federated`] service wants published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The subject.
    pub subject: String,
    /// Where answers should go (request-reply), if anywhere.
    pub reply: Option<String>,
    /// The bytes.
    pub payload: Vec<u8>,
}

/// A service that can use a broker link: the contract between
/// [`BrokerLink`] and the protocol it carries.
pub trait Federated: Service {
    /// The subjects to subscribe to, each time the link comes up.
    fn subjects(&self) -> Vec<String>;
    /// The link is up: subscriptions are in force, publishes go out.
    fn handle_link_up(&mut self, now: Instant);
    /// The link that was up is gone (what is published until the next
    /// [`handle_link_up`](Self::handle_link_up) is dropped).
    fn handle_link_down(&mut self, now: Instant);
    /// A message on one of the subscriptions.
    fn handle_message(&mut self, now: Instant, message: Message);
    /// The next message to publish; drained after every input.
    fn poll_publish(&mut self) -> Option<Publish>;
}

/// Why the link is down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The connection could not be made.
    #[error("cannot connect: {0}")]
    Dial(String),
    /// The NATS session failed (the broker's fault, a dead link, or the
    /// network's).
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// The broker closed the connection.
    #[error("the broker closed the connection")]
    Closed,
    /// More than [`LINK_BACKLOG`] bytes waited for the broker.
    #[error("the broker is not keeping up: {0} bytes wait for it, over the cap of {LINK_BACKLOG}; link dropped")]
    Backlog(usize),
}

/// What the link layer reports, beside the inner service's events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkEvent {
    /// Dialing `addr`.
    Dialing(SocketAddr),
    /// The link to `addr` is up.
    Up {
        /// The broker's address.
        addr: SocketAddr,
        /// The broker's name (or id) from its `INFO`.
        broker: String,
        /// Its version, if it said.
        version: Option<String>,
    },
    /// The link is down; the next dial is in `retry_in`.
    Down {
        /// The broker's address.
        addr: SocketAddr,
        /// Why.
        reason: LinkError,
        /// Failures in a row (1 for the first: a driver may log fewer).
        attempt: u32,
        /// When the next dial goes out.
        retry_in: Duration,
    },
    /// The broker refused one operation but keeps the link (a `-ERR` on
    /// permissions or a subject).
    BrokerError(String),
    /// A message the broker cannot carry was not published.
    NotPublished(SendError),
}

/// The events of a [`BrokerLink`]: the link's own, or the inner service's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked<E> {
    /// About the link.
    Link(LinkEvent),
    /// The inner service's event.
    Inner(E),
}

#[derive(Debug)]
enum State {
    /// No broker configured: the inner service runs alone.
    Off,
    /// The next dial is due at `at` (`None`: now).
    Waiting { at: Option<Instant> },
    /// The driver is connecting (dial `token`).
    Dialing { token: u64, addr: SocketAddr },
    /// Connected as `conn`; the NATS session runs (up once it says so).
    Open {
        conn: ConnId,
        addr: SocketAddr,
        client: Box<NatsClient>,
        up: bool,
    },
    /// Shut down: sending the last bytes on `conn`, if any.
    Stopped { conn: Option<ConnId> },
}

/// A [`Service`] that links its inner [`Federated`] service to a NATS
/// broker. Guarantees: at most one link at a time; a failed link is
/// reported once and dialed again after the backoff, rotating through
/// the seeds; the bytes waiting for the broker never exceed
/// [`LINK_BACKLOG`]; the inner service sees only the other connections.
#[derive(Debug)]
pub struct BrokerLink<S> {
    inner: S,
    seeds: Vec<SocketAddr>,
    next_seed: usize,
    name: String,
    state: State,
    backoff: Duration,
    failures: u32,
    next_token: u64,
    dial: Option<Dial>,
    out: OutputQueue,
    scratch: Vec<u8>,
    link_ready: bool,
    abort: Option<ConnId>,
    events: VecDeque<LinkEvent>,
}

impl<S: Federated> BrokerLink<S> {
    /// `inner`, linked to the first of `seeds` that answers, introducing
    /// itself to the broker as `name`. No seeds: no link, `inner` alone.
    pub fn new(inner: S, seeds: Vec<SocketAddr>, name: &str) -> Self {
        let state = if seeds.is_empty() {
            State::Off
        } else {
            State::Waiting { at: None }
        };
        Self {
            inner,
            seeds,
            next_seed: 0,
            name: name.to_owned(),
            state,
            backoff: BACKOFF_START,
            failures: 0,
            next_token: 1,
            dial: None,
            out: OutputQueue::default(),
            scratch: Vec::new(),
            link_ready: false,
            abort: None,
            events: VecDeque::new(),
        }
    }

    /// The service inside.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The service inside, for commands (their publishes go out when the
    /// driver next polls).
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Whether the link is up.
    pub fn is_linked(&self) -> bool {
        matches!(self.state, State::Open { up: true, .. })
    }

    fn link_conn(&self) -> Option<ConnId> {
        match self.state {
            State::Open { conn, .. } | State::Stopped { conn: Some(conn) } => Some(conn),
            _ => None,
        }
    }

    /// Ends the link for `reason`: the connection is aborted, the inner
    /// service told if it was up, the next dial scheduled.
    fn fail(&mut self, now: Instant, reason: LinkError) {
        let (addr, was_up) = match std::mem::replace(&mut self.state, State::Off) {
            State::Open { conn, addr, up, .. } => {
                self.abort = Some(conn);
                (addr, up)
            }
            State::Dialing { addr, .. } => (addr, false),
            other => {
                self.state = other;
                return;
            }
        };
        self.out.clear();
        self.link_ready = false;
        self.failures += 1;
        let retry_in = self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.next_seed = (self.next_seed + 1) % self.seeds.len().max(1);
        self.state = State::Waiting {
            at: Some(now + retry_in),
        };
        self.events.push_back(LinkEvent::Down {
            addr,
            reason,
            attempt: self.failures,
            retry_in,
        });
        if was_up {
            self.inner.handle_link_down(now);
        }
    }

    /// Moves the inner service's publishes to the broker and the NATS
    /// session's bytes to the outgoing queue (no time needed: nothing is
    /// received here).
    fn pump_publishes(&mut self) {
        while let Some(publish) = self.inner.poll_publish() {
            let State::Open {
                client, up: true, ..
            } = &mut self.state
            else {
                // Not linked: NATS core is at-most-once, and so is this.
                continue;
            };
            if let Err(e) =
                client.publish(&publish.subject, publish.reply.as_deref(), &publish.payload)
            {
                self.events.push_back(LinkEvent::NotPublished(e));
            }
        }
        self.take_bytes();
    }

    fn take_bytes(&mut self) {
        if let State::Open { client, .. } = &mut self.state {
            client.poll_transmit(&mut self.scratch);
            if !self.scratch.is_empty() {
                self.out.push(&self.scratch);
                self.scratch.clear();
                self.link_ready = true;
            }
        }
    }

    /// After any input: the NATS session's events reach the inner
    /// service, the publishes the broker, until nothing moves.
    fn settle(&mut self, now: Instant) {
        loop {
            self.pump_publishes();
            if self.out.len() > LINK_BACKLOG {
                let queued = self.out.len();
                self.fail(now, LinkError::Backlog(queued));
                continue;
            }
            let State::Open { client, .. } = &mut self.state else {
                return;
            };
            let Some(event) = client.poll_event() else {
                return;
            };
            self.on_nats(now, event);
        }
    }

    fn on_nats(&mut self, now: Instant, event: NatsEvent) {
        match event {
            NatsEvent::Connected(info) => {
                if let State::Open { addr, up, .. } = &mut self.state {
                    *up = true;
                    let addr = *addr;
                    self.backoff = BACKOFF_START;
                    self.failures = 0;
                    let broker = info.server_name.clone().unwrap_or(info.server_id);
                    self.events.push_back(LinkEvent::Up {
                        addr,
                        broker,
                        version: info.version,
                    });
                    self.inner.handle_link_up(now);
                }
            }
            NatsEvent::Message(message) => self.inner.handle_message(now, message),
            NatsEvent::Flushed => {}
            NatsEvent::ServerError(e) => self.events.push_back(LinkEvent::BrokerError(e)),
            NatsEvent::Failed(e) => self.fail(now, LinkError::Nats(e)),
            NatsEvent::Closed => self.fail(now, LinkError::Closed),
        }
    }

    fn start_dial(&mut self) {
        let addr = self.seeds[self.next_seed % self.seeds.len()];
        let token = self.next_token;
        self.next_token += 1;
        self.state = State::Dialing { token, addr };
        self.dial = Some(Dial { token, addr });
        self.events.push_back(LinkEvent::Dialing(addr));
    }
}

impl<S: Federated> Service for BrokerLink<S> {
    type Event = Linked<S::Event>;

    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        self.inner.handle_connect(now, conn, peer);
        self.settle(now);
    }

    fn handle_input(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        match &mut self.state {
            State::Open {
                conn: link, client, ..
            } if *link == conn => {
                client.handle_input(now, bytes);
            }
            State::Stopped { conn: Some(link) } if *link == conn => {}
            _ => self.inner.handle_input(now, conn, bytes),
        }
        self.settle(now);
    }

    fn handle_eof(&mut self, now: Instant, conn: ConnId) {
        match &mut self.state {
            State::Open {
                conn: link, client, ..
            } if *link == conn => client.handle_eof(now),
            State::Stopped { conn: Some(link) } if *link == conn => {
                self.abort = Some(conn);
                self.state = State::Stopped { conn: None };
            }
            _ => self.inner.handle_eof(now, conn),
        }
        self.settle(now);
    }

    fn handle_lost(&mut self, now: Instant, conn: ConnId, error: &str) {
        match &mut self.state {
            State::Open {
                conn: link, client, ..
            } if *link == conn => {
                client.handle_lost(now, error);
            }
            State::Stopped { conn: Some(link) } if *link == conn => {
                self.state = State::Stopped { conn: None };
            }
            _ => self.inner.handle_lost(now, conn, error),
        }
        self.settle(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        match &mut self.state {
            State::Waiting { at: Some(at) } if *at <= now => {
                self.state = State::Waiting { at: None }
            }
            State::Open { client, .. } => client.handle_timeout(now),
            _ => {}
        }
        self.settle(now);
    }

    fn handle_shutdown(&mut self, now: Instant) {
        self.inner.handle_shutdown(now);
        // The inner service's goodbyes (a leave per client) go out first.
        self.pump_publishes();
        self.dial = None;
        let conn = self.link_conn();
        self.state = State::Stopped { conn };
        if conn.is_some() {
            self.link_ready = true;
        }
    }

    fn handle_dialed(&mut self, now: Instant, token: u64, conn: ConnId, peer: SocketAddr) {
        match self.state {
            State::Dialing { token: t, addr } if t == token => {
                let mut client = Box::new(NatsClient::new(&self.name, now));
                for subject in self.inner.subjects() {
                    if let Err(e) = client.subscribe(&subject) {
                        self.events.push_back(LinkEvent::NotPublished(e));
                    }
                }
                let _ = peer;
                self.state = State::Open {
                    conn,
                    addr,
                    client,
                    up: false,
                };
                self.take_bytes();
            }
            // A dial this layer no longer waits for (shut down meanwhile).
            _ => self.abort = Some(conn),
        }
        self.settle(now);
    }

    fn handle_dial_failed(&mut self, now: Instant, token: u64, error: &str) {
        if matches!(self.state, State::Dialing { token: t, .. } if t == token) {
            self.fail(now, LinkError::Dial(error.to_owned()));
        }
        self.settle(now);
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(Linked::Link(e));
        }
        self.inner.poll_event().map(Linked::Inner)
    }

    fn poll_dial(&mut self) -> Option<Dial> {
        if matches!(self.state, State::Waiting { at: None }) {
            self.start_dial();
        }
        self.dial.take()
    }

    fn poll_ready(&mut self) -> Option<(ConnId, Readiness)> {
        self.pump_publishes();
        if let Some(conn) = self.abort.take() {
            return Some((conn, Readiness::Abort));
        }
        if self.link_ready {
            self.link_ready = false;
            if let Some(conn) = self.link_conn() {
                return Some((conn, Readiness::Send));
            }
        }
        self.inner.poll_ready()
    }

    fn poll_transmit(&mut self, conn: ConnId, out: &mut Vec<u8>, max: usize) -> Flow {
        if self.link_conn() != Some(conn) {
            return self.inner.poll_transmit(conn, out, max);
        }
        self.out.take_into(out, max);
        if !self.out.is_empty() {
            self.link_ready = true;
            return Flow::Open;
        }
        if matches!(self.state, State::Stopped { .. }) {
            self.state = State::Stopped { conn: None };
            return Flow::Close;
        }
        Flow::Open
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let link = match &self.state {
            State::Waiting { at } => *at,
            State::Open { client, .. } => client.poll_timeout(),
            _ => None,
        };
        match (self.inner.poll_timeout(), link) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn connections(&self) -> usize {
        self.inner.connections() + usize::from(self.link_conn().is_some())
    }

    fn is_open(&self, conn: ConnId) -> bool {
        match &self.state {
            State::Open { conn: link, .. } if *link == conn => true,
            State::Stopped { conn: Some(link) } if *link == conn => false,
            _ => self.inner.is_open(conn),
        }
    }
}
