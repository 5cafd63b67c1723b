//! The two engines behind one type: `--engine std|mio`.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use commlab_core::tls::TlsEvent;
use commlab_core::trace::Tracer;
use commlab_core::{App, Jobs, Service};

use crate::tls::{Layered, ServerTls};
use crate::Listeners;

/// Which driver runs a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Blocking std::net, a thread per connection.
    Std,
    /// mio event loops, each holding many connections: one per core by
    /// default (`--threads`).
    Mio,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Std => "std",
            Self::Mio => "mio",
        })
    }
}

/// A running server on either engine, in clear or behind TLS.
#[derive(Debug)]
pub enum Server<S: Service> {
    /// Thread per connection.
    Std(commlab_std::ServerHandle<Layered<S>>),
    /// One event loop.
    Mio(commlab_mio::ServerHandle<Layered<S>>),
}

impl<S: Service + Send + 'static> Server<S>
where
    S::Event: Send,
{
    /// Starts `service` on `listeners` (one socket, or [`Listeners`]) with
    /// `engine`; events go to `on_event`.
    pub fn start(
        engine: Engine,
        listeners: impl Into<Listeners>,
        service: S,
        mut on_event: impl FnMut(S::Event) + Send + 'static,
    ) -> io::Result<Self> {
        Self::start_with(engine, listeners, service, move |_, e| on_event(e))
    }

    /// Starts `service`; `on_event` gets each event with the service, to
    /// answer it with commands (e.g. hand it the next chunk of a file).
    pub fn start_with(
        engine: Engine,
        listeners: impl Into<Listeners>,
        service: S,
        on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
    ) -> io::Result<Self> {
        Self::start_traced(engine, listeners, service, on_event, None)
    }

    /// [`start_with`](Self::start_with), every byte read and written shown
    /// to `tracer` (`--trace`).
    pub fn start_traced(
        engine: Engine,
        listeners: impl Into<Listeners>,
        service: S,
        on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
        tracer: Option<Tracer>,
    ) -> io::Result<Self> {
        Self::start_layered(engine, listeners, service, on_event, tracer, None)
    }

    /// [`start_traced`](Self::start_traced), behind TLS when `tls` is
    /// given (the tracer then shows the plaintext and each handshake).
    /// Handshakes are logged on stderr: failures always, successes unless
    /// the set-up is quiet.
    pub fn start_layered(
        engine: Engine,
        listeners: impl Into<Listeners>,
        service: S,
        on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
        tracer: Option<Tracer>,
        tls: Option<&ServerTls>,
    ) -> io::Result<Self> {
        Self::start_app(engine, listeners, service, on_event, tracer, tls)
    }

    /// [`start_layered`](Self::start_layered) with an [`App`]: an
    /// application that hands its blocking work (hashes, files) to the
    /// engine's workers, off the loop or lock that delivers its events.
    pub fn start_app<A: App<S> + 'static>(
        engine: Engine,
        listeners: impl Into<Listeners>,
        service: S,
        app: A,
        tracer: Option<Tracer>,
        tls: Option<&ServerTls>,
    ) -> io::Result<Self> {
        let make = commlab_mio::one_loop(service, app);
        Self::start_loops(engine, listeners, 1, make, tracer, tls)
    }

    /// [`start_loops`](Self::start_loops) untraced and in clear, each loop
    /// with a service of `service()`'s making and its events going to a
    /// clone of `on_event` (the in-process servers of tests and tools).
    pub fn start_each(
        engine: Engine,
        listeners: impl Into<Listeners>,
        loops: usize,
        service: impl Fn() -> S,
        on_event: impl FnMut(S::Event) + Send + Clone + 'static,
    ) -> io::Result<Self> {
        let make = |_| {
            let mut on_event = on_event.clone();
            Ok((service(), move |_: &mut S, e| on_event(e)))
        };
        Self::start_loops(engine, listeners, loops, make, None, None)
    }

    /// [`start_app`](Self::start_app) on `threads` event loops of the mio
    /// engine, each with the service and application `make(loop_index)`
    /// returns (the std engine, a thread per connection, makes one).
    /// `tracer` sees the first loop's connections.
    pub fn start_loops<A: App<S> + 'static>(
        engine: Engine,
        listeners: impl Into<Listeners>,
        threads: usize,
        mut make: impl FnMut(u16) -> io::Result<(S, A)>,
        tracer: Option<Tracer>,
        tls: Option<&ServerTls>,
    ) -> io::Result<Self> {
        let quiet = tls.is_some_and(|t| t.quiet);
        let listeners = listeners.into();
        let cap = listeners.max_connections();
        let accept = if listeners.reuse_port() {
            commlab_mio::Accept::ReusePort
        } else {
            commlab_mio::Accept::Handoff
        };
        let listeners = listeners.into_vec();
        // The first loop's service is made here: behind TLS, the tracer
        // moves into its TLS layer.
        let (service, app) = make(0)?;
        let (service, tracer) = Layered::new(service, tls, tracer);
        let app = LayeredApp { inner: app, quiet };
        Ok(match engine {
            Engine::Std => Self::Std(commlab_std::serve_on(
                listeners,
                service,
                app,
                tracer,
                cap.unwrap_or(commlab_std::MAX_CONNECTIONS),
            )?),
            Engine::Mio => {
                let mut first = Some((service, app));
                let tls = tls.cloned();
                let make = move |index| match first.take() {
                    Some(made) if index == 0 => Ok(made),
                    _ => {
                        let (service, app) = make(index)?;
                        let (service, _) = Layered::new(service, tls.as_ref(), None);
                        Ok((service, LayeredApp { inner: app, quiet }))
                    }
                };
                Self::Mio(commlab_mio::serve_loops_with(
                    listeners,
                    threads,
                    accept,
                    make,
                    tracer,
                    cap.unwrap_or(commlab_mio::MAX_CONNECTIONS),
                )?)
            }
        })
    }

    /// The bound address (the first listener's).
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            Self::Std(s) => s.local_addr(),
            Self::Mio(s) => s.local_addr(),
        }
    }

    /// Every bound address, the first one first.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        match self {
            Self::Std(s) => s.local_addrs(),
            Self::Mio(s) => s.local_addrs(),
        }
    }

    /// Runs `f` on the service and sends what it produced.
    pub fn command<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S, Instant) -> R + Send + 'static,
    ) -> io::Result<R> {
        let f = move |layered: &mut Layered<S>, now| f(layered.inner_mut(), now);
        match self {
            Self::Std(s) => s.command(f),
            Self::Mio(s) => s.command(f),
        }
    }

    /// Runs `f` on every event loop's service (one on the std engine)
    /// and returns each result: an operator's line pushed to every client,
    /// whichever loop holds it.
    pub fn command_all<R: Send + 'static>(
        &self,
        f: impl Fn(&mut S, Instant) -> R + Send + Sync + 'static,
    ) -> io::Result<Vec<R>> {
        let f = move |layered: &mut Layered<S>, now| f(layered.inner_mut(), now);
        match self {
            Self::Std(s) => s.command(f).map(|r| vec![r]),
            Self::Mio(s) => s.command_all(f),
        }
    }

    /// Runs `f` on the first loop's service without waiting for it (the
    /// std engine runs it at once, under its lock): nothing the caller
    /// does waits on a loop. Fails only when the server has stopped.
    pub fn post(&self, f: impl FnOnce(&mut S, Instant) + Send + 'static) -> io::Result<()> {
        let f = move |layered: &mut Layered<S>, now| f(layered.inner_mut(), now);
        match self {
            Self::Std(s) => s.post(f),
            Self::Mio(s) => s.post(f),
        }
    }

    /// Runs `f` on every loop's service without waiting for any (one on
    /// the std engine).
    pub fn post_all(&self, f: impl Fn(&mut S, Instant) + Send + Sync + 'static) -> io::Result<()> {
        let f = move |layered: &mut Layered<S>, now| f(layered.inner_mut(), now);
        match self {
            Self::Std(s) => s.post(f),
            Self::Mio(s) => s.post_all(f),
        }
    }

    /// [`post_all`](Self::post_all), then `then` with every loop's
    /// result (in no set order), on the thread of the loop that ran `f`
    /// last: a reply without a blocking round trip.
    pub fn post_all_then<R: Send + 'static>(
        &self,
        f: impl Fn(&mut S, Instant) -> R + Send + Sync + 'static,
        then: impl FnOnce(Vec<R>) + Send + 'static,
    ) -> io::Result<()> {
        let loops = self.loops();
        let gather = std::sync::Mutex::new((Vec::with_capacity(loops), Some(then)));
        self.post_all(move |s, now| {
            let result = f(s, now);
            let mut gather = gather
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            gather.0.push(result);
            if gather.0.len() == loops {
                let results = std::mem::take(&mut gather.0);
                if let Some(then) = gather.1.take() {
                    then(results);
                }
            }
        })
    }

    /// Connections each event loop has taken since the start (none on
    /// the std engine, which has no loops).
    pub fn served(&self) -> Vec<u64> {
        match self {
            Self::Std(_) => Vec::new(),
            Self::Mio(s) => s.served(),
        }
    }

    /// Whether each event loop accepts its own connections (SO_REUSEPORT)
    /// rather than the first handing them out.
    pub fn accepts_per_loop(&self) -> bool {
        matches!(self, Self::Mio(s) if s.accept() == commlab_mio::Accept::ReusePort)
    }

    /// Event loops serving (1 on the std engine).
    pub fn loops(&self) -> usize {
        match self {
            Self::Std(_) => 1,
            Self::Mio(s) => s.loops(),
        }
    }

    /// Sockets the engine holds (closed connections still lingering
    /// included): what `--max-connections` caps.
    pub fn sockets(&self) -> usize {
        match self {
            Self::Std(s) => s.sockets(),
            Self::Mio(s) => s.sockets(),
        }
    }

    /// Connections the service holds.
    pub fn connections(&self) -> usize {
        match self {
            Self::Std(s) => s.connections(),
            Self::Mio(s) => s.connections(),
        }
    }

    /// Says goodbye to every client and stops.
    pub fn shutdown(&self) {
        match self {
            Self::Std(s) => s.shutdown(),
            Self::Mio(s) => s.shutdown(),
        }
    }
}

/// The application behind the TLS layer: the layer's own events (a
/// handshake done or refused) are logged here, the service's go to `inner`.
struct LayeredApp<A> {
    inner: A,
    quiet: bool,
}

impl<S: Service, A: App<S>> App<Layered<S>> for LayeredApp<A> {
    type Done = A::Done;

    fn on_event(
        &mut self,
        layered: &mut Layered<S>,
        event: TlsEvent<S::Event>,
        jobs: &mut Jobs<'_, A::Done>,
    ) {
        match event {
            TlsEvent::Inner(e) => self.inner.on_event(layered.inner_mut(), e, jobs),
            TlsEvent::Established { conn, peer, info } => {
                if !self.quiet {
                    eprintln!("[commlab] {conn} {peer}: TLS handshake done: {info}");
                }
            }
            TlsEvent::Failed { conn, peer, error } => {
                eprintln!("[commlab] {conn} {peer}: TLS refused: {error}");
            }
        }
    }

    fn on_done(&mut self, layered: &mut Layered<S>, done: A::Done, jobs: &mut Jobs<'_, A::Done>) {
        self.inner.on_done(layered.inner_mut(), done, jobs);
    }

    fn on_sibling(
        &mut self,
        layered: &mut Layered<S>,
        message: A::Done,
        jobs: &mut Jobs<'_, A::Done>,
    ) {
        self.inner.on_sibling(layered.inner_mut(), message, jobs);
    }
}
