//! The handle on a running server's loops: commands, counts, shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use commlab_core::Service;
use commlab_std::Workers;
use mio::Waker;

use super::{Command, Msg};

/// How to reach one loop from outside it: its inbox, its waker, and the
/// connections it holds (counted up by whoever hands it one, down by the
/// loop when it drops one).
pub(super) struct Peer<S> {
    pub(super) tx: Sender<Msg<S>>,
    pub(super) waker: Arc<Waker>,
    pub(super) load: Arc<AtomicUsize>,
}

impl<S> Peer<S> {
    /// Posts `msg` and wakes the loop; false once the loop has stopped.
    pub(super) fn post(&self, msg: Msg<S>) -> bool {
        self.tx.send(msg).is_ok() && self.waker.wake().is_ok()
    }
}

/// One loop as the handle sees it.
pub(super) struct LoopHandle<S> {
    pub(super) peer: Peer<S>,
    pub(super) thread: Mutex<Option<JoinHandle<()>>>,
    /// Connections its service held at the end of its last turn.
    pub(super) connections: Arc<AtomicUsize>,
    /// Sockets it held at the end of its last turn.
    pub(super) sockets: Arc<AtomicUsize>,
    /// Connections it has taken since it started.
    pub(super) served: Arc<AtomicU64>,
}

/// Running event loops (one, or `--threads N`), each with its own service
/// and connections; [`shutdown`](Self::shutdown) stops them all (so does
/// drop).
pub struct ServerHandle<S> {
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) loops: Vec<LoopHandle<S>>,
    /// The loops' workers: finished once the loops have stopped.
    pub(super) workers: Arc<Workers>,
    /// How connections reach the loops (after any fallback).
    pub(super) accept: crate::Accept,
}

impl<S> std::fmt::Debug for ServerHandle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addrs", &self.addrs)
            .field("loops", &self.loops.len())
            .finish()
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the event loop has stopped")
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

    /// Number of event loops.
    pub fn loops(&self) -> usize {
        self.loops.len()
    }

    /// Runs `f` on the first loop's service, in that loop's thread, and
    /// returns its result. Fails only when the loop has stopped.
    pub fn command<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S, Instant) -> R + Send + 'static,
    ) -> io::Result<R> {
        let (done, result) = mpsc::sync_channel(1);
        let run: Command<S> = Box::new(move |s, now| {
            let _ = done.send(f(s, now));
        });
        if !self.loops[0].peer.post(Msg::Run(run)) {
            return Err(gone());
        }
        result.recv().map_err(|_| gone())
    }

    /// Runs `f` on the first loop's service, in that loop's thread,
    /// without waiting for it: the caller never blocks on a loop. What `f`
    /// finds it reports itself. Fails only when the loop has stopped.
    pub fn post(&self, f: impl FnOnce(&mut S, Instant) + Send + 'static) -> io::Result<()> {
        if self.loops[0].peer.post(Msg::Run(Box::new(f))) {
            Ok(())
        } else {
            Err(gone())
        }
    }

    /// Runs `f` on every loop's service without waiting for any (see
    /// [`post`](Self::post)). Fails when a loop has stopped.
    pub fn post_all(&self, f: impl Fn(&mut S, Instant) + Send + Sync + 'static) -> io::Result<()> {
        let f = Arc::new(f);
        for l in &self.loops {
            let f = Arc::clone(&f);
            if !l.peer.post(Msg::Run(Box::new(move |s, now| f(s, now)))) {
                return Err(gone());
            }
        }
        Ok(())
    }

    /// Runs `f` on every loop's service (an operator's line to every
    /// client, whichever loop holds it) and returns the results in the
    /// loops' order. Fails when any loop has stopped.
    pub fn command_all<R: Send + 'static>(
        &self,
        f: impl Fn(&mut S, Instant) -> R + Send + Sync + 'static,
    ) -> io::Result<Vec<R>> {
        let f = Arc::new(f);
        let mut waiting = Vec::with_capacity(self.loops.len());
        for l in &self.loops {
            let (done, result) = mpsc::sync_channel(1);
            let f = Arc::clone(&f);
            let run: Command<S> = Box::new(move |s, now| {
                let _ = done.send(f(s, now));
            });
            if !l.peer.post(Msg::Run(run)) {
                return Err(gone());
            }
            waiting.push(result);
        }
        waiting
            .into_iter()
            .map(|r| r.recv().map_err(|_| gone()))
            .collect()
    }

    /// How connections reach the loops: [`Accept::ReusePort`](crate::Accept)
    /// only when every loop has listeners of its own (one loop, or a
    /// fallback, is the hand-off).
    pub fn accept(&self) -> crate::Accept {
        self.accept
    }

    /// Connections each loop has taken since the server started, in the
    /// loops' order: how evenly [`Accept`](crate::Accept) spread them.
    pub fn served(&self) -> Vec<u64> {
        self.loops
            .iter()
            .map(|l| l.served.load(Ordering::Relaxed))
            .collect()
    }

    /// Sockets the loops held at the end of their last turn, closed ones
    /// still lingering (at most [`LINGER`](crate::LINGER)) included.
    pub fn sockets(&self) -> usize {
        self.loops
            .iter()
            .map(|l| l.sockets.load(Ordering::SeqCst))
            .sum()
    }

    /// Connections the services held at the end of their loops' last turn.
    pub fn connections(&self) -> usize {
        self.loops
            .iter()
            .map(|l| l.connections.load(Ordering::SeqCst))
            .sum()
    }

    /// Sockets each loop holds now, in the loops' order (how evenly the
    /// connections are spread).
    pub fn loads(&self) -> Vec<usize> {
        self.loops
            .iter()
            .map(|l| l.peer.load.load(Ordering::SeqCst))
            .collect()
    }

    /// Stops accepting, lets every service say goodbye, waits up to
    /// [`SHUTDOWN_GRACE`](crate::SHUTDOWN_GRACE) for the goodbyes to flush,
    /// then closes what is left, and waits for the clean-up jobs that left
    /// ([`Workers::finish`]). Later calls do nothing.
    pub fn shutdown(&self) {
        stop(self);
    }
}

fn stop<S>(handle: &ServerHandle<S>) {
    for l in &handle.loops {
        let _ = l.peer.post(Msg::Shutdown);
    }
    for l in &handle.loops {
        let thread = l
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
    // What the goodbyes left to clean up (an upload cut short) is done
    // before the handle says the server has stopped.
    handle.workers.finish();
}

impl<S> Drop for ServerHandle<S> {
    fn drop(&mut self) {
        stop(self);
    }
}
