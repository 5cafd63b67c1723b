//! The results `scripts/bench` collected, read: scenarios, runs and their medians.

use std::collections::BTreeSet;

use serde_json::Value;

pub(crate) const SERVERS: [&str; 4] = ["commlab mio", "commlab std", "rust peer", "python"];
pub(crate) const FLOOR: &str = "hyper floor";

pub(crate) struct Scenario {
    pub(crate) key: &'static str,
    pub(crate) title: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) peer: &'static str,
    pub(crate) python: &'static str,
}

pub(crate) const SCENARIOS: [Scenario; 4] = [
    Scenario {
        key: "chat",
        title: "Chat room (exercise 1)",
        unit: "deliveries/s",
        peer: "tokio room (`LinesCodec` + `broadcast`)",
        python: "threaded `socket` room",
    },
    Scenario {
        key: "rpc",
        title: "XML-RPC calculator (exercise 4)",
        unit: "calls/s",
        peer: "`dxr_server` 0.9 on axum",
        python: "`SimpleXMLRPCServer` + `ThreadingMixIn`",
    },
    Scenario {
        key: "calc",
        title: "REST calc (exercise 6)",
        unit: "requests/s",
        peer: "axum 0.8",
        python: "`http.server` (`ThreadingHTTPServer`)",
    },
    Scenario {
        key: "ws",
        title: "WebSocket sums (exercise 2)",
        unit: "round trips/s",
        peer: "tokio-tungstenite 0.30",
        python: "`websockets` (asyncio)",
    },
];

/// Median, smallest and largest of some runs.
#[derive(Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) runs: usize,
}

impl Stat {
    pub(crate) fn of(mut v: Vec<f64>) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
            runs: n,
        })
    }
}

pub(crate) struct Results {
    pub(crate) all: Value,
    pub(crate) rows: Vec<Value>,
    /// The side reports' results (`thirdparty`, `tls`, `federation`,
    /// `join_storm`), read from the JSON files beside the main results;
    /// `Value::Null` for one not run.
    pub(crate) side: std::collections::BTreeMap<&'static str, Value>,
}

/// The side reports whose JSON the report reads.
pub(crate) const SIDE: [&str; 4] = ["thirdparty", "tls", "federation", "join_storm"];

impl Results {
    /// A side report's results, `Value::Null` when it was not run.
    pub(crate) fn side(&self, name: &str) -> &Value {
        self.side.get(name).unwrap_or(&Value::Null)
    }

    /// Syscalls per operation from the one counted run of a server.
    pub(crate) fn syscalls(&self, scenario: &str, server: &str) -> Option<(u64, f64)> {
        self.all["syscalls"].as_array()?.iter().find_map(|r| {
            (r["scenario"] == scenario && r["server"] == server)
                .then(|| Some((r["clients"].as_u64()?, r["syscalls_per_op"].as_f64()?)))
                .flatten()
        })
    }

    /// The line counts of the chat runs without connection set-up (see
    /// `chat_marginal` in bench/run.py), in order.
    pub(crate) fn marginal_lines(&self) -> Vec<u64> {
        let mut lines: Vec<u64> = self.all["chat_marginal"]
            .as_array()
            .map_or(Vec::new(), |rows| {
                rows.iter().filter_map(|r| r["lines"].as_u64()).collect()
            });
        lines.sort_unstable();
        lines.dedup();
        lines
    }

    /// A field of those runs with `lines` per sender, over the runs of `server`.
    pub(crate) fn marginal(&self, server: &str, lines: u64, field: &str) -> Option<Stat> {
        Stat::of(
            self.all["chat_marginal"]
                .as_array()?
                .iter()
                .filter(|r| r["server"] == server && r["lines"].as_u64() == Some(lines))
                .filter(|r| r.get("failed").is_none())
                .filter_map(|r| r[field].as_f64())
                .collect(),
        )
    }

    pub(crate) fn rows<'a>(
        &'a self,
        scenario: &'a str,
        server: &'a str,
        clients: u64,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.rows.iter().filter(move |r| {
            r["scenario"] == scenario && r["server"] == server && r["clients"] == clients
        })
    }

    /// Stat of a field over the runs that finished without a failure.
    pub(crate) fn stat(
        &self,
        scenario: &str,
        server: &str,
        clients: u64,
        field: &str,
    ) -> Option<Stat> {
        Stat::of(
            self.rows(scenario, server, clients)
                .filter(|r| r.get("failed").is_none())
                .filter_map(|r| r[field].as_f64())
                .collect(),
        )
    }

    /// Errors, wrong and lost answers summed over the runs; failed runs.
    pub(crate) fn faults(&self, scenario: &str, server: &str, clients: u64) -> (u64, usize) {
        let mut bad = 0;
        let mut failed = 0;
        for r in self.rows(scenario, server, clients) {
            bad += ["errors", "wrong", "lost"]
                .iter()
                .map(|k| r[*k].as_u64().unwrap_or(0))
                .sum::<u64>();
            failed += usize::from(r.get("failed").is_some());
        }
        (bad, failed)
    }

    pub(crate) fn clients(&self, scenario: &str) -> Vec<u64> {
        let set: BTreeSet<u64> = self
            .rows
            .iter()
            .filter(|r| r["scenario"] == scenario)
            .filter_map(|r| r["clients"].as_u64())
            .collect();
        set.into_iter().collect()
    }

    pub(crate) fn ft_runs<'a>(&'a self, to: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.all["ft"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(move |r| r["to"].as_str().unwrap_or("disk") == to)
    }

    pub(crate) fn ft(&self, to: &str, path: &[&str]) -> Option<Stat> {
        Stat::of(self.ft_runs(to).filter_map(|run| at(run, path)).collect())
    }

    pub(crate) fn ft_ratio(&self, to: &str, num: &[&str], den: &[&str]) -> Option<Stat> {
        Stat::of(
            self.ft_runs(to)
                .filter_map(|run| Some(at(run, num)? / at(run, den)?))
                .collect(),
        )
    }
}

/// The number at `path` (object keys) inside `v`.
pub(crate) fn at(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

/// How a results file counted syscalls, for the report's text: `perf stat`
/// (in the kernel, barely slowing the server) or `strace -c -f` (files
/// written before `syscalls_by` was recorded used strace).
pub(crate) fn syscall_counter(results: &Value) -> &'static str {
    match results["syscalls_by"].as_str() {
        Some("perf") => "`perf stat -e raw_syscalls:sys_enter`",
        _ => "`strace -c -f`, which slows the server and so undercounts where a server batches",
    }
}
