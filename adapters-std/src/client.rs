//! Client drivers: a threaded [`Connection`] and a step-by-step [`BlockingSession`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use commlab_core::trace::Tracer;
use commlab_core::Session;

use crate::{is_transient, CLIENT_READ_CHUNK};

/// A client session on a socket, shared between one thread that reads
/// ([`run`](Self::run)) and any thread that issues commands
/// ([`command`](Self::command)). Cloning gives another handle to the same
/// connection.
pub struct Connection<S> {
    session: Arc<Mutex<S>>,
    writer: Arc<Mutex<TcpStream>>,
    reader: Arc<TcpStream>,
    tracer: Arc<Mutex<Option<Tracer>>>,
}

impl<S> Clone for Connection<S> {
    fn clone(&self) -> Self {
        Self {
            session: Arc::clone(&self.session),
            writer: Arc::clone(&self.writer),
            reader: Arc::clone(&self.reader),
            tracer: Arc::clone(&self.tracer),
        }
    }
}

/// Shows `bytes` to the tracer, if there is one.
fn trace(tracer: &Mutex<Option<Tracer>>, f: impl FnOnce(&mut Tracer)) {
    if let Some(t) = tracer.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        f(t);
    }
}

impl<S: Session> Connection<S> {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream, session: S) -> io::Result<Self> {
        let _ = stream.set_nodelay(true);
        let reader = stream.try_clone()?;
        Ok(Self {
            session: Arc::new(Mutex::new(session)),
            writer: Arc::new(Mutex::new(stream)),
            reader: Arc::new(reader),
            tracer: Arc::new(Mutex::new(None)),
        })
    }

    /// Shows every byte read and written to `tracer` (`--trace`).
    pub fn trace(&self, mut tracer: Tracer) {
        tracer.opened(None);
        *self.tracer.lock().unwrap_or_else(|p| p.into_inner()) = Some(tracer);
    }

    fn session(&self) -> MutexGuard<'_, S> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the session (e.g. send a line), then writes what it produced.
    pub fn command<R>(&self, f: impl FnOnce(&mut S) -> R) -> io::Result<R> {
        let r = f(&mut self.session());
        self.flush()?;
        Ok(r)
    }

    /// Writes the session's pending output, and half-closes when it asks to.
    pub fn flush(&self) -> io::Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let shut = {
            let mut session = self.session();
            session.poll_transmit(&mut out);
            session.wants_write_shutdown()
        };
        trace(&self.tracer, |t| t.sent(Instant::now(), None, &out));
        writer.write_all(&out)?;
        if shut {
            let _ = writer.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    /// Reads until the session is closed, handing each event to `on_event`.
    /// Call it from the thread that owns the reading side.
    pub fn run(&self, mut on_event: impl FnMut(S::Event)) -> io::Result<()> {
        let mut buf = vec![0u8; CLIENT_READ_CHUNK];
        let mut stream: &TcpStream = &self.reader;
        loop {
            loop {
                let event = self.session().poll_event();
                match event {
                    Some(e) => on_event(e),
                    None => break,
                }
            }
            if self.session().is_closed() {
                trace(&self.tracer, |t| t.closed(Instant::now(), None));
                return Ok(());
            }
            self.flush()?;
            let wait = self.session().poll_timeout().map(|at| {
                at.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            });
            stream.set_read_timeout(wait)?;
            match stream.read(&mut buf) {
                Ok(0) => self.session().handle_eof(Instant::now()),
                Ok(n) => {
                    trace(&self.tracer, |t| {
                        t.received(Instant::now(), None, &buf[..n])
                    });
                    self.session().handle_input(Instant::now(), &buf[..n]);
                }
                Err(e) if is_transient(&e) => self.session().handle_timeout(Instant::now()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes both directions at once (unblocks [`run`](Self::run)).
    pub fn abort(&self) {
        let _ = self.reader.shutdown(Shutdown::Both);
    }
}

/// A client session driven on the caller's thread, one step at a time:
/// commands write at once, [`next_event`](Self::next_event) reads until an
/// event comes or the time runs out. For scripts, tests and load tools.
pub struct BlockingSession<S> {
    session: S,
    stream: TcpStream,
    buf: Vec<u8>,
    out: Vec<u8>,
    eof: bool,
    tracer: Option<Tracer>,
}

impl<S: Session> BlockingSession<S> {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream, session: S) -> Self {
        let _ = stream.set_nodelay(true);
        Self {
            session,
            stream,
            buf: vec![0u8; CLIENT_READ_CHUNK],
            out: Vec::new(),
            eof: false,
            tracer: None,
        }
    }

    /// Shows every byte read and written to `tracer` (`--trace`).
    pub fn trace(&mut self, mut tracer: Tracer) {
        tracer.opened(None);
        self.tracer = Some(tracer);
    }

    /// Runs `f` on the session, then writes what it produced.
    pub fn command<R>(&mut self, f: impl FnOnce(&mut S) -> R) -> io::Result<R> {
        let r = f(&mut self.session);
        self.flush()?;
        Ok(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.clear();
        self.session.poll_transmit(&mut self.out);
        if let Some(t) = &mut self.tracer {
            t.sent(Instant::now(), None, &self.out);
        }
        self.stream.write_all(&self.out)?;
        if self.session.wants_write_shutdown() {
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` when the time
    /// ran out or the session is closed with no event left.
    pub fn next_event(&mut self, timeout: Duration) -> io::Result<Option<S::Event>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.session.poll_event() {
                return Ok(Some(e));
            }
            self.flush()?;
            if self.session.is_closed() || self.eof {
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let until = self
                .session
                .poll_timeout()
                .map_or(deadline, |t| t.min(deadline));
            let wait = until
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait))?;
            match self.stream.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    if let Some(t) = &mut self.tracer {
                        t.closed(Instant::now(), None);
                    }
                    self.session.handle_eof(Instant::now());
                }
                Ok(n) => {
                    if let Some(t) = &mut self.tracer {
                        t.received(Instant::now(), None, &self.buf[..n]);
                    }
                    self.session.handle_input(Instant::now(), &self.buf[..n]);
                }
                Err(e) if is_transient(&e) => self.session.handle_timeout(Instant::now()),
                Err(e) => return Err(e),
            }
        }
    }

    /// The session.
    pub fn session(&mut self) -> &mut S {
        &mut self.session
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

impl<S> Drop for BlockingSession<S> {
    fn drop(&mut self) {
        // What a trace still holds (a line without its newline) is shown.
        if let Some(t) = &mut self.tracer {
            t.closed(Instant::now(), None);
        }
    }
}
