//! Many client sessions from one mio loop (for load tools): connect them
//! all, then turn the loop; the caller reacts to each session's events and
//! queues the next request. The whole [`Session`] contract is honoured:
//! deadlines (`poll_timeout`/`handle_timeout`), a write half-close when a
//! session asks for it, and a session that says it is closed is closed.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use commlab_core::{ConnId, DeadlineQueue, Session};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::READ_CHUNK;

struct Conn<S> {
    stream: TcpStream,
    session: S,
    out: Vec<u8>,
    pos: usize,
    writable: bool,
    shut_write: bool,
    done: bool,
}

/// Client sessions, each on its own connection, driven from one `mio::Poll`.
pub struct ClientDriver<S> {
    poll: Poll,
    events: Events,
    conns: Vec<Conn<S>>,
    buf: Vec<u8>,
    timers: DeadlineQueue,
}

impl<S> std::fmt::Debug for ClientDriver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDriver")
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl<S: Session> ClientDriver<S> {
    /// Opens one connection to `addr` per session (non-blocking: they
    /// complete as the loop turns). Output already queued in a session is
    /// sent once its connection is up.
    pub fn connect(addr: SocketAddr, sessions: Vec<S>) -> io::Result<Self> {
        Self::connect_spread(&[addr], sessions)
    }

    /// [`connect`](Self::connect), session `i` to `addrs[i % addrs.len()]`
    /// (clients spread over several servers). No address: an
    /// `InvalidInput` error.
    pub fn connect_spread(addrs: &[SocketAddr], sessions: Vec<S>) -> io::Result<Self> {
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no server address to connect to",
            ));
        }
        let poll = Poll::new()?;
        let mut conns = Vec::with_capacity(sessions.len());
        for (i, session) in sessions.into_iter().enumerate() {
            let mut stream = TcpStream::connect(addrs[i % addrs.len()])?;
            let _ = stream.set_nodelay(true);
            poll.registry().register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            conns.push(Conn {
                stream,
                session,
                out: Vec::new(),
                pos: 0,
                writable: true,
                shut_write: false,
                done: false,
            });
        }
        Ok(Self {
            poll,
            events: Events::with_capacity(1024),
            conns,
            buf: vec![0u8; READ_CHUNK],
            timers: DeadlineQueue::new(),
        })
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Sessions whose connection is still open.
    pub fn open(&self) -> usize {
        self.conns.iter().filter(|c| !c.done).count()
    }

    /// Session `i`.
    pub fn session_mut(&mut self, i: usize) -> &mut S {
        &mut self.conns[i].session
    }

    /// Every session, with its index.
    pub fn sessions_mut(&mut self) -> impl Iterator<Item = (usize, &mut S)> {
        self.conns
            .iter_mut()
            .enumerate()
            .map(|(i, c)| (i, &mut c.session))
    }

    /// Writes what session `i` has queued (as much as the socket takes now).
    pub fn flush(&mut self, i: usize) {
        if let Some(c) = self.conns.get_mut(i) {
            c.flush(self.poll.registry(), Token(i), Instant::now());
            c.settle(self.poll.registry(), &mut self.timers, i);
        }
    }

    /// Writes every session's queued output.
    pub fn flush_all(&mut self) {
        for i in 0..self.conns.len() {
            self.flush(i);
        }
    }

    /// One turn of the loop: waits up to `timeout` for sockets, reads and
    /// writes, and hands every session event to `on_event` (which may queue
    /// more requests: they are sent at once).
    pub fn turn(
        &mut self,
        timeout: Duration,
        mut on_event: impl FnMut(usize, &mut S, S::Event),
    ) -> io::Result<()> {
        self.turn_ready(timeout, |i, session| {
            while let Some(event) = session.poll_event() {
                on_event(i, session, event);
            }
        })
    }

    /// One turn of the loop, handing each session that had socket activity
    /// to `on_ready` after its input was read; `on_ready` takes the events
    /// out itself (borrowed, if the session can lend them) and may queue
    /// more requests, sent at once. Nothing is allocated per turn.
    pub fn turn_ready(
        &mut self,
        timeout: Duration,
        mut on_ready: impl FnMut(usize, &mut S),
    ) -> io::Result<()> {
        // Wake no later than the earliest session deadline.
        let now = Instant::now();
        let wait = self
            .timers
            .next()
            .map_or(timeout, |at| timeout.min(at.saturating_duration_since(now)));
        if let Err(e) = self.poll.poll(&mut self.events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        for event in self.events.iter() {
            let i = event.token().0;
            let Some(c) = self.conns.get_mut(i) else {
                continue;
            };
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            if readable {
                c.read(&mut self.buf, now);
            }
            on_ready(i, &mut c.session);
            if readable || event.is_writable() {
                c.flush(self.poll.registry(), Token(i), now);
            }
            c.settle(self.poll.registry(), &mut self.timers, i);
        }
        while let Some(ConnId(id)) = self.timers.pop_due(now) {
            let Some(c) = usize::try_from(id)
                .ok()
                .and_then(|i| self.conns.get_mut(i).map(|c| (i, c)))
            else {
                continue;
            };
            let (i, c) = c;
            if c.done {
                continue;
            }
            c.session.handle_timeout(now);
            on_ready(i, &mut c.session);
            c.flush(self.poll.registry(), Token(i), now);
            c.settle(self.poll.registry(), &mut self.timers, i);
        }
        Ok(())
    }
}

impl<S: Session> Conn<S> {
    /// After the session was fed or polled: its next deadline, the
    /// half-close it asks for once its output is out, the close it reports.
    fn settle(&mut self, registry: &Registry, timers: &mut DeadlineQueue, i: usize) {
        let id = ConnId(i as u64);
        if !self.done && self.session.is_closed() && self.pos == self.out.len() {
            self.done = true;
            let _ = registry.deregister(&mut self.stream);
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
        if self.done {
            timers.cancel(id);
            return;
        }
        match self.session.poll_timeout() {
            Some(at) => timers.schedule(id, at),
            None => timers.cancel(id),
        }
        if !self.shut_write && self.pos == self.out.len() && self.session.wants_write_shutdown() {
            self.shut_write = true;
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
        }
    }

    /// Reads until the socket has nothing more, feeding the session.
    fn read(&mut self, buf: &mut [u8], now: Instant) {
        if self.done {
            return;
        }
        loop {
            match self.stream.read(buf) {
                Ok(0) => {
                    self.done = true;
                    self.session.handle_eof(now);
                    return;
                }
                Ok(n) => self.session.handle_input(now, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.done = true;
                    self.session.handle_eof(now);
                    return;
                }
            }
        }
    }

    /// Writes what the session has queued, as much as the socket takes now;
    /// asks for writability only while output is left.
    fn flush(&mut self, registry: &Registry, token: Token, now: Instant) {
        if self.done {
            return;
        }
        loop {
            if self.pos == self.out.len() {
                self.out.clear();
                self.pos = 0;
                self.session.poll_transmit(&mut self.out);
                if self.out.is_empty() {
                    break;
                }
            }
            match self.stream.write(&self.out[self.pos..]) {
                Ok(0) => {
                    self.done = true;
                    return;
                }
                Ok(n) => self.pos += n,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::NotConnected =>
                {
                    if !self.writable {
                        self.writable = true;
                        let _ = registry.reregister(
                            &mut self.stream,
                            token,
                            Interest::READABLE | Interest::WRITABLE,
                        );
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.done = true;
                    self.session.handle_eof(now);
                    return;
                }
            }
        }
        if self.writable {
            self.writable = false;
            let _ = registry.reregister(&mut self.stream, token, Interest::READABLE);
        }
    }
}
