//! Starting a server's event loops: the listeners, each loop's poll,
//! inbox and waker, its service and application, and its thread.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{mpsc, Arc};
use std::thread;

use commlab_core::trace::Tracer;
use commlab_core::{App, IdMap, Service};
use commlab_std::Workers;
use mio::net::TcpListener;
use mio::{Interest, Poll, Waker};

use super::accept::listener_token;
use super::handle::{LoopHandle, Peer};
use super::{EventLoop, MioSpawn, ServerHandle, WAKER};
use crate::{Accept, MAX_CONNECTIONS, MAX_LOOPS, READ_CHUNK, WRITE_CHUNK};

/// [`serve_on`] one listener, untraced, with the default connection cap,
/// events going to a closure (for tests and small programs).
pub fn serve<S>(
    listener: std::net::TcpListener,
    service: S,
    on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
) -> io::Result<ServerHandle<S>>
where
    S: Service + Send + 'static,
{
    serve_on(vec![listener], service, on_event, None, MAX_CONNECTIONS)
}

/// Serves `service` on every listener in `listeners` (the same port on
/// 127.0.0.1 and ::1, say) from one new thread running a mio loop. Events go
/// to `app` (an [`App`], or any `FnMut(&mut S, S::Event)`), with the service
/// so the application can answer them with commands, on the loop's thread:
/// anything that blocks (a hash, a file) goes to its jobs, which run on
/// [`Workers`] and come back to `App::on_done` on the loop. Every byte read
/// and written is shown to `tracer` (`--trace`); at most `max_connections`
/// sockets are held at once: past it, a new connection is closed as soon as
/// it is accepted (lingering connections count until they are dropped). No
/// listener: an `InvalidInput` error.
pub fn serve_on<S>(
    listeners: Vec<std::net::TcpListener>,
    service: S,
    app: impl App<S> + 'static,
    tracer: Option<Tracer>,
    max_connections: usize,
) -> io::Result<ServerHandle<S>>
where
    S: Service + Send + 'static,
{
    serve_loops(
        listeners,
        1,
        one_loop(service, app),
        tracer,
        max_connections,
    )
}

/// The `make` of [`serve_loops`] for one loop: gives `service` and `app`
/// once, and an error if asked again.
pub fn one_loop<S, A>(service: S, app: A) -> impl FnMut(u16) -> io::Result<(S, A)> {
    let mut first = Some((service, app));
    move |_| {
        first
            .take()
            .ok_or_else(|| io::Error::other("one event loop only"))
    }
}

/// [`serve_on`] with `threads` event loops (at least one, at most
/// [`MAX_LOOPS`]), each on its own thread with its own service and
/// application from `make(loop_index)`, owning the connections it is
/// handed: the first loop accepts and hands each new connection to the
/// loop holding the fewest (itself included), so long-lived connections
/// cannot pile up on one loop. Connection ids carry their loop
/// ([`ConnId::on_loop`](commlab_core::ConnId::on_loop)). `tracer` sees the first loop's connections only
/// (run one loop to trace). `max_connections` caps the sockets of all
/// loops together. The blocking jobs of every loop share one [`Workers`].
/// An error from `make` is returned as is.
pub fn serve_loops<S, A>(
    listeners: Vec<std::net::TcpListener>,
    threads: usize,
    make: impl FnMut(u16) -> io::Result<(S, A)>,
    tracer: Option<Tracer>,
    max_connections: usize,
) -> io::Result<ServerHandle<S>>
where
    S: Service + Send + 'static,
    A: App<S> + 'static,
{
    serve_loops_with(
        listeners,
        threads,
        Accept::Handoff,
        make,
        tracer,
        max_connections,
    )
}

/// [`serve_loops`], taking connections as `accept` says: with
/// [`Accept::ReusePort`] every loop past the first opens listeners of its
/// own on the same addresses (`SO_REUSEPORT`) and accepts for itself;
/// where that fails (a system without it, listeners bound without it),
/// the server says so on stderr and hands connections out as with
/// [`Accept::Handoff`].
pub fn serve_loops_with<S, A>(
    listeners: Vec<std::net::TcpListener>,
    threads: usize,
    accept: Accept,
    mut make: impl FnMut(u16) -> io::Result<(S, A)>,
    mut tracer: Option<Tracer>,
    max_connections: usize,
) -> io::Result<ServerHandle<S>>
where
    S: Service + Send + 'static,
    A: App<S> + 'static,
{
    let threads = u16::try_from(threads.clamp(1, MAX_LOOPS)).unwrap_or(1);
    let mut addrs = Vec::with_capacity(listeners.len());
    let mut registered = Vec::with_capacity(listeners.len());
    let first_poll = Poll::new()?;
    for (i, listener) in listeners.into_iter().enumerate() {
        listener.set_nonblocking(true)?;
        addrs.push(listener.local_addr()?);
        let mut listener = TcpListener::from_std(listener);
        first_poll
            .registry()
            .register(&mut listener, listener_token(i)?, Interest::READABLE)?;
        registered.push(listener);
    }
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no listener to serve on",
        ));
    }
    let mut polls = vec![first_poll];
    let mut peers = Vec::with_capacity(usize::from(threads));
    let mut inboxes = Vec::with_capacity(usize::from(threads));
    for i in 0..usize::from(threads) {
        if i > 0 {
            polls.push(Poll::new()?);
        }
        let waker = Arc::new(Waker::new(polls[i].registry(), WAKER)?);
        let (tx, rx) = mpsc::channel();
        peers.push(Peer {
            tx,
            waker,
            load: Arc::new(AtomicUsize::new(0)),
        });
        inboxes.push(rx);
    }
    let peers: Arc<[Peer<S>]> = peers.into();
    let workers = Arc::new(Workers::default());
    let mut loops = Vec::with_capacity(usize::from(threads));
    // With SO_REUSEPORT each later loop gets listeners of its own.
    let mut own = Vec::with_capacity(usize::from(threads));
    if accept == Accept::ReusePort && threads > 1 {
        match reuse_port_listeners(&addrs, &polls[1..]) {
            Ok(each) => own = each,
            Err(e) => eprintln!(
                "commlab: a listener per loop (SO_REUSEPORT) is not available here: {e}; the first loop hands connections out"
            ),
        }
    }
    let handoff = own.is_empty();
    let mut own = own.into_iter();
    let mut listeners = Some(registered);
    for ((index, poll), rx) in (0..threads).zip(polls).zip(inboxes) {
        let (service, app) = make(index)?;
        let me = &peers[usize::from(index)];
        let connections = Arc::new(AtomicUsize::new(0));
        let sockets = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicU64::new(0));
        let mut event_loop = EventLoop {
            poll,
            index,
            listeners: match listeners.take() {
                Some(first) => first,
                None => own.next().unwrap_or_default(),
            },
            handoff,
            served: Arc::clone(&served),
            peers: Arc::clone(&peers),
            load: Arc::clone(&me.load),
            next_pick: 0,
            service,
            app: Box::new(app),
            spawn: MioSpawn {
                workers: Arc::clone(&workers),
                tx: me.tx.clone(),
                waker: Arc::clone(&me.waker),
                peers: Arc::clone(&peers),
                index: usize::from(index),
            },
            conns: IdMap::default(),
            next_id: 1,
            scratch: vec![0u8; READ_CHUNK],
            write_buf: Vec::with_capacity(WRITE_CHUNK),
            accept_backoff: None,
            more_to_read: VecDeque::new(),
            paused: Vec::new(),
            lingering: VecDeque::new(),
            dialing: VecDeque::new(),
            stopping: None,
            rx,
            connections: Arc::clone(&connections),
            sockets: Arc::clone(&sockets),
            max_connections,
            last_refusal_log: None,
            tracer: tracer.take(),
        };
        let thread = thread::Builder::new()
            .name(format!("commlab-mio-{index}"))
            .spawn(move || event_loop.run())?;
        loops.push(LoopHandle {
            peer: Peer {
                tx: me.tx.clone(),
                waker: Arc::clone(&me.waker),
                load: Arc::clone(&me.load),
            },
            thread: std::sync::Mutex::new(Some(thread)),
            connections,
            sockets,
            served,
        });
    }
    Ok(ServerHandle {
        addrs,
        loops,
        workers,
        accept: if handoff {
            Accept::Handoff
        } else {
            Accept::ReusePort
        },
    })
}

/// Listeners of their own for each of `polls` (the loops past the first),
/// on every address in `addrs`, with `SO_REUSEPORT`: registered readable.
fn reuse_port_listeners(addrs: &[SocketAddr], polls: &[Poll]) -> io::Result<Vec<Vec<TcpListener>>> {
    polls
        .iter()
        .map(|poll| {
            addrs
                .iter()
                .enumerate()
                .map(|(i, addr)| {
                    let mut listener = TcpListener::from_std(reuse_port_listener(*addr)?);
                    poll.registry().register(
                        &mut listener,
                        listener_token(i)?,
                        Interest::READABLE,
                    )?;
                    Ok(listener)
                })
                .collect()
        })
        .collect()
}

/// One more listener on `addr`, which must be bound with `SO_REUSEPORT`
/// already: the kernel spreads new connections across them.
#[cfg(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
))]
fn reuse_port_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Systems without `SO_REUSEPORT` (Windows): the hand-off it is.
#[cfg(not(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
)))]
fn reuse_port_listener(_addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this system has no SO_REUSEPORT",
    ))
}

/// Pending connections each extra listener queues.
#[cfg(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
))]
const LISTEN_BACKLOG: i32 = 4096;
