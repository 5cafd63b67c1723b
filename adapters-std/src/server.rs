//! Thread-per-connection server driver.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use commlab_core::trace::Tracer;
use commlab_core::{ConnId, Dial, Flow, Readiness, Service};

use crate::sockets::{Held, Sockets};
use crate::{
    is_transient, DIAL_TIMEOUT, LINGER, LINGER_BYTES, MAX_CONNECTIONS, READER_WAKE, READ_CHUNK,
    SHUTDOWN_GRACE, THREAD_STACK, WRITE_CHUNK,
};

type EventSink<S, E> = Box<dyn FnMut(&mut S, E) + Send>;

struct Writer {
    wake: SyncSender<()>,
    stream: TcpStream,
}

struct State<S: Service> {
    service: S,
    on_event: EventSink<S, S::Event>,
    writers: HashMap<ConnId, Writer>,
    next_id: u64,
    tracer: Option<Tracer>,
    /// When the timer thread wakes, if it is asleep (`None`: awake, it
    /// reads the next deadline before it sleeps again).
    timer_asleep_until: Option<Instant>,
}

struct Shared<S: Service> {
    state: Mutex<State<S>>,
    changed: Condvar,
    stopping: AtomicBool,
    /// Outgoing connections the service asked for, to the dialer thread.
    dials: Mutex<Sender<Dial>>,
    /// Every socket held, lingering ones included, and the cap.
    sockets: Sockets,
}

impl<S: Service> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, State<S>> {
        // A panic in another thread poisons the lock; the state is still
        // consistent enough to shut down, so take it anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the service, then drains everything it produced.
    fn with<R>(&self, f: impl FnOnce(&mut S, Instant) -> R) -> R {
        let mut state = self.lock();
        let r = f(&mut state.service, Instant::now());
        self.pump(&mut state);
        r
    }

    /// Mutate once, then drain: events to the application, ready
    /// connections to their writer threads.
    fn pump(&self, state: &mut State<S>) {
        while let Some(event) = state.service.poll_event() {
            (state.on_event)(&mut state.service, event);
        }
        while let Some(dial) = state.service.poll_dial() {
            let _ = self
                .dials
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .send(dial);
        }
        while let Some((conn, ready)) = state.service.poll_ready() {
            match ready {
                Readiness::Send => {
                    if let Some(w) = state.writers.get(&conn) {
                        let _ = w.wake.try_send(());
                    }
                }
                Readiness::Abort => {
                    if let Some(w) = state.writers.remove(&conn) {
                        let _ = w.stream.shutdown(Shutdown::Both);
                    }
                }
            }
        }
        // Wake the timer thread only for a deadline earlier than the one it
        // sleeps until, and shutdown's waiters only while stopping: a
        // wake-up per event costs every connection a context switch.
        let earlier = match (state.service.poll_timeout(), state.timer_asleep_until) {
            (Some(at), Some(until)) => at < until,
            _ => false,
        };
        if earlier || self.stopping.load(Ordering::SeqCst) {
            self.changed.notify_all();
        }
    }
}

/// A running server; drop it or call [`shutdown`](Self::shutdown) to stop.
pub struct ServerHandle<S: Service> {
    shared: Arc<Shared<S>>,
    addrs: Vec<SocketAddr>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl<S: Service> std::fmt::Debug for ServerHandle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addrs", &self.addrs)
            .finish()
    }
}

/// Serves `service` on `listener`: one reader and one writer thread per
/// connection, one accept thread, one timer thread. Events go to
/// `on_event`, with the service so the application can answer them with
/// commands (it is called with the service locked: keep it short).
pub fn serve<S>(
    listener: TcpListener,
    service: S,
    on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
) -> io::Result<ServerHandle<S>>
where
    S: Service + Send + 'static,
{
    serve_traced(listener, service, on_event, None)
}

/// [`serve`], with every byte read and written shown to `tracer`
/// (`--trace`).
pub fn serve_traced<S>(
    listener: TcpListener,
    service: S,
    on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
    tracer: Option<Tracer>,
) -> io::Result<ServerHandle<S>>
where
    S: Service + Send + 'static,
{
    serve_on(vec![listener], service, on_event, tracer, MAX_CONNECTIONS)
}

/// [`serve_traced`] on every listener in `listeners` (the same port on
/// 127.0.0.1 and ::1, say), an accept thread each, holding at most
/// `max_connections` sockets at once: past it, a new connection is closed
/// as soon as it is accepted (lingering and timed-out connections count
/// until their threads end). No listener: an `InvalidInput` error.
pub fn serve_on<S>(
    listeners: Vec<TcpListener>,
    service: S,
    on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
    tracer: Option<Tracer>,
    max_connections: usize,
) -> io::Result<ServerHandle<S>>
where
    S: Service + Send + 'static,
{
    let addrs = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<io::Result<Vec<_>>>()?;
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no listener to serve on",
        ));
    }
    let (dial_tx, dial_rx) = channel();
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            service,
            on_event: Box::new(on_event),
            writers: HashMap::new(),
            next_id: 1,
            tracer,
            timer_asleep_until: None,
        }),
        changed: Condvar::new(),
        stopping: AtomicBool::new(false),
        dials: Mutex::new(dial_tx),
        sockets: Sockets::new(max_connections),
    });
    let mut threads = Vec::with_capacity(listeners.len() + 2);
    for listener in listeners {
        let shared = Arc::clone(&shared);
        threads.push(
            thread::Builder::new()
                .name("commlab-accept".into())
                .spawn(move || accept_loop(&shared, &listener))?,
        );
    }
    let timer = {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("commlab-timer".into())
            .spawn(move || timer_loop(&shared))?
    };
    let dialer = {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("commlab-dialer".into())
            .spawn(move || dialer_loop(&shared, &dial_rx))?
    };
    // What the service wants before any input (a dial at start).
    shared.with(|_, _| ());
    threads.extend([timer, dialer]);
    Ok(ServerHandle {
        shared,
        addrs,
        threads: Mutex::new(threads),
    })
}

impl<S: Service + Send + 'static> ServerHandle<S> {
    /// The address the server listens on (the first listener's).
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every address the server listens on, in the listeners' order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Runs `f` on the service (e.g. an operator's console line) and sends
    /// whatever it produced. Never fails (the signature matches the mio
    /// engine's, whose loop may have stopped).
    pub fn command<R>(&self, f: impl FnOnce(&mut S, Instant) -> R) -> io::Result<R> {
        Ok(self.shared.with(f))
    }

    /// Sockets the driver holds: connections from accept (or dial) until
    /// both their threads have ended, so closed ones still lingering count
    /// (at most [`LINGER`] after the service closed them).
    pub fn sockets(&self) -> usize {
        self.shared.sockets.held()
    }

    /// Connections the service still holds.
    pub fn connections(&self) -> usize {
        self.shared.lock().service.connections()
    }

    /// Stops accepting, lets the service say goodbye, waits up to
    /// [`SHUTDOWN_GRACE`] for the goodbyes to flush, then closes what is left.
    /// Later calls do nothing.
    pub fn shutdown(&self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        wake_acceptors(&self.addrs, Duration::from_secs(1));
        self.shared.with(|s, now| s.handle_shutdown(now));
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut state = self.shared.lock();
        // Done once every writer has flushed its goodbye and left (a writer
        // may hold the last bytes after the service has forgotten them).
        while state.service.connections() > 0 || !state.writers.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = match self.shared.changed.wait_timeout(state, deadline - now) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
        for (_, w) in state.writers.drain() {
            let _ = w.stream.shutdown(Shutdown::Both);
        }
        drop(state);
        self.shared.changed.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl<S: Service> Drop for ServerHandle<S> {
    fn drop(&mut self) {
        if !self.shared.stopping.swap(true, Ordering::SeqCst) {
            // Dropped without shutdown(): stop threads without goodbyes.
            let mut state = self.shared.lock();
            for (_, w) in state.writers.drain() {
                let _ = w.stream.shutdown(Shutdown::Both);
            }
            drop(state);
            self.shared.changed.notify_all();
            wake_acceptors(&self.addrs, Duration::from_millis(200));
        }
    }
}

/// Wakes every accept thread with a connection of its own (so it sees
/// that the server is stopping), waiting at most `wait` for each.
fn wake_acceptors(addrs: &[SocketAddr], wait: Duration) {
    for addr in addrs {
        let mut wake = *addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, wait);
    }
}

fn accept_loop<S: Service + Send + 'static>(shared: &Arc<Shared<S>>, listener: &TcpListener) {
    for incoming in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match incoming {
            Ok(stream) => {
                // At the cap the socket is dropped, so closed, at once.
                let Some(held) = shared.sockets.accept() else {
                    continue;
                };
                if let Err(e) = start_connection(shared, stream, None, held) {
                    eprintln!("commlab: could not start a connection: {e}");
                }
            }
            Err(e) if is_transient(&e) || e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => {
                // Out of file descriptors or memory: back off and keep going.
                eprintln!("commlab: accept failed: {e}; retrying");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Opens each outgoing connection the service asks for, on a thread of
/// its own (at most [`DIAL_TIMEOUT`] each), then runs it as an accepted one.
fn dialer_loop<S: Service + Send + 'static>(shared: &Arc<Shared<S>>, dials: &Receiver<Dial>) {
    while !shared.stopping.load(Ordering::SeqCst) {
        let dial = match dials.recv_timeout(Duration::from_millis(100)) {
            Ok(d) => d,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("commlab-dial-{}", dial.token))
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let opened =
                    TcpStream::connect_timeout(&dial.addr, DIAL_TIMEOUT).and_then(|stream| {
                        let held = shared.sockets.hold();
                        start_connection(&shared, stream, Some(dial.token), held)
                    });
                if let Err(e) = opened {
                    shared.with(|s, now| s.handle_dial_failed(now, dial.token, &e.to_string()));
                }
            });
        if let Err(e) = spawned {
            eprintln!("commlab: cannot start a dialing thread: {e}");
        }
    }
}

/// Runs `stream` as a connection: accepted, or opened for dial `dialed`;
/// its place in the count, `held`, is given back when both threads end.
fn start_connection<S: Service + Send + 'static>(
    shared: &Arc<Shared<S>>,
    stream: TcpStream,
    dialed: Option<u64>,
    held: Held,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(READER_WAKE);
    let peer = stream.peer_addr()?;
    let write_half = stream.try_clone()?;
    let abort_half = stream.try_clone()?;
    let (wake, woken) = sync_channel(1);
    let id = {
        let mut state = shared.lock();
        let id = ConnId(state.next_id);
        state.next_id += 1;
        if let Some(t) = &mut state.tracer {
            t.opened(Some(id));
        }
        state.writers.insert(
            id,
            Writer {
                wake,
                stream: abort_half,
            },
        );
        id
    };
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        thread::Builder::new()
            .name(format!("commlab-{name}-{}", id.0))
            .stack_size(THREAD_STACK)
            .spawn(f)
    };
    let w = Arc::clone(shared);
    let r = Arc::clone(shared);
    // The service must know the connection before its reader can feed it.
    shared.with(|s, now| match dialed {
        None => s.handle_connect(now, id, peer),
        Some(token) => s.handle_dialed(now, token, id, peer),
    });
    // The writer lingers after a close until the reader has ended (its
    // sender dropped) or LINGER has passed.
    let (reader_alive, reader_ended) = channel::<()>();
    let held = Arc::new(held);
    let held_by_reader = Arc::clone(&held);
    let started = spawn(
        "write",
        Box::new(move || {
            writer_loop(&w, id, write_half, &woken, &reader_ended);
            drop(held);
        }),
    )
    .and_then(|_| {
        spawn(
            "read",
            Box::new(move || {
                reader_loop(&r, id, stream);
                drop((reader_alive, held_by_reader));
            }),
        )
    });
    if let Err(e) = started {
        lose(shared, id, &e);
        return Err(e);
    }
    Ok(())
}

fn reader_loop<S: Service>(shared: &Shared<S>, id: ConnId, mut stream: TcpStream) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut drained = 0usize;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                shared.with(|s, now| s.handle_eof(now, id));
                return;
            }
            Ok(n) => {
                let open = {
                    let mut state = shared.lock();
                    let now = Instant::now();
                    if let Some(t) = &mut state.tracer {
                        t.received(now, Some(id), &buf[..n]);
                    }
                    state.service.handle_input(now, id, &buf[..n]);
                    shared.pump(&mut state);
                    state.service.is_open(id)
                };
                if !open {
                    // Closed by the service: drain a little so the goodbye is
                    // not lost to a reset, then let go.
                    drained += n;
                    if drained > LINGER_BYTES {
                        return;
                    }
                }
            }
            Err(e) if is_transient(&e) => {
                if !shared.lock().writers.contains_key(&id) {
                    return;
                }
            }
            Err(e) => {
                lose(shared, id, &e);
                return;
            }
        }
    }
}

fn lose<S: Service>(shared: &Shared<S>, id: ConnId, e: &io::Error) {
    let mut state = shared.lock();
    if let Some(w) = state.writers.remove(&id) {
        let _ = w.stream.shutdown(Shutdown::Both);
    }
    if let Some(t) = &mut state.tracer {
        t.closed(Instant::now(), Some(id));
    }
    state
        .service
        .handle_lost(Instant::now(), id, &e.to_string());
    shared.pump(&mut state);
}

/// Writes what the service has for `id` whenever woken. When the service
/// closes the connection: half-closes it, then waits for the reader to
/// see the peer's end, at most [`LINGER`], and shuts the socket down
/// whole, which wakes a reader still blocked on a silent peer: the
/// connection's threads and socket are freed within [`LINGER`] whatever
/// the peer does.
fn writer_loop<S: Service>(
    shared: &Shared<S>,
    id: ConnId,
    mut stream: TcpStream,
    woken: &Receiver<()>,
    reader_ended: &Receiver<()>,
) {
    let mut out = Vec::with_capacity(WRITE_CHUNK);
    while woken.recv().is_ok() {
        loop {
            out.clear();
            let flow = {
                let mut state = shared.lock();
                let flow = state.service.poll_transmit(id, &mut out, WRITE_CHUNK);
                if let Some(t) = &mut state.tracer {
                    t.sent(Instant::now(), Some(id), &out);
                }
                // Taking output may make room for more (the next chunk of a
                // file): let the application answer at once.
                shared.pump(&mut state);
                flow
            };
            if let Err(e) = stream.write_all(&out) {
                lose(shared, id, &e);
                return;
            }
            if flow == Flow::Close {
                // Half-close: the peer reads everything sent, then EOF. The
                // reader drains until the peer closes or LINGER passes.
                let _ = stream.shutdown(Shutdown::Write);
                {
                    let mut state = shared.lock();
                    state.writers.remove(&id);
                    if let Some(t) = &mut state.tracer {
                        t.closed(Instant::now(), Some(id));
                    }
                    shared.pump(&mut state);
                }
                let _ = reader_ended.recv_timeout(LINGER);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            if out.is_empty() {
                break;
            }
        }
    }
}

fn timer_loop<S: Service>(shared: &Shared<S>) {
    let mut state = shared.lock();
    while !shared.stopping.load(Ordering::SeqCst) {
        let now = Instant::now();
        let wait = match state.service.poll_timeout() {
            Some(at) if at <= now => {
                state.service.handle_timeout(now);
                shared.pump(&mut state);
                continue;
            }
            Some(at) => at - now,
            None => Duration::from_secs(3600),
        };
        state.timer_asleep_until = Some(now + wait);
        state = match shared.changed.wait_timeout(state, wait) {
            Ok((s, _)) => s,
            Err(p) => p.into_inner().0,
        };
        state.timer_asleep_until = None;
    }
}
