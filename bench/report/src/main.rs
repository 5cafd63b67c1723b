//! Writes `docs/benchmarks.md` and `docs/bench/*.svg` from the results
//! `scripts/bench` collected: medians over the runs with their spread, the
//! ratio of each figure to each baseline, and whether each target of the
//! scale-and-speed issue was met.
//!
//! Usage: `commlab-bench-report RESULTS.json DOCS_DIR`

mod chart;
mod format;
mod notes;
mod results;
mod sections;
mod tools;

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::chart::chart;
use crate::format::count;
use crate::notes::THIRDPARTY_NOTES;
use crate::results::*;
use crate::sections::*;
use crate::tools::*;

/// How to read the figures (what was learnt making them on the 2-core
/// machine the project is developed on).
const NOTES: &str = "## Reading the figures

- The load generator checks every delivery and every answer on one thread,
  on the same two cores as the server. In the chat room one line sent costs
  the server a share of one write per recipient but costs the checker a
  parse per recipient, so the checker is never far from being the
  bottleneck (it parses each delivery in about 60 ns, borrowing the line
  from its buffer). Servers that come out level are each at least as
  fast as the checker. At 10,000 clients each of the 100 lines goes to
  9,999 clients in one burst: commlab's single event-loop thread makes
  those writes one after another, tokio's two worker threads in parallel,
  so the ratio there has ranged from 0.6× to 1× between sittings (see
  below).
- commlab's room queues each line for each client (bounded, so a slow
  reader is dropped rather than growing the server), in one append per
  client for all the lines that arrived together; tokio's broadcast channel
  holds each line once. With few clients and many lines in flight the
  queues weigh more (100 clients); with 10,000 clients the per-connection
  state of tokio's tasks weighs more.
- SHA-256 is the slow digest here: both sides hash every byte, and on two
  cores shared by server, client and their hashing, a transfer cannot reach
  90% of what `sha2` does alone on one core (both hashes alone would already
  need both cores). When the client writes to disk, the disk sets the pace
  for every variant, the plain copy included. BLAKE3 (the default) keeps up
  with the disk.
- Written to memory, a transfer is bounded by CPU: reading, hashing,
  framing and copying on both sides, against a plain copy that never leaves
  the kernel (`std::io::copy` between a file and a socket uses `sendfile`
  and `splice` on Linux). A verified transfer must bring every byte into
  the process to hash it, on both sides.
- The Python programs are the class's, made correct under load where the
  benchmark needs it (the room registers a client before welcoming it and
  takes a lock per socket, or it loses lines), and kept otherwise as
  written.

";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, results, docs] = args.as_slice() else {
        return Err("usage: commlab-bench-report RESULTS.json DOCS_DIR".into());
    };
    let all: Value = serde_json::from_str(&std::fs::read_to_string(results)?)?;
    let rows = all["rows"].as_array().cloned().unwrap_or_default();
    let dir = Path::new(results).parent().unwrap_or(Path::new("."));
    let side = SIDE
        .iter()
        .map(|&name| {
            let text = std::fs::read_to_string(dir.join(format!("{name}.json")));
            (
                name,
                text.ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(Value::Null),
            )
        })
        .collect();
    let res = Results { all, rows, side };
    let docs = Path::new(docs);
    std::fs::create_dir_all(docs.join("bench"))?;
    for sc in &SCENARIOS {
        if res.clients(sc.key).is_empty() {
            continue;
        }
        chart(
            &res,
            sc,
            "per_second",
            sc.unit,
            &docs.join(format!("bench/{}-throughput.svg", sc.key)),
        )?;
        chart(
            &res,
            sc,
            "p99_ms",
            "p99 latency (ms)",
            &docs.join(format!("bench/{}-p99.svg", sc.key)),
        )?;
    }
    let m = &res.all["machine"];
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Benchmarks\n\nWritten by `scripts/bench` on {} (do not edit by hand: run it again). \
         Machine: {} cores ({}), {} MiB of memory, Linux {}, {}, Python {}. The load \
         generator (`commlab load`, one thread, every answer checked) and the server share \
         the machine, on loopback.\n\nMethod: {} runs in one sitting; in each run every server \
         is measured at every client count, in an order that rotates from run to run. Each \
         timed load lasts {} s (closed loop: one request in flight per client, keep-alive); \
         each chat run delivers about {} lines ({} senders, or every client when fewer) \
         and lasts a fraction of a second, so each run measures every chat server {} times. \
         Figures are medians over the runs, with the smallest and largest run in brackets: \
         this machine is noisy (runs a minute apart can differ up to 2×). Memory is the \
         server's peak resident set (VmHWM). Servers with a thread per client (commlab std, \
         the Python room) are not run above {} chat clients.\n",
        m["date"].as_str().unwrap_or("?"),
        m["cores"],
        m["cpu"].as_str().unwrap_or("?"),
        m["memory_mib"],
        m["kernel"].as_str().unwrap_or("?"),
        m["rustc"].as_str().unwrap_or("?"),
        m["python"].as_str().unwrap_or("?"),
        res.all["runs"],
        res.all["seconds"],
        count(res.all["chat_deliveries"].as_f64().unwrap_or(0.0)),
        res.all["chat_senders"],
        res.all["chat_repeats"].as_u64().unwrap_or(1),
        res.all["threaded_max_clients"],
    );
    let _ = writeln!(md, "## Targets\n");
    targets(&mut md, &res);
    md.push('\n');
    cpu_targets(&mut md, &res);
    md.push('\n');
    for sc in &SCENARIOS {
        scenario_section(&mut md, &res, sc);
    }
    ft_section(&mut md, &res);
    thirdparty_section(&mut md, &res);
    newer_work_section(&mut md, &res);
    md.push_str(NOTES);
    if !res.side("thirdparty").is_null() {
        md.push_str(THIRDPARTY_NOTES);
    }
    let _ = writeln!(
        md,
        "## Reproducing\n\n```sh\nscripts/bench            # everything, about 55 minutes here (plus 15 for the first build)\nscripts/bench --quick    # one run, fewer client counts\nscripts/bench --only rpc,floor --runs 5\n```\n\n\
         The peers live in `bench/peers/rust/` (a separate cargo workspace) and \
         `bench/peers/python/` (the class's programs); raw results in `target/bench/results.json`."
    );
    std::fs::write(docs.join("benchmarks.md"), md)?;
    Ok(())
}
