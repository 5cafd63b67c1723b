//! Thread-per-connection server driver.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use commlab_core::trace::Tracer;
use commlab_core::{AnyApp, App, ConnId, Dial, Job, Lane, Readiness, Service, Spawn};

use crate::sockets::{Held, Sockets};
use crate::Workers;

mod conn_io;
use conn_io::{lose, reader_loop, writer_loop};
/// How often a reader held by flow control looks again without being
/// woken (a safety net: every change wakes it).
const INPUT_RECHECK: Duration = Duration::from_secs(1);

use crate::{
    is_transient, DIAL_TIMEOUT, MAX_CONNECTIONS, READER_WAKE, SHUTDOWN_GRACE, THREAD_STACK,
};

struct Writer {
    wake: SyncSender<()>,
    stream: TcpStream,
}

struct State<S: Service> {
    service: S,
    app: Box<dyn AnyApp<S>>,
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
    /// Where the application's blocking jobs run.
    workers: Arc<Workers>,
    /// Reader threads waiting for their service to want input again
    /// ([`Service::wants_input`]): while any wait, every change wakes them.
    paused: std::sync::atomic::AtomicUsize,
    /// This, for the jobs to come back to.
    me: Weak<Self>,
}

/// Runs the application's jobs on the workers; each result comes back
/// under the lock, to `App::on_done`.
struct StdSpawn<S: Service> {
    shared: Weak<Shared<S>>,
    workers: Arc<Workers>,
}

impl<S: Service + Send + 'static> Spawn for StdSpawn<S> {
    fn spawn(&mut self, lane: Lane, job: Job) {
        let shared = Weak::clone(&self.shared);
        self.workers.submit(lane, move || {
            let done = job();
            if let Some(shared) = shared.upgrade() {
                let mut state = shared.lock();
                let st = &mut *state;
                st.app.done(&mut st.service, done, &mut shared.spawner());
                shared.pump(&mut state);
            }
        });
    }
}

impl<S: Service> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, State<S>> {
        // A panic in another thread poisons the lock; the state is still
        // consistent enough to shut down, so take it anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<S: Service + Send + 'static> Shared<S> {
    /// Holds `id`'s reader while its service wants no input (flow
    /// control), until it does again, the connection closes or the server
    /// stops.
    fn wait_for_input<'a>(
        &'a self,
        mut state: MutexGuard<'a, State<S>>,
        id: ConnId,
    ) -> MutexGuard<'a, State<S>> {
        self.paused.fetch_add(1, Ordering::SeqCst);
        while state.service.is_open(id)
            && !state.service.wants_input(id)
            && state.writers.contains_key(&id)
            && !self.stopping.load(Ordering::SeqCst)
        {
            state = match self.changed.wait_timeout(state, INPUT_RECHECK) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
        self.paused.fetch_sub(1, Ordering::SeqCst);
        state
    }

    fn spawner(&self) -> StdSpawn<S> {
        StdSpawn {
            shared: Weak::clone(&self.me),
            workers: Arc::clone(&self.workers),
        }
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
            state
                .app
                .event(&mut state.service, event, &mut self.spawner());
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
        if earlier || self.stopping.load(Ordering::SeqCst) || self.paused.load(Ordering::SeqCst) > 0
        {
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

/// [`serve_on`] one listener, untraced, with the default connection cap,
/// events going to a closure (for tests and small programs).
pub fn serve<S>(
    listener: TcpListener,
    service: S,
    on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
) -> io::Result<ServerHandle<S>>
where
    S: Service + Send + 'static,
{
    serve_on(vec![listener], service, on_event, None, MAX_CONNECTIONS)
}

/// Serves `service` on every listener in `listeners` (the same port on
/// 127.0.0.1 and ::1, say): one reader and one writer thread per connection,
/// one accept thread, one timer thread. Events go to `app` (an [`App`], or
/// any `FnMut(&mut S, S::Event)`), with the service so the application can
/// answer them with commands. It is called with the service locked, so it
/// hands anything that blocks (a hash, a file) to its jobs: they run on
/// [`Workers`] with no lock held, and their results come back to
/// `App::on_done` under the lock. Every byte read and written is shown to
/// `tracer` (`--trace`); at most `max_connections` sockets are held at once:
/// past it, a new connection is closed as soon as it is accepted (lingering
/// connections count until they are dropped). No listener: an `InvalidInput`
/// error.
pub fn serve_on<S>(
    listeners: Vec<TcpListener>,
    service: S,
    app: impl App<S> + 'static,
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
    let shared = Arc::new_cyclic(|me| Shared {
        state: Mutex::new(State {
            service,
            app: Box::new(app),
            writers: HashMap::new(),
            next_id: 1,
            tracer,
            timer_asleep_until: None,
        }),
        changed: Condvar::new(),
        stopping: AtomicBool::new(false),
        dials: Mutex::new(dial_tx),
        sockets: Sockets::new(max_connections),
        workers: Arc::new(Workers::default()),
        paused: std::sync::atomic::AtomicUsize::new(0),
        me: Weak::clone(me),
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

    /// [`command`](Self::command) without a result, as the mio engine's
    /// `post` (which does not wait for its loop): here it runs at once,
    /// under the service's lock. Never fails.
    pub fn post(&self, f: impl FnOnce(&mut S, Instant)) -> io::Result<()> {
        self.shared.with(f);
        Ok(())
    }

    /// Sockets the driver holds: connections from accept (or dial) until
    /// both their threads have ended, so closed ones still lingering count
    /// (at most [`LINGER`](crate::LINGER) after the service closed them).
    pub fn sockets(&self) -> usize {
        self.shared.sockets.held()
    }

    /// Connections the service still holds.
    pub fn connections(&self) -> usize {
        self.shared.lock().service.connections()
    }

    /// Stops accepting, lets the service say goodbye, waits up to
    /// [`SHUTDOWN_GRACE`] for the goodbyes to flush, then closes what is left,
    /// and waits for the clean-up jobs that left ([`Workers::finish`]).
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
        // What the goodbyes left to clean up (an upload cut short) is done
        // before this returns.
        self.shared.workers.finish();
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

fn timer_loop<S: Service + Send + 'static>(shared: &Shared<S>) {
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
