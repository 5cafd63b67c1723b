//! The sockets a server holds, counted from accept (or dial) until both
//! of a connection's threads have ended, so lingering and timed-out
//! connections count too; and the cap on them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often, at most, a server says it is refusing connections at its cap.
pub(crate) const CAP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The count of held sockets and the most a server may hold.
#[derive(Debug)]
pub(crate) struct Sockets {
    live: Arc<AtomicUsize>,
    max: usize,
    last_refusal_log: Mutex<Option<Instant>>,
}

/// One held socket: its place in [`Sockets`] is given back when the last
/// clone (the reader's or the writer's) is dropped.
#[derive(Debug)]
pub(crate) struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Sockets {
    /// No socket held yet; at most `max` accepted at once.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            live: Arc::new(AtomicUsize::new(0)),
            max,
            last_refusal_log: Mutex::new(None),
        }
    }

    /// Sockets held now.
    pub(crate) fn held(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// A place for an accepted socket, or `None` at the cap (the caller
    /// closes the socket; the refusal is logged at most once per
    /// [`CAP_LOG_INTERVAL`]).
    pub(crate) fn accept(&self) -> Option<Held> {
        if self.held() >= self.max {
            let mut last = self
                .last_refusal_log
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if last.is_none_or(|at| now.duration_since(at) >= CAP_LOG_INTERVAL) {
                *last = Some(now);
                eprintln!(
                    "commlab: {} connections open, the most allowed (--max-connections): closing new ones at once",
                    self.max
                );
            }
            return None;
        }
        Some(self.hold())
    }

    /// A place for a socket the service asked to dial (never refused: the
    /// service counts its own).
    pub(crate) fn hold(&self) -> Held {
        self.live.fetch_add(1, Ordering::SeqCst);
        Held(Arc::clone(&self.live))
    }
}
