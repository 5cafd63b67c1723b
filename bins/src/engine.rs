//! The two engines behind one type: `--engine std|mio`.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

use commlab_core::trace::Tracer;
use commlab_core::Service;

/// Which driver runs a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Blocking std::net, a thread per connection.
    Std,
    /// One mio event loop for every connection.
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

/// A running server on either engine.
#[derive(Debug)]
pub enum Server<S: Service> {
    /// Thread per connection.
    Std(commlab_std::ServerHandle<S>),
    /// One event loop.
    Mio(commlab_mio::ServerHandle<S>),
}

impl<S: Service + Send + 'static> Server<S> {
    /// Starts `service` on `listener` with `engine`; events go to `on_event`.
    pub fn start(
        engine: Engine,
        listener: TcpListener,
        service: S,
        mut on_event: impl FnMut(S::Event) + Send + 'static,
    ) -> io::Result<Self> {
        Self::start_with(engine, listener, service, move |_, e| on_event(e))
    }

    /// Starts `service`; `on_event` gets each event with the service, to
    /// answer it with commands (e.g. hand it the next chunk of a file).
    pub fn start_with(
        engine: Engine,
        listener: TcpListener,
        service: S,
        on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
    ) -> io::Result<Self> {
        Self::start_traced(engine, listener, service, on_event, None)
    }

    /// [`start_with`](Self::start_with), every byte read and written shown
    /// to `tracer` (`--trace`).
    pub fn start_traced(
        engine: Engine,
        listener: TcpListener,
        service: S,
        on_event: impl FnMut(&mut S, S::Event) + Send + 'static,
        tracer: Option<Tracer>,
    ) -> io::Result<Self> {
        Ok(match engine {
            Engine::Std => Self::Std(commlab_std::serve_traced(
                listener, service, on_event, tracer,
            )?),
            Engine::Mio => Self::Mio(commlab_mio::serve_traced(
                listener, service, on_event, tracer,
            )?),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            Self::Std(s) => s.local_addr(),
            Self::Mio(s) => s.local_addr(),
        }
    }

    /// Runs `f` on the service and sends what it produced.
    pub fn command<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S, Instant) -> R + Send + 'static,
    ) -> io::Result<R> {
        match self {
            Self::Std(s) => s.command(f),
            Self::Mio(s) => s.command(f),
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
