//! Wall time for certificate checks, fed by the session instead of read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::UnixTime;
use rustls::time_provider::TimeProvider;

/// The wall clock rustls checks certificates against.
///
/// The driver anchors it once (an [`Instant`] and the Unix time at that
/// instant); afterwards the TLS layer moves it with every `now` it is
/// given, so core never reads a clock. Clones share one time. Tests
/// anchor it in the past or the future to check certificate expiry.
#[derive(Debug, Clone)]
pub struct TlsClock {
    anchor: Instant,
    anchor_unix: Duration,
    /// Seconds since the Unix epoch, as last moved.
    secs: Arc<AtomicU64>,
}

impl TlsClock {
    /// A clock reading `unix` (time since the Unix epoch) at `anchor`.
    pub fn new(anchor: Instant, unix: Duration) -> Self {
        Self {
            anchor,
            anchor_unix: unix,
            secs: Arc::new(AtomicU64::new(unix.as_secs())),
        }
    }

    /// Moves the clock to the wall time at `now` (never before the anchor).
    pub fn advance(&self, now: Instant) {
        let wall = self.anchor_unix + now.saturating_duration_since(self.anchor);
        self.secs.store(wall.as_secs(), Ordering::Relaxed);
    }

    /// The instant the clock was anchored at.
    pub fn anchor(&self) -> Instant {
        self.anchor
    }

    /// The wall time last set, in seconds since the Unix epoch.
    pub fn unix_secs(&self) -> u64 {
        self.secs.load(Ordering::Relaxed)
    }
}

impl TimeProvider for TlsClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(
            self.unix_secs(),
        )))
    }
}
