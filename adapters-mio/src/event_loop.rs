//! The event loop and its handle.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commlab_core::trace::Tracer;
use commlab_core::{AnyApp, ConnId, Flow, IdMap, Job, Lane, Readiness, Service, Spawn};
use commlab_std::Workers;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

mod accept;
mod dial;
mod handle;
mod read;
mod start;

use handle::Peer;
pub use handle::ServerHandle;
pub use start::{one_loop, serve, serve_loops, serve_loops_with, serve_on};

use accept::is_listener;

use crate::{DIAL_TIMEOUT, GATHER_ROUNDS, LINGER, SHUTDOWN_GRACE, WRITE_CHUNK};

const WAKER: Token = Token(1);

type Command<S> = Box<dyn FnOnce(&mut S, Instant) + Send>;

enum Msg<S> {
    Run(Command<S>),
    /// A job of the application's finished with this.
    Done(Box<dyn std::any::Any + Send>),
    /// Another loop's application sent this ([`commlab_core::Jobs::tell_siblings`]).
    Sibling(Box<dyn std::any::Any + Send>),
    /// A connection the first loop accepted for this one.
    Adopt(TcpStream, SocketAddr),
    Shutdown,
}

/// Runs the application's jobs on the workers; each result comes back to
/// the loop as a message, and the loop hands it to `App::on_done`.
/// Messages for sibling loops go straight to their inboxes.
struct MioSpawn<S> {
    workers: Arc<Workers>,
    tx: Sender<Msg<S>>,
    waker: Arc<Waker>,
    /// Every loop, this one included, and this one's place among them.
    peers: Arc<[Peer<S>]>,
    index: usize,
}

impl<S: 'static> Spawn for MioSpawn<S> {
    fn spawn(&mut self, lane: Lane, job: Job) {
        let tx = self.tx.clone();
        let waker = Arc::clone(&self.waker);
        self.workers.submit(lane, move || {
            if tx.send(Msg::Done(job())).is_ok() {
                let _ = waker.wake();
            }
        });
    }

    fn siblings(&self) -> usize {
        self.peers.len().saturating_sub(1)
    }

    fn post_siblings(&mut self, make: &mut dyn FnMut() -> Box<dyn std::any::Any + Send>) {
        for (i, peer) in self.peers.iter().enumerate() {
            if i != self.index {
                // A loop that stopped (shutdown) takes no more messages.
                let _ = peer.post(Msg::Sibling(make()));
            }
        }
    }
}

struct Conn {
    id: ConnId,
    stream: TcpStream,
    out: Vec<u8>,
    pos: usize,
    close_after: bool,
    writable: bool,
    read_closed: bool,
    /// An event said the peer closed its side or the socket failed: read
    /// on to the end (or the error) even after a short read.
    peer_done: bool,
    lingering: Option<usize>,
    /// An outgoing connection still opening: the service's dial token.
    dialing: Option<u64>,
    /// Not read while the service wants no input (flow control).
    paused: bool,
}

impl Conn {
    /// A connection just accepted (registered readable), or opening for
    /// dial `dialing` (registered readable and writable).
    fn new(id: ConnId, stream: TcpStream, dialing: Option<u64>) -> Self {
        Self {
            id,
            stream,
            out: Vec::new(),
            pos: 0,
            close_after: false,
            writable: dialing.is_some(),
            read_closed: false,
            peer_done: false,
            lingering: None,
            dialing,
            paused: false,
        }
    }

    /// Adds or removes `WRITABLE` interest (only while output waits).
    fn want_writable(&mut self, poll: &Poll, token: Token, on: bool) {
        if self.writable != on {
            self.writable = on;
            let interest = if on {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = poll
                .registry()
                .reregister(&mut self.stream, token, interest);
        }
    }
}

struct EventLoop<S: Service> {
    poll: Poll,
    /// This loop's number (0 accepts for every loop).
    index: u16,
    /// Every loop (this one included), to hand accepted connections to.
    peers: Arc<[Peer<S>]>,
    /// The sockets this loop holds, counted up when one is handed to it
    /// and down when it drops one.
    load: Arc<AtomicUsize>,
    /// Where the search for the least loaded loop starts next.
    next_pick: usize,
    /// Emptied at shutdown.
    listeners: Vec<TcpListener>,
    /// The first loop hands accepted connections out (else each loop
    /// accepts on listeners of its own: `SO_REUSEPORT`).
    handoff: bool,
    /// Connections this loop has taken, in all.
    served: Arc<AtomicU64>,
    service: S,
    app: Box<dyn AnyApp<S>>,
    spawn: MioSpawn<S>,
    conns: IdMap<Token, Conn>,
    next_id: u64,
    scratch: Vec<u8>,
    /// Output on its way to a socket (see [`flush`](Self::flush)).
    write_buf: Vec<u8>,
    accept_backoff: Option<Instant>,
    more_to_read: VecDeque<Token>,
    /// Connections whose service wants no input for now.
    paused: Vec<Token>,
    lingering: VecDeque<(Instant, Token)>,
    /// Outgoing connections opening, by when they must be open.
    dialing: VecDeque<(Instant, Token)>,
    stopping: Option<Instant>,
    rx: Receiver<Msg<S>>,
    connections: Arc<AtomicUsize>,
    /// Sockets held (`conns.len()`), published each turn.
    sockets: Arc<AtomicUsize>,
    /// The most sockets held at once; more are closed once accepted.
    max_connections: usize,
    /// When the loop last said it was refusing connections at the cap.
    last_refusal_log: Option<Instant>,
    tracer: Option<Tracer>,
}

/// Connection ids start at 1; token 1 is the waker's, listeners count
/// down from `usize::MAX` ([`listener_token`]).
fn token_of(id: ConnId) -> Token {
    Token(usize::try_from(id.local()).map_or(usize::MAX, |i| i.saturating_add(1)))
}

impl<S: Service + 'static> EventLoop<S> {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        // What the service wants before any input (a dial at start).
        self.pump();
        loop {
            let timeout = self.next_timeout(Instant::now());
            if !self.wait(&mut events, timeout) {
                return;
            }
            let now = Instant::now();
            self.dispatch(&events, now);
            for _ in 0..GATHER_ROUNDS {
                if events.is_empty() {
                    break;
                }
                if !self.wait(&mut events, Some(Duration::ZERO)) {
                    return;
                }
                self.dispatch(&events, now);
            }
            self.housekeeping(now);
            self.pump();
            self.resume_paused();
            self.connections
                .store(self.service.connections(), Ordering::SeqCst);
            self.sockets.store(self.conns.len(), Ordering::SeqCst);
            if let Some(deadline) = self.stopping {
                // Done once every goodbye is flushed (lingering connections
                // only wait for their peer's close, which we need not see).
                let flushed = self.conns.values().all(|c| c.lingering.is_some());
                if flushed || Instant::now() >= deadline {
                    return;
                }
            }
        }
    }

    /// Polls; false when the poll itself failed (the loop must stop).
    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> bool {
        match self.poll.poll(events, timeout) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                eprintln!("commlab: event loop failed: {e}");
                false
            }
            _ => true,
        }
    }

    fn dispatch(&mut self, events: &Events, now: Instant) {
        for event in events {
            match event.token() {
                WAKER => self.commands(now),
                token if is_listener(token) => self.accept(Some(token), now),
                token if self.conns.get(&token).is_some_and(|c| c.dialing.is_some()) => {
                    self.dialed(token, now);
                }
                token => {
                    if event.is_read_closed() || event.is_error() {
                        if let Some(conn) = self.conns.get_mut(&token) {
                            conn.peer_done = true;
                        }
                    }
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.read(token, now);
                    }
                    if event.is_writable() {
                        self.flush(token);
                    }
                }
            }
        }
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.more_to_read.is_empty() {
            return Some(Duration::ZERO);
        }
        [
            self.service.poll_timeout(),
            self.accept_backoff,
            self.lingering.front().map(|(at, _)| *at),
            self.dialing.front().map(|(at, _)| *at),
            self.stopping,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(now))
    }

    fn housekeeping(&mut self, now: Instant) {
        for _ in 0..self.more_to_read.len() {
            if let Some(token) = self.more_to_read.pop_front() {
                self.read(token, now);
            }
        }
        if self.accept_backoff.is_some_and(|at| at <= now) {
            self.accept_backoff = None;
            self.accept(None, now);
        }
        if self.service.poll_timeout().is_some_and(|at| at <= now) {
            self.service.handle_timeout(now);
        }
        while let Some(&(at, token)) = self.lingering.front() {
            if at > now {
                break;
            }
            self.lingering.pop_front();
            self.drop_conn(token);
        }
        while let Some(&(at, token)) = self.dialing.front() {
            if at > now {
                break;
            }
            self.dialing.pop_front();
            let late = format!("no connection within {} s", DIAL_TIMEOUT.as_secs());
            self.dial_failed(token, now, &late);
        }
    }

    fn commands(&mut self, now: Instant) {
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Run(f) => f(&mut self.service, now),
                Msg::Done(done) => self.app.done(&mut self.service, done, &mut self.spawn),
                Msg::Sibling(message) => {
                    self.app
                        .sibling(&mut self.service, message, &mut self.spawn);
                }
                Msg::Adopt(stream, peer) => self.adopt(stream, peer, now),
                Msg::Shutdown => {
                    if self.stopping.is_none() {
                        self.stopping = Some(now + SHUTDOWN_GRACE);
                        for mut l in std::mem::take(&mut self.listeners) {
                            let _ = self.poll.registry().deregister(&mut l);
                        }
                        self.service.handle_shutdown(now);
                    }
                }
            }
        }
    }

    /// Mutate once, then drain: events to the application, output to sockets.
    fn pump(&mut self) {
        loop {
            let mut idle = true;
            while let Some(event) = self.service.poll_event() {
                idle = false;
                self.app.event(&mut self.service, event, &mut self.spawn);
            }
            while let Some(dial) = self.service.poll_dial() {
                idle = false;
                self.dial(dial, Instant::now());
            }
            while let Some((id, ready)) = self.service.poll_ready() {
                idle = false;
                match ready {
                    Readiness::Send => self.flush(token_of(id)),
                    Readiness::Abort => self.drop_conn(token_of(id)),
                }
            }
            if idle {
                return;
            }
        }
    }

    /// Writes what the service has for `token` until the socket is full.
    /// Output is taken into the loop's one write buffer; only what a full
    /// socket did not take stays with the connection (so an idle
    /// connection holds no buffer).
    fn flush(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        if conn.lingering.is_some() {
            return;
        }
        loop {
            let leftover = conn.pos < conn.out.len();
            if !leftover {
                conn.out = Vec::new();
                conn.pos = 0;
                if conn.close_after {
                    self.finish(token);
                    return;
                }
                self.write_buf.clear();
                let flow = self
                    .service
                    .poll_transmit(conn.id, &mut self.write_buf, WRITE_CHUNK);
                conn.close_after = flow == Flow::Close;
                if self.write_buf.is_empty() {
                    if conn.close_after {
                        continue;
                    }
                    break;
                }
            }
            let bytes = if leftover {
                &conn.out[conn.pos..]
            } else {
                &self.write_buf[..]
            };
            let result = conn.stream.write(bytes);
            let written = match &result {
                Ok(n) => *n,
                Err(_) => 0,
            };
            if let Some(t) = &mut self.tracer {
                t.sent(Instant::now(), Some(conn.id), &bytes[..written]);
            }
            if leftover {
                conn.pos += written;
            } else if written < self.write_buf.len() {
                conn.out = self.write_buf[written..].to_vec();
            }
            match result {
                Ok(0) => {
                    let e = io::Error::from(io::ErrorKind::WriteZero);
                    self.lose(token, &e);
                    return;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.want_writable(&self.poll, token, true);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lose(token, &e);
                    return;
                }
            }
        }
        conn.want_writable(&self.poll, token, false);
    }

    /// All output sent and the service closed the connection: half-close
    /// and drain until the peer closes or [`LINGER`] passes, so the last
    /// reply is not lost to a reset.
    fn finish(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let _ = conn.stream.shutdown(Shutdown::Write);
        if conn.read_closed {
            self.drop_conn(token);
            return;
        }
        conn.lingering = Some(0);
        conn.want_writable(&self.poll, token, false);
        self.lingering.push_back((Instant::now() + LINGER, token));
    }

    fn lose(&mut self, token: Token, e: &io::Error) {
        if let Some(conn) = self.conns.get(&token) {
            let id = conn.id;
            self.drop_conn(token);
            self.service.handle_lost(Instant::now(), id, &e.to_string());
        }
    }

    fn drop_conn(&mut self, token: Token) {
        if let Some(mut conn) = self.conns.remove(&token) {
            self.load.fetch_sub(1, Ordering::SeqCst);
            let _ = self.poll.registry().deregister(&mut conn.stream);
            if let Some(t) = &mut self.tracer {
                t.closed(Instant::now(), Some(conn.id));
            }
        }
    }
}
