//! Many client sessions from one mio loop (for load tools): connect them
//! all, then turn the loop; the caller reacts to each session's events and
//! queues the next request.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use commlab_core::Session;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::READ_CHUNK;

struct Conn<S> {
    stream: TcpStream,
    session: S,
    out: Vec<u8>,
    pos: usize,
    writable: bool,
    done: bool,
}

/// Client sessions, each on its own connection, driven from one `mio::Poll`.
pub struct ClientDriver<S> {
    poll: Poll,
    events: Events,
    conns: Vec<Conn<S>>,
    buf: Vec<u8>,
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
        let poll = Poll::new()?;
        let mut conns = Vec::with_capacity(sessions.len());
        for (i, session) in sessions.into_iter().enumerate() {
            let mut stream = TcpStream::connect(addr)?;
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
                done: false,
            });
        }
        Ok(Self {
            poll,
            events: Events::with_capacity(1024),
            conns,
            buf: vec![0u8; READ_CHUNK],
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
        let Some(c) = self.conns.get_mut(i) else {
            return;
        };
        if c.done {
            return;
        }
        loop {
            if c.pos == c.out.len() {
                c.out.clear();
                c.pos = 0;
                c.session.poll_transmit(&mut c.out);
                if c.out.is_empty() {
                    break;
                }
            }
            match c.stream.write(&c.out[c.pos..]) {
                Ok(0) => {
                    c.done = true;
                    return;
                }
                Ok(n) => c.pos += n,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::NotConnected =>
                {
                    if !c.writable {
                        c.writable = true;
                        let _ = self.poll.registry().reregister(
                            &mut c.stream,
                            Token(i),
                            Interest::READABLE | Interest::WRITABLE,
                        );
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.done = true;
                    c.session.handle_eof(Instant::now());
                    return;
                }
            }
        }
        if c.writable {
            c.writable = false;
            let _ = self
                .poll
                .registry()
                .reregister(&mut c.stream, Token(i), Interest::READABLE);
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
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let ready: Vec<(usize, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                (
                    e.token().0,
                    e.is_readable() || e.is_read_closed() || e.is_error(),
                    e.is_writable(),
                )
            })
            .collect();
        for (i, readable, writable) in ready {
            if readable {
                self.read(i);
            }
            let Some(c) = self.conns.get_mut(i) else {
                continue;
            };
            while let Some(event) = c.session.poll_event() {
                on_event(i, &mut c.session, event);
            }
            if writable || readable {
                self.flush(i);
            }
        }
        Ok(())
    }

    fn read(&mut self, i: usize) {
        let Some(c) = self.conns.get_mut(i) else {
            return;
        };
        if c.done {
            return;
        }
        loop {
            match c.stream.read(&mut self.buf) {
                Ok(0) => {
                    c.done = true;
                    c.session.handle_eof(Instant::now());
                    return;
                }
                Ok(n) => c.session.handle_input(Instant::now(), &self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.done = true;
                    c.session.handle_eof(Instant::now());
                    return;
                }
            }
        }
    }
}
