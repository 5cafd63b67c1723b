//! The report's sections: each scenario, the targets, the file transfer.

use std::fmt::Write as _;

use serde_json::Value;

use crate::format::*;
use crate::results::*;

pub(crate) fn scenario_section(md: &mut String, res: &Results, sc: &Scenario) {
    let clients = res.clients(sc.key);
    if clients.is_empty() {
        return;
    }
    let _ = writeln!(md, "## {}\n", sc.title);
    let _ = writeln!(
        md,
        "Rust peer: {}. Python: {}.\n\n![{} throughput](bench/{}-throughput.svg)\n![{} p99 latency](bench/{}-p99.svg)\n",
        sc.peer, sc.python, sc.key, sc.key, sc.key, sc.key
    );
    let _ = writeln!(
        md,
        "Throughput in {} (median, with the smallest and largest run):\n",
        sc.unit
    );
    let floor = sc.key == "rpc";
    let _ = writeln!(
        md,
        "| clients | commlab mio | commlab std | Rust peer | Python |{} mio ÷ Rust peer | mio ÷ Python |{}",
        if floor { " hyper floor |" } else { "" },
        if floor { " mio ÷ floor |" } else { "" }
    );
    let _ = writeln!(
        md,
        "|---:|---:|---:|---:|---:|{}---:|---:|{}",
        if floor { "---:|" } else { "" },
        if floor { "---:|" } else { "" }
    );
    for &c in &clients {
        let s = |srv: &str| res.stat(sc.key, srv, c, "per_second");
        let mio = s("commlab mio");
        let fl = res.stat("floor", FLOOR, c, "per_second");
        let mut row = format!(
            "| {} | {} | {} | {} | {} |",
            count(c as f64),
            cell(mio, count),
            cell(s("commlab std"), count),
            cell(s("rust peer"), count),
            cell(s("python"), count)
        );
        if floor {
            let _ = write!(row, " {} |", cell(fl, count));
        }
        let _ = write!(
            row,
            " {} | {} |",
            ratio(mio, s("rust peer")),
            ratio(mio, s("python"))
        );
        if floor {
            let _ = write!(row, " {} |", ratio(mio, fl));
        }
        let _ = writeln!(md, "{row}");
    }
    let _ = writeln!(
        md,
        "\nLatency p99 and server peak memory (VmHWM) (medians):\n"
    );
    let _ = writeln!(
        md,
        "| clients | p99 mio | p99 std | p99 Rust peer | p99 Python | memory mio | memory std | memory Rust peer | memory Python |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &c in &clients {
        let p = |srv: &str| cell(res.stat(sc.key, srv, c, "p99_ms"), ms);
        let m = |srv: &str| {
            res.stat(sc.key, srv, c, "peak_rss_kib")
                .map_or("–".into(), |s| mib(s.median))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            count(c as f64),
            p("commlab mio"),
            p("commlab std"),
            p("rust peer"),
            p("python"),
            m("commlab mio"),
            m("commlab std"),
            m("rust peer"),
            m("python")
        );
    }
    cpu_table(md, res, sc.key, &clients);
    let mut faults = Vec::new();
    for &c in &clients {
        for srv in SERVERS {
            let (bad, failed) = res.faults(sc.key, srv, c);
            if bad > 0 || failed > 0 {
                faults.push(format!(
                    "{srv} at {c} clients: {bad} errors, wrong or lost answers, {failed} failed runs"
                ));
            }
        }
    }
    if faults.is_empty() {
        let _ = writeln!(
            md,
            "\nEvery answer of every run was checked: no errors, wrong or lost answers.\n"
        );
    } else {
        let _ = writeln!(md, "\nFaults seen (every answer is checked):\n");
        for f in faults {
            let _ = writeln!(md, "- {f}");
        }
        md.push('\n');
    }
}

/// Server CPU per operation at every client count, the load tool's, and
/// the syscalls per operation of the one counted run.
fn cpu_table(md: &mut String, res: &Results, key: &str, clients: &[u64]) {
    if res.rows.iter().all(|r| r.get("cpu_us").is_none()) {
        return;
    }
    let _ = writeln!(
        md,
        "\nServer CPU per operation, user + system (µs, medians: the scheduler's count in \
         `/proc/PID/task/*/schedstat` where the server's threads stayed the same through a run, \
         else `/proc/PID/stat`'s clock ticks), \
         and the load generator's own (`commlab load`, all servers' runs):\n\n\
         | clients | CPU mio | CPU std | CPU Rust peer | CPU Python | load generator |\n\
         |---:|---:|---:|---:|---:|---:|"
    );
    let us = |x: f64| format!("{x:.2}");
    for &c in clients {
        let cpu = |srv: &str| cell(res.stat(key, srv, c, "cpu_us"), us);
        let tool = Stat::of(
            SERVERS
                .iter()
                .filter_map(|srv| res.stat(key, srv, c, "tool_cpu_us").map(|s| s.median))
                .collect(),
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            count(c as f64),
            cpu("commlab mio"),
            cpu("commlab std"),
            cpu("rust peer"),
            cpu("python"),
            tool.map_or("–".into(), |s| us(s.median)),
        );
    }
    let calls: Vec<String> = SERVERS
        .iter()
        .filter_map(|srv| {
            let (c, n) = res.syscalls(key, srv)?;
            Some(format!("{srv} {n:.2} (at {c} clients)"))
        })
        .collect();
    if !calls.is_empty() {
        let _ = writeln!(
            md,
            "\nSyscalls per operation, counted on the server during a separate short run by {}: {}.",
            syscall_counter(&res.all),
            calls.join(", ")
        );
    }
}

#[allow(clippy::too_many_lines)]
pub(crate) fn targets(md: &mut String, res: &Results) {
    let st = |sc: &str, srv: &str, c: u64| res.stat(sc, srv, c, "per_second");
    let ge = |a: Option<Stat>, b: Option<Stat>, k: f64| Some(a?.median >= k * b?.median);
    let big = res.clients("chat").last().copied().unwrap_or(10_000);
    let chat_mio = st("chat", "commlab mio", big);
    let chat_peer = st("chat", "rust peer", big);
    let chat_rss = res.stat("chat", "commlab mio", big, "peak_rss_kib");
    let (chat_bad, chat_failed) = res.faults("chat", "commlab mio", big);
    let _ = writeln!(md, "| target | measured | verdict |\n|---|---|---|");
    let _ = writeln!(
        md,
        "| chat room, mio, {big} clients, 100 senders: deliveries/s ≥ tokio room | {} vs {} ({}) | {} |",
        cell(chat_mio, count),
        cell(chat_peer, count),
        ratio(chat_mio, chat_peer),
        verdict(ge(chat_mio, chat_peer, 1.0))
    );
    let _ = writeln!(
        md,
        "| chat room, mio, {big} clients: none lost | {chat_bad} errors, wrong or lost; {chat_failed} failed runs | {} |",
        verdict(chat_mio.map(|_| chat_bad == 0 && chat_failed == 0))
    );
    let _ = writeln!(
        md,
        "| chat room, mio, {big} clients: server peak memory < 100 MiB | {} | {} |",
        mib_and_largest(chat_rss),
        verdict(chat_rss.map(|s| s.median < 100.0 * 1024.0))
    );
    for (sc, c, name) in [
        ("rpc", 32, "XML-RPC, mio, 32 clients: calls/s ≥ dxr_server"),
        ("calc", 32, "REST calc, mio, 32 clients: requests/s ≥ axum"),
        (
            "ws",
            100,
            "WebSocket sums, mio, 100 clients: round trips/s ≥ tokio-tungstenite",
        ),
    ] {
        let (a, b) = (st(sc, "commlab mio", c), st(sc, "rust peer", c));
        let _ = writeln!(
            md,
            "| {name} | {} vs {} ({}) | {} |",
            cell(a, count),
            cell(b, count),
            ratio(a, b),
            verdict(ge(a, b, 1.0))
        );
    }
    let (a, f) = (st("rpc", "commlab mio", 32), st("floor", FLOOR, 32));
    let _ = writeln!(
        md,
        "| XML-RPC, mio, 32 clients: ≥ 60% of the hyper floor's requests/s | {} vs {} ({}) | {} |",
        cell(a, count),
        cell(f, count),
        ratio(a, f),
        verdict(ge(a, f, 0.6))
    );
    let mut std_bad = Vec::new();
    let mut std_seen = false;
    for sc in ["chat", "rpc", "calc", "ws"] {
        for c in res.clients(sc) {
            if c <= 128 && res.rows(sc, "commlab std", c).next().is_some() {
                std_seen = true;
                let (bad, failed) = res.faults(sc, "commlab std", c);
                if bad > 0 || failed > 0 {
                    std_bad.push(format!("{sc} at {c}"));
                }
            }
        }
    }
    let _ = writeln!(
        md,
        "| std engine: no errors or lost answers up to 100 (128) clients | {} | {} |",
        if std_bad.is_empty() {
            "none in any run".to_owned()
        } else {
            format!("faults in {}", std_bad.join(", "))
        },
        verdict(std_seen.then_some(std_bad.is_empty()))
    );
    for to in ["disk", "memory"] {
        for engine in ["std", "mio"] {
            let b = res.ft_ratio(
                to,
                &[&format!("{engine}_blake3"), "mib_s"],
                &["plain_mib_s"],
            );
            let s = res.ft_ratio(to, &[&format!("{engine}_sha256"), "mib_s"], &["sha2_mib_s"]);
            if b.is_none() && s.is_none() {
                continue;
            }
            let _ = writeln!(
                md,
                "| file transfer to {to}, {engine}, BLAKE3: ≥ 80% of `io::copy` | {} | {} |",
                s_pct(b),
                verdict(b.map(|b| b.median >= 0.8))
            );
            let _ = writeln!(
                md,
                "| file transfer to {to}, {engine}, SHA-256: ≥ 90% of `sha2` on one core | {} | {} |",
                s_pct(s),
                verdict(s.map(|s| s.median >= 0.9))
            );
        }
    }
    let procs: Vec<&Value> = res.all["ft_processes"]
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let most = |key: &str| {
        procs
            .iter()
            .filter_map(|r| r[key].as_f64())
            .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))))
    };
    let (server, client) = (most("server_peak_kib"), most("client_peak_kib"));
    let _ = writeln!(
        md,
        "| file transfer: peak memory of server and client each < 32 MiB | largest of every run: server {}, client {} | {} |",
        server.map_or("–".into(), mib),
        client.map_or("–".into(), mib),
        verdict(server.zip(client).map(|(s, c)| s.max(c) < 32.0 * 1024.0))
    );
}

pub(crate) fn s_pct(s: Option<Stat>) -> String {
    s.map_or("–".into(), |s| {
        format!(
            "{:.0}% ({:.0}–{:.0}%)",
            100.0 * s.median,
            100.0 * s.min,
            100.0 * s.max
        )
    })
}

pub(crate) fn ft_section(md: &mut String, res: &Results) {
    let Some(first) = res.ft_runs("disk").next() else {
        return;
    };
    let size = first["size_mib"].as_f64().unwrap_or(0.0);
    let _ = writeln!(
        md,
        "## File transfer (exercise 5)\n\nA {size:.0} MiB download over loopback, file to socket to file, by \
         `cargo run --release -p commlab --example ft_bench` (best of three in each run; medians over \
         the runs here), beside a plain `std::io::copy` between two sockets (also file to file) and \
         `sha2` hashing alone on one core, measured in the same run. The client writes to disk (the \
         usual case), then to memory (tmpfs), where the disk no longer sets the pace. Both sides \
         hash what they move, on this 2-core machine. CPU is the process's (both ends, every \
         thread) per MiB moved, from `/proc/self/stat`, the least of the three; its user-space part \
         is commlab's own work (hashing, framing, copying), the rest the kernel's.\n"
    );
    for to in ["disk", "memory"] {
        if res.ft_runs(to).next().is_none() {
            continue;
        }
        let _ = writeln!(
            md,
            "Written to {to}:\n\n| what | MiB/s | of the reference | CPU µs/MiB | of it in user space |\n|---|---:|---:|---:|---:|"
        );
        let cpu = |key: &str| {
            let (all, user) = if key == "plain" {
                (vec!["plain_cpu_us_per_mib"], vec!["plain_user_us_per_mib"])
            } else {
                (vec![key, "cpu_us_per_mib"], vec![key, "user_us_per_mib"])
            };
            format!(
                "{} | {}",
                cell(res.ft(to, &all), count),
                cell(res.ft(to, &user), count)
            )
        };
        let _ = writeln!(
            md,
            "| plain `std::io::copy` | {} | – | {} |",
            cell(res.ft(to, &["plain_mib_s"]), count),
            cpu("plain")
        );
        let _ = writeln!(
            md,
            "| `sha2` alone, one core | {} | – | – | – |",
            cell(res.ft(to, &["sha2_mib_s"]), count)
        );
        for engine in ["std", "mio"] {
            for (alg, den) in [("blake3", "plain_mib_s"), ("sha256", "sha2_mib_s")] {
                let key = format!("{engine}_{alg}");
                let _ = writeln!(
                    md,
                    "| commlab ft, {engine}, {alg} | {} | {} of {} | {} |",
                    cell(res.ft(to, &[&key, "mib_s"]), count),
                    s_pct(res.ft_ratio(to, &[&key, "mib_s"], &[den])),
                    if alg == "blake3" { "io::copy" } else { "sha2" },
                    cpu(&key),
                );
            }
        }
        md.push('\n');
    }
    let Some(procs) = res.all["ft_processes"].as_array().filter(|p| !p.is_empty()) else {
        return;
    };
    let _ = writeln!(
        md,
        "Memory, measured on two processes (`commlab ft server` and `commlab ft client get`, \
         the client writing to disk): the server's VmHWM and the client's peak resident set as \
         the kernel reports it at exit (largest of the runs). The server's figure includes the \
         login (argon2 works in 19 MiB by design). The last two rows are the class's raw protocol \
         (bytes until the server closes, nothing checked): commlab's `ft server --raw` and the \
         class's Python server, both read by `commlab ft client --raw`.\n\n\
         | engine | digest | MiB/s (median) | server peak | client peak | all verified |\n|---|---|---:|---:|---:|---|"
    );
    for (engine, alg) in [
        ("std", "blake3"),
        ("std", "sha256"),
        ("mio", "blake3"),
        ("mio", "sha256"),
        ("commlab raw", "none"),
        ("python raw", "none"),
    ] {
        {
            let rows: Vec<&Value> = procs
                .iter()
                .filter(|r| r["engine"] == engine && r["hash"] == alg)
                .collect();
            let most = |k: &str| {
                rows.iter()
                    .filter_map(|r| r[k].as_f64())
                    .fold(0.0f64, f64::max)
            };
            let _ = writeln!(
                md,
                "| {engine} | {alg} | {} | {} | {} | {} |",
                cell(
                    Stat::of(rows.iter().filter_map(|r| r["mib_s"].as_f64()).collect()),
                    count
                ),
                mib(most("server_peak_kib")),
                mib(most("client_peak_kib")),
                if rows.iter().all(|r| r["ok"] == true) {
                    "yes"
                } else {
                    "**no**"
                }
            );
        }
    }
    md.push('\n');
}
