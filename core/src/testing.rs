//! A test kit for core's protocols (feature `testing`): a [`ServicePump`]
//! that drives any [`Service`] without sockets, on a virtual clock, and a
//! client/server [`Pair`] that connects any [`Session`] to any [`Service`]
//! in memory. Both follow the drivers' contract exactly (mutate once, then
//! drain every event and every transmit), so what passes here passes the
//! same way under the std and mio drivers.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::{ConnId, Flow, Readiness, Service, Session};

/// How a connection of a [`ServicePump`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Closed after its output was sent ([`Flow::Close`]).
    Closed,
    /// Dropped without flushing ([`Readiness::Abort`]).
    Aborted,
}

/// A [`Service`] driven in memory: connections by number, input at any
/// split points, time that passes only when told to.
pub struct ServicePump<S: Service> {
    /// The service under test.
    pub service: S,
    /// The virtual clock.
    pub now: Instant,
    /// The service's events so far, in order.
    pub events: Vec<S::Event>,
    output: HashMap<ConnId, Vec<u8>>,
    ended: HashMap<ConnId, Ended>,
    max_transmit: usize,
    app: Option<App<S>>,
}

/// An application answering a service's events with commands, as the
/// drivers' `on_event` does.
type App<S> = Box<dyn FnMut(&mut S, <S as Service>::Event)>;

/// `bytes` cut at `cuts` (any numbers: each is taken modulo the length,
/// so a proptest can pass arbitrary ones), in order, none empty.
pub fn split_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| c % (bytes.len() + 1))
        .chain([0, bytes.len()])
        .collect();
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// The loopback address a pumped connection `id` comes from.
pub fn peer(id: u64) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        40_000u16.wrapping_add(id as u16),
    )
}

impl<S: Service> std::fmt::Debug for ServicePump<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicePump")
            .field("connections", &self.service.connections())
            .field("ended", &self.ended)
            .field("events", &self.events.len())
            .finish()
    }
}

impl<C: Session, S: Service> std::fmt::Debug for Pair<C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("server", &self.server)
            .field("client_events", &self.got.len())
            .finish()
    }
}

impl<S: Service> ServicePump<S> {
    /// Pumps `service`, the clock starting at `now`.
    pub fn new(service: S, now: Instant) -> Self {
        Self {
            service,
            now,
            output: HashMap::new(),
            ended: HashMap::new(),
            events: Vec::new(),
            max_transmit: usize::MAX,
            app: None,
        }
    }

    /// Hands every event to `app` (which may answer with commands on the
    /// service) instead of keeping it in [`events`](Self::events).
    pub fn with_app(mut self, app: impl FnMut(&mut S, S::Event) + 'static) -> Self {
        self.app = Some(Box::new(app));
        self
    }

    /// Takes at most `max` bytes per `poll_transmit` (a driver with a small
    /// write buffer).
    pub fn with_max_transmit(mut self, max: usize) -> Self {
        self.max_transmit = max.max(1);
        self
    }

    /// Connects `id` (from [`peer`]`(id)`).
    pub fn connect(&mut self, id: u64) -> ConnId {
        let conn = ConnId(id);
        self.service.handle_connect(self.now, conn, peer(id));
        self.pump();
        conn
    }

    /// `bytes` arrive on `id` in one read.
    pub fn send(&mut self, id: u64, bytes: impl AsRef<[u8]>) {
        self.service
            .handle_input(self.now, ConnId(id), bytes.as_ref());
        self.pump();
    }

    /// `bytes` arrive on `id` in reads cut at `cuts` (any numbers: each is
    /// taken modulo the length, so a proptest can pass arbitrary ones).
    pub fn send_split(&mut self, id: u64, bytes: &[u8], cuts: &[usize]) {
        for part in split_at(bytes, cuts) {
            self.send(id, part);
        }
    }

    /// The client of `id` finished sending.
    pub fn eof(&mut self, id: u64) {
        self.service.handle_eof(self.now, ConnId(id));
        self.pump();
    }

    /// The connection `id` failed.
    pub fn lose(&mut self, id: u64, error: &str) {
        self.service.handle_lost(self.now, ConnId(id), error);
        self.pump();
    }

    /// Time passes by `by`; deadlines on the way fire in order.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(at) = self.service.poll_timeout().filter(|at| *at <= end) {
            self.now = self.now.max(at);
            self.service.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
        self.service.handle_timeout(self.now);
        self.pump();
    }

    /// The server stops.
    pub fn shutdown(&mut self) {
        self.service.handle_shutdown(self.now);
        self.pump();
    }

    /// Drains events and output, as a driver does after every input.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(e) = self.service.poll_event() {
                match &mut self.app {
                    Some(app) => app(&mut self.service, e),
                    None => self.events.push(e),
                }
                progressed = true;
            }
            while let Some((conn, ready)) = self.service.poll_ready() {
                progressed = true;
                if ready == Readiness::Abort {
                    self.ended.insert(conn, Ended::Aborted);
                    continue;
                }
                loop {
                    let out = self.output.entry(conn).or_default();
                    let before = out.len();
                    let flow = self.service.poll_transmit(conn, out, self.max_transmit);
                    if flow == Flow::Close {
                        self.ended.insert(conn, Ended::Closed);
                        break;
                    }
                    if self.output.get(&conn).map_or(0, Vec::len) == before {
                        break;
                    }
                }
            }
            if !progressed {
                return;
            }
        }
    }

    /// What `id` received since the last take.
    pub fn take_output(&mut self, id: u64) -> Vec<u8> {
        self.output.remove(&ConnId(id)).unwrap_or_default()
    }

    /// What every connection received since the last take, by number.
    pub fn take_all(&mut self) -> HashMap<u64, Vec<u8>> {
        self.output.drain().map(|(c, out)| (c.0, out)).collect()
    }

    /// What `id` received since the last take, as (lossy) text.
    pub fn take_text(&mut self, id: u64) -> String {
        String::from_utf8_lossy(&self.take_output(id)).into_owned()
    }

    /// How `id` ended, if it did.
    pub fn ended(&self, id: u64) -> Option<Ended> {
        self.ended.get(&ConnId(id)).copied()
    }

    /// The events so far (taken).
    pub fn take_events(&mut self) -> Vec<S::Event> {
        std::mem::take(&mut self.events)
    }

    /// Connections that ended, by number.
    pub fn ended_ids(&self) -> HashSet<u64> {
        self.ended.keys().map(|c| c.0).collect()
    }
}

/// A client [`Session`] connected in memory to a [`Service`] (as
/// connection 1): bytes each writes are what the other reads.
pub struct Pair<C: Session, S: Service> {
    /// The client.
    pub client: C,
    /// The server side, pumped.
    pub server: ServicePump<S>,
    /// The client's events so far.
    pub got: Vec<C::Event>,
    step: usize,
    client_closed_write: bool,
    server_closed: bool,
}

impl<C: Session, S: Service> Pair<C, S> {
    /// Connects `client` to `service` at `now`, and runs until quiet.
    pub fn new(client: C, service: S, now: Instant) -> Self {
        Self::over(client, ServicePump::new(service, now), usize::MAX)
    }

    /// Connects `client` to the service of `pump` (with its application,
    /// if any); bytes move in reads of at most `step` bytes both ways.
    pub fn over(client: C, mut server: ServicePump<S>, step: usize) -> Self {
        server.connect(1);
        let mut pair = Self {
            client,
            server,
            got: Vec::new(),
            step: step.max(1),
            client_closed_write: false,
            server_closed: false,
        };
        pair.run();
        pair
    }

    /// Moves bytes both ways until neither side has anything to say (what
    /// a test did to either side directly included).
    pub fn run(&mut self) {
        self.server.pump();
        loop {
            let mut moved = false;
            let mut out = Vec::new();
            self.client.poll_transmit(&mut out);
            for chunk in out.chunks(self.step) {
                moved = true;
                self.server.send(1, chunk);
            }
            if self.client.wants_write_shutdown() && !self.client_closed_write {
                self.client_closed_write = true;
                moved = true;
                self.server.eof(1);
            }
            let back = self.server.take_output(1);
            for chunk in back.chunks(self.step) {
                moved = true;
                self.client.handle_input(self.server.now, chunk);
            }
            if self.server.ended(1).is_some() && back.is_empty() && !self.server_closed {
                self.server_closed = true;
                moved = true;
                self.client.handle_eof(self.server.now);
            }
            while let Some(e) = self.client.poll_event() {
                moved = true;
                self.got.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    /// Time passes on both sides by `by`, then both run until quiet.
    pub fn advance(&mut self, by: Duration) {
        self.server.advance(by);
        self.client.handle_timeout(self.server.now);
        self.run();
    }
}

/// What [`Shout`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShoutEvent {
    /// A connection opened.
    Connected(ConnId),
    /// A line came (and was shouted back).
    Line(ConnId, String),
    /// The client finished sending.
    Eof(ConnId),
    /// The client stopped reading and was dropped.
    Dropped(ConnId, String),
    /// The connection failed.
    Lost(ConnId, String),
}

/// A tiny line service for the drivers' own tests: each line comes back in
/// capitals; `flood N` is answered with N lines of 1 KiB; `quit` is
/// answered `bye` and the service closes the connection (the client may
/// stay silent and hold it open); at the client's end of input it says
/// `bye` and closes; at shutdown every client gets
/// `shutdown`. Unsent output per connection is capped, so a client that
/// does not read is dropped.
#[derive(Debug)]
pub struct Shout {
    table: crate::ConnTable<crate::LineDecoder>,
    timers: crate::DeadlineQueue,
    events: std::collections::VecDeque<ShoutEvent>,
}

impl Shout {
    /// A service whose connections may each have `cap` bytes unsent.
    pub fn new(cap: usize) -> Self {
        Self {
            table: crate::ConnTable::new(cap),
            timers: crate::DeadlineQueue::new(),
            events: std::collections::VecDeque::new(),
        }
    }

    /// Sends `text` (a line) to every open connection; returns how many.
    pub fn say_all(&mut self, text: &str) -> usize {
        let ids = self.table.open_ids();
        for &conn in &ids {
            self.send(conn, text);
        }
        ids.len()
    }

    fn send(&mut self, conn: ConnId, text: &str) -> bool {
        let line = format!("{text}\n");
        match self.table.send(conn, line.as_bytes()) {
            Ok(()) => true,
            Err(overflow) => {
                self.events
                    .push_back(ShoutEvent::Dropped(conn, overflow.to_string()));
                false
            }
        }
    }
}

impl Service for Shout {
    type Event = ShoutEvent;

    fn handle_connect(&mut self, _now: Instant, conn: ConnId, _peer: SocketAddr) {
        self.table
            .insert(conn, crate::LineDecoder::new(crate::MAX_LINE));
        self.events.push_back(ShoutEvent::Connected(conn));
    }

    fn handle_input(&mut self, _now: Instant, conn: ConnId, bytes: &[u8]) {
        let mut lines = Vec::new();
        if let Some(decoder) = self.table.get_mut(conn) {
            decoder.feed(bytes);
            while let Ok(Some(line)) = decoder.next_line() {
                lines.push(line);
            }
        }
        for line in lines {
            let flood = line
                .strip_prefix("flood ")
                .and_then(|n| n.trim().parse::<usize>().ok());
            self.events.push_back(ShoutEvent::Line(conn, line.clone()));
            if line == "quit" {
                self.send(conn, "bye");
                self.table.close(conn);
                break;
            }
            match flood {
                Some(n) => {
                    let kib = "x".repeat(1023);
                    for _ in 0..n {
                        if !self.send(conn, &kib) {
                            break;
                        }
                    }
                }
                None => {
                    self.send(conn, &line.to_uppercase());
                }
            }
        }
    }

    fn handle_eof(&mut self, _now: Instant, conn: ConnId) {
        if self.table.get(conn).is_some() {
            self.send(conn, "bye");
            self.table.close(conn);
            self.events.push_back(ShoutEvent::Eof(conn));
        }
    }

    fn handle_lost(&mut self, _now: Instant, conn: ConnId, error: &str) {
        if self.table.remove(conn).is_some() {
            self.events
                .push_back(ShoutEvent::Lost(conn, error.to_owned()));
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn handle_shutdown(&mut self, _now: Instant) {
        for conn in self.table.open_ids() {
            self.send(conn, "shutdown");
            self.table.close(conn);
        }
    }

    crate::conn_table::table_outputs!();
}

/// What [`Dialer`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialerEvent {
    /// The dial came through as this connection.
    Dialed(ConnId),
    /// A line arrived on the dialed connection.
    Line(String),
    /// The dial failed.
    Failed(String),
    /// The dialed connection ended.
    Ended,
}

/// A tiny service for the drivers' tests of outgoing connections: it
/// dials `target` at start, says `hello` once connected, and reports each
/// line that comes back.
#[derive(Debug)]
pub struct Dialer {
    target: SocketAddr,
    asked: bool,
    conn: Option<ConnId>,
    out: Vec<u8>,
    ready: bool,
    input: Vec<u8>,
    events: std::collections::VecDeque<DialerEvent>,
}

impl Dialer {
    /// A service that will dial `target`.
    pub fn new(target: SocketAddr) -> Self {
        Self {
            target,
            asked: false,
            conn: None,
            out: Vec::new(),
            ready: false,
            input: Vec::new(),
            events: std::collections::VecDeque::new(),
        }
    }
}

impl Service for Dialer {
    type Event = DialerEvent;

    fn handle_connect(&mut self, _now: Instant, _conn: ConnId, _peer: SocketAddr) {}
    fn handle_input(&mut self, _now: Instant, conn: ConnId, bytes: &[u8]) {
        if Some(conn) != self.conn {
            return;
        }
        self.input.extend_from_slice(bytes);
        while let Some(end) = self.input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.input.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            self.events.push_back(DialerEvent::Line(text));
        }
    }
    fn handle_eof(&mut self, _now: Instant, conn: ConnId) {
        if Some(conn) == self.conn {
            self.events.push_back(DialerEvent::Ended);
        }
    }
    fn handle_lost(&mut self, now: Instant, conn: ConnId, _error: &str) {
        self.handle_eof(now, conn);
        self.conn = None;
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn handle_shutdown(&mut self, _now: Instant) {}
    fn handle_dialed(&mut self, _now: Instant, token: u64, conn: ConnId, _peer: SocketAddr) {
        assert_eq!(token, 7, "the token given back is the one asked with");
        self.conn = Some(conn);
        self.out.extend_from_slice(b"hello\n");
        self.ready = true;
        self.events.push_back(DialerEvent::Dialed(conn));
    }
    fn handle_dial_failed(&mut self, _now: Instant, _token: u64, error: &str) {
        self.events.push_back(DialerEvent::Failed(error.to_owned()));
    }
    fn poll_dial(&mut self) -> Option<crate::Dial> {
        if self.asked {
            return None;
        }
        self.asked = true;
        Some(crate::Dial {
            token: 7,
            addr: self.target,
        })
    }
    fn poll_event(&mut self) -> Option<DialerEvent> {
        self.events.pop_front()
    }
    fn poll_ready(&mut self) -> Option<(ConnId, Readiness)> {
        match self.conn {
            Some(c) if self.ready => {
                self.ready = false;
                Some((c, Readiness::Send))
            }
            _ => None,
        }
    }
    fn poll_transmit(&mut self, conn: ConnId, out: &mut Vec<u8>, _max: usize) -> Flow {
        if Some(conn) == self.conn {
            out.append(&mut self.out);
        }
        Flow::Open
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn connections(&self) -> usize {
        usize::from(self.conn.is_some())
    }
    fn is_open(&self, conn: ConnId) -> bool {
        Some(conn) == self.conn
    }
}
