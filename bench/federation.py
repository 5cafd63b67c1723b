"""Federated room benchmarks (`scripts/bench --only federation`, or
`python3 bench/federation.py`).

One room of 3,000 clients, 100 of them sending, measured four ways in one
sitting, alternating:
- commlab, one server (mio) holding all 3,000 clients;
- commlab, three servers (mio) of 1,000 clients each, linked through
  Debian's `nats-server` (`--nats`);
- tokio, one room holding all 3,000 (bench/peers/rust room);
- tokio, three rooms of 1,000 linked by `async-nats` through the same
  broker (bench/peers/rust room_nats): the fair peer.
`commlab load chat` (with `--servers A,B,C` for three) checks every
delivery: once, in order. Each figure comes with the servers' peak memory
(VmHWM) and their CPU time, and the broker's, per 1,000 deliveries (from
/proc/PID/stat). Writes target/bench/federation.json and
docs/benchmarks-federation.md. Loopback only; every run is bounded.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import COMMLAB, cpu_seconds, OUT, PEER_BIN, ROOT, machine, peak_rss_kib, raise_nofile, stop  # noqa: E402

CLIENTS = 3000
SENDERS = 100
DELIVERIES = 3_000_000
TIMEOUT = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broker():
    if shutil.which("nats-server") is None:
        raise SystemExit("nats-server is needed for the federation benchmarks: apt-get install nats-server")
    port = free_port()
    p = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, preexec_fn=raise_nofile)
    deadline = time.time() + TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return p, port
        except OSError:
            if time.time() > deadline:
                stop(p)
                raise SystemExit("nats-server did not start")
            time.sleep(0.05)


def start(argv, ready=None):
    """Starts a server; returns it and its port once it said `listening
    on`, and (`ready`) once its log holds that text."""
    log = OUT / f"federation-{os.getpid()}-{time.monotonic_ns()}.log"
    err = open(log, "w")
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                         text=True, start_new_session=True, preexec_fn=raise_nofile)
    line = p.stdout.readline()
    if not line.startswith("listening on "):
        stop(p)
        raise RuntimeError(f"{argv[0]} did not announce its port: {line!r}")
    port = int(line.rsplit(":", 1)[1])
    deadline = time.time() + TIMEOUT
    while ready and ready not in log.read_text():
        if time.time() > deadline:
            stop(p)
            raise RuntimeError(f"{' '.join(argv)}: never logged {ready!r}")
        time.sleep(0.05)
    p.log = log
    return p, port


def commlab_room(nats=None, sid=None):
    argv = [str(COMMLAB), "chat", "server", "--mode", "room", "--no-notices", "--quiet",
            "--engine", "mio", "--host", "127.0.0.1", "--port", "0"]
    if nats:
        argv += ["--nats", nats, "--server-id", sid]
    return start(argv, "linked to the broker" if nats else None)


def tokio_room(nats=None, sid=None):
    if nats:
        return start([str(PEER_BIN / "room_nats"), "--port", "0", "--nats", nats, "--server-id", sid])
    return start([str(PEER_BIN / "room"), "--port", "0"])


SETUPS = {
    "commlab, one server": (commlab_room, False),
    "commlab, three servers + NATS": (commlab_room, True),
    "tokio, one room": (tokio_room, False),
    "tokio + async-nats, three rooms + NATS": (tokio_room, True),
}


def measure(name, run):
    make, federated = SETUPS[name]
    procs, ports, nats = [], [], None
    try:
        if federated:
            b, bport = broker()
            nats = b
            url = f"nats://127.0.0.1:{bport}"
            for sid in ("a", "b", "c"):
                p, port = make(url, sid)
                procs.append(p)
                ports.append(port)
        else:
            p, port = make()
            procs.append(p)
            ports.append(port)
        lines = max(1, round(DELIVERIES / (SENDERS * (CLIENTS - 1))))
        target = (["--servers", ",".join(f"127.0.0.1:{p}" for p in ports)]
                  if federated else ["--port", str(ports[0])])
        watched = procs + ([nats] if nats else [])
        before = [cpu_seconds(p.pid) for p in watched]
        r = subprocess.run([str(COMMLAB), "load", "chat", *target, "--clients", str(CLIENTS),
                            "--senders", str(SENDERS), "--lines", str(lines), "--timeout", "120",
                            "--json"], capture_output=True, text=True, timeout=300)
        cpu = [cpu_seconds(p.pid) - b for p, b in zip(watched, before)]
        rss = [peak_rss_kib(p.pid) for p in procs]
        broker_rss = peak_rss_kib(nats.pid) if nats else None
    finally:
        for p in procs:
            stop(p)
            p.log.unlink(missing_ok=True)
        if nats:
            stop(nats)
    row = {"setup": name, "run": run, "servers_peak_kib": rss, "broker_peak_kib": broker_rss,
           "servers_cpu_s": sum(cpu[:len(procs)]), "broker_cpu_s": cpu[len(procs)] if nats else 0.0}
    out = r.stdout.strip().splitlines()
    try:
        row.update(json.loads(out[-1]))
    except (IndexError, json.JSONDecodeError):
        row["failed"] = (r.stderr.strip().splitlines() or ["no output"])[-1]
    if r.returncode != 0 and "failed" not in row:
        row["failed"] = (r.stderr.strip().splitlines() or ["load failed"])[-1]
    return row


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0


def summary(rows):
    """Per setup: medians of the runs, and the runs' failures."""
    out = {}
    for name in SETUPS:
        mine = [r for r in rows if r["setup"] == name and "failed" not in r]
        failed = [r["failed"] for r in rows if r["setup"] == name and "failed" in r]
        if not mine:
            out[name] = {"failed": failed}
            continue
        per_s = median([r["per_second"] for r in mine])
        deliveries = median([r["ok"] for r in mine])
        out[name] = {
            "per_second": per_s,
            "p99_ms": median([r["p99_ms"] for r in mine]),
            "lost": sum(r["lost"] + r["wrong"] for r in mine),
            "peak_mib": median([sum(k or 0 for k in r["servers_peak_kib"]) / 1024 for r in mine]),
            "largest_mib": median([max(k or 0 for k in r["servers_peak_kib"]) / 1024 for r in mine]),
            "broker_mib": median([(r["broker_peak_kib"] or 0) / 1024 for r in mine]),
            "cpu_ms_per_k": median([1e6 * r["servers_cpu_s"] / max(r["ok"], 1) for r in mine]),
            "broker_cpu_ms_per_k": median([1e6 * r["broker_cpu_s"] / max(r["ok"], 1) for r in mine]),
            "deliveries": deliveries,
            "failed": failed,
        }
    return out


def report(results):
    s = results["summary"]
    m = results["machine"]
    one, fed = s["commlab, one server"], s["commlab, three servers + NATS"]
    peer = s["tokio + async-nats, three rooms + NATS"]
    rows = []
    for name, f in s.items():
        if "per_second" not in f:
            rows.append(f"| {name} | failed: {'; '.join(f['failed'])} | | | | | |")
            continue
        federated = SETUPS[name][1]
        memory = f"{f['peak_mib']:.1f} (largest {f['largest_mib']:.1f})" if federated else f"{f['peak_mib']:.1f}"
        broker = f"{f['broker_mib']:.1f}" if federated else "–"
        cpu = (f"{f['cpu_ms_per_k']:.3f} + {f['broker_cpu_ms_per_k']:.3f}" if federated
               else f"{f['cpu_ms_per_k']:.3f}")
        rows.append(f"| {name} | {f['per_second'] / 1e6:.2f}M | {f['p99_ms']:.1f} | {f['lost']} "
                    f"| {memory} | {broker} | {cpu} |")

    def verdict(ok):
        return "met" if ok else "**not met**"

    targets = []
    if all("per_second" in f for f in (one, fed, peer)):
        targets = [
            f"- No line lost while the broker is up: {verdict(fed['lost'] == 0)} "
            f"({fed['lost']} lost or wrong over {results['runs']} runs).",
            f"- The federation at least 50% of one server's deliveries/s: "
            f"{verdict(fed['per_second'] >= 0.5 * one['per_second'])} "
            f"({fed['per_second'] / one['per_second']:.0%}).",
            f"- At least the tokio + async-nats federation's deliveries/s: "
            f"{verdict(fed['per_second'] >= peer['per_second'])} "
            f"({fed['per_second'] / peer['per_second']:.2f}x), at lower memory: "
            f"{verdict(fed['peak_mib'] < peer['peak_mib'])} "
            f"({fed['peak_mib']:.1f} MiB against {peer['peak_mib']:.1f}, the three servers together).",
        ]
    text = f"""# Federated room benchmarks

Written by `scripts/bench --only federation` (bench/federation.py) on
{m['date']}: {m['cores']} cores ({m['cpu']}), {m['memory_mib']} MiB,
Linux {m['kernel']}, {m['rustc']}. Medians of {results['runs']} alternating
runs.

One room of {CLIENTS:,} clients, {SENDERS} of them sending
{results['lines']} lines each ({SENDERS * (CLIENTS - 1) * results['lines']:,} deliveries per run), driven by
`commlab load chat` (`--servers A,B,C` spreads the clients over three
servers in turn), which checks that every client gets every other
sender's lines once and in order. The servers run with `--no-notices`
(join notices grow as clients²). Three servers share this machine's
{m['cores']} cores with the broker and the load generator, so the
federation is measured here for its cost, not its reach: its point is
more machines.

| Setup | Deliveries/s | p99 (ms) | Lost or wrong | Servers' peak memory (MiB) | Broker (MiB) | CPU ms per 1,000 deliveries (servers + broker) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## Targets

{chr(10).join(targets) or '- not evaluated: a setup failed (above).'}

## Reading the figures

- Deliveries/s counts lines received by clients, from the first send to
  the last delivery; p99 is from sending to each delivery.
- Memory is each server's VmHWM, summed over the three servers (the
  largest one in brackets); the broker's is apart.
- CPU is user + system time of the server processes (and of
  `nats-server`) during the load, from /proc/PID/stat, divided by the
  deliveries.
- CPU times are counted in clock ticks (10 ms), so the broker's few
  ticks per run are coarse.
- In a federation each line crosses the broker once: the servers publish
  {SENDERS * results['lines']:,} messages per run in all (one per line
  sent) and the broker delivers each to the two other servers; the rest
  of the work, one copy per local client, is the same as in one room. Where the federation is slower than one server, the
  cost is the extra processes and the broker on the same {m['cores']}
  cores, which the CPU column shows.
"""
    (ROOT / "docs" / "benchmarks-federation.md").write_text(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one run")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="rewrite the page from the last results")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "federation.json"
    if args.report_only:
        return report(json.loads(path.read_text()))
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "commlab", "--bin", "commlab"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT / "bench" / "peers" / "rust", check=True)
    runs = 1 if args.quick else args.runs
    names = list(SETUPS)
    rows = []
    for run in range(1, runs + 1):
        k = (run - 1) % len(names)
        for name in names[k:] + names[:k]:
            row = measure(name, run)
            rows.append(row)
            shown = row.get("failed") or (f"{row['per_second']:,.0f}/s p99 {row['p99_ms']:.1f} ms, "
                                          f"lost {row['lost'] + row['wrong']}, servers "
                                          f"{[round((k or 0) / 1024, 1) for k in row['servers_peak_kib']]} MiB")
            print(f"run {run} {name:40} {shown}", flush=True)
    lines = max(1, round(DELIVERIES / (SENDERS * (CLIENTS - 1))))
    results = {"machine": machine(), "runs": runs, "lines": lines, "rows": rows,
               "summary": summary(rows)}
    path.write_text(json.dumps(results, indent=1))
    report(results)
    print(f"results: {path}\nreport: docs/benchmarks-federation.md")


if __name__ == "__main__":
    sys.exit(main())
