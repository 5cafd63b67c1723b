//! What a load run measured, as a table or JSON.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Which load.
    pub kind: &'static str,
    /// Clients.
    pub clients: usize,
    /// Requests (or lines) expected to be answered (delivered).
    pub expected: u64,
    /// Answers (deliveries) received and correct.
    pub ok: u64,
    /// Transport or protocol errors.
    pub errors: u64,
    /// Answers that came back wrong.
    pub wrong: u64,
    /// Requests never answered (deliveries never made).
    pub lost: u64,
    /// Wall time of the measured phase.
    pub elapsed: Duration,
    /// Latencies in microseconds.
    pub latency: Histogram<u64>,
}

impl Report {
    pub(crate) fn new(kind: &'static str, clients: usize) -> Self {
        Self {
            kind,
            clients,
            expected: 0,
            ok: 0,
            errors: 0,
            wrong: 0,
            lost: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, 600_000_000, 3)
                .expect("constant histogram bounds are valid"),
        }
    }

    pub(crate) fn record(&mut self, since: Instant) {
        self.record_at(since, Instant::now());
    }

    /// Records an answer seen at `now` (read once per loop turn when answers
    /// come by the thousand).
    pub(crate) fn record_at(&mut self, since: Instant, now: Instant) {
        self.record_us(micros(now.saturating_duration_since(since)));
    }

    /// Records a latency already in microseconds.
    pub(crate) fn record_us(&mut self, us: u64) {
        let _ = self.latency.record(us.clamp(1, 600_000_000));
    }

    /// Adds `other`, a run of the same load at the same time from another
    /// thread: counts and clients add up, the wall time is the longer,
    /// the latencies join.
    pub(crate) fn merge(&mut self, other: Self) {
        self.clients += other.clients;
        self.expected += other.expected;
        self.ok += other.ok;
        self.errors += other.errors;
        self.wrong += other.wrong;
        self.lost += other.lost;
        self.elapsed = self.elapsed.max(other.elapsed);
        let _ = self.latency.add(&other.latency);
    }

    /// Answers per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// Whether anything went wrong.
    pub fn failed(&self) -> bool {
        self.errors + self.wrong + self.lost > 0
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        format!(
            "load {}: {} clients, {:.2} s\n{:>10} {:>10} {:>7} {:>7} {:>7} {:>12} {:>9} {:>9} {:>9}\n{:>10} {:>10} {:>7} {:>7} {:>7} {:>12.1} {:>9.3} {:>9.3} {:>9.3}",
            self.kind,
            self.clients,
            self.elapsed.as_secs_f64(),
            "expected", "ok", "errors", "wrong", "lost", "per second", "p50 ms", "p99 ms", "p99.9 ms",
            self.expected,
            self.ok,
            self.errors,
            self.wrong,
            self.lost,
            self.per_second(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.quantile_ms(0.999),
        )
    }

    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "kind": self.kind,
            "clients": self.clients,
            "seconds": self.elapsed.as_secs_f64(),
            "expected": self.expected,
            "ok": self.ok,
            "errors": self.errors,
            "wrong": self.wrong,
            "lost": self.lost,
            "per_second": self.per_second(),
            "p50_ms": self.quantile_ms(0.5),
            "p99_ms": self.quantile_ms(0.99),
            "p999_ms": self.quantile_ms(0.999),
        })
    }
}

/// A duration in whole microseconds (saturating).
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
