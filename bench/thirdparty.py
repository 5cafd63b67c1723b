"""The request/answer servers under a load tool commlab did not write
(`scripts/bench --only thirdparty`, or `python3 bench/thirdparty.py`).

`wrk` (Debian's), with Lua scripts that check every answer
(bench/wrk/calc.lua, bench/wrk/rpc.lua), against commlab's REST calc and
XML-RPC servers on both engines and their peers: axum (calc),
`dxr_server` (XML-RPC) and hyper answering a fixed 200 (the HTTP floor),
in one sitting, alternating. For every server: requests/s, server CPU µs
per request (from /proc/PID/stat before and after), syscalls per request
(`strace -c -f` attached during a short separate run), peak memory
(VmHWM), and the answers `wrk` found wrong. Writes
target/bench/thirdparty.json and docs/benchmarks-thirdparty.md.
Loopback only; every run is bounded.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import COMMLAB, OUT, PEER_BIN, ROOT, machine, peak_rss_kib, start, stop  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
WRK = ROOT / "bench" / "wrk"
CLIENTS = 32


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def own(kind, engine):
    return [str(COMMLAB), kind, "server", "--host", "127.0.0.1", "--port", "0", "--quiet",
            "--engine", engine]


SERVERS = {
    "calc": [("commlab std", own("calc", "std")), ("commlab mio", own("calc", "mio")),
             ("axum", [str(PEER_BIN / "calc"), "--port", "0"])],
    "rpc": [("commlab std", own("rpc", "std")), ("commlab mio", own("rpc", "mio")),
            ("dxr_server", [str(PEER_BIN / "rpc"), "--port", "0"]),
            ("hyper floor", [str(PEER_BIN / "floor"), "--port", "0"])],
}


def wrk(kind, port, seconds):
    r = subprocess.run(["wrk", "-t2", f"-c{CLIENTS}", f"-d{int(seconds)}s", "--latency",
                        "-s", str(WRK / f"{kind}.lua"), f"http://127.0.0.1:{port}"],
                       capture_output=True, text=True, timeout=seconds + 60)
    total = re.search(r"(\d+) requests in", r.stdout)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    wrong = re.search(r"wrong: (\d+)", r.stdout)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", r.stdout)
    if not (total and rate):
        return {"failed": (r.stdout + r.stderr).strip()[-200:]}
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    return {"requests": int(total.group(1)), "per_second": float(rate.group(1)),
            "wrong": int(wrong.group(1)) if wrong else None,
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None}


def syscalls(kind, argv, seconds):
    """Syscalls per request: strace -c -f on the server during a short run."""
    p, port = start(argv)
    try:
        trace = subprocess.Popen(["strace", "-c", "-f", "-p", str(p.pid)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        got = wrk(kind, port, seconds)
        trace.send_signal(2)
        _, err = trace.communicate(timeout=30)
    finally:
        stop(p)
    # The table's last line: "100.00  SECONDS  USECS/CALL  CALLS  [ERRORS] total".
    total = [line.split() for line in err.splitlines() if line.strip().endswith(" total")]
    calls = int(total[-1][3]) if total and len(total[-1]) >= 5 else None
    if calls is None or "requests" not in got:
        return None
    return calls / max(got["requests"], 1)


def measure(kind, name, argv, seconds, run):
    p, port = start(argv)
    try:
        before = cpu_seconds(p.pid)
        got = wrk(kind, port, seconds)
        cpu = cpu_seconds(p.pid) - before
        rss = peak_rss_kib(p.pid)
    finally:
        stop(p)
    row = {"kind": kind, "server": name, "run": run, "peak_kib": rss, **got}
    if "requests" in got:
        row["cpu_us"] = cpu * 1e6 / max(got["requests"], 1)
    return row


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def report(results):
    m = results["machine"]
    lines = [
        "# Request/answer servers under wrk",
        "",
        f"Written by `scripts/bench --only thirdparty` (bench/thirdparty.py) on {m['date']}:",
        f"{m['cores']} cores ({m['cpu']}), Linux {m['kernel']}, {m['rustc']}. `wrk -t2 -c{CLIENTS}`,",
        f"{results['seconds']} s per run, medians of {results['runs']} alternating runs; every answer",
        "checked by the Lua scripts in bench/wrk/ (the fixed-200 floor's answers are not",
        "XML-RPC, so they count as wrong by design). CPU is the server's user + system",
        "time per request; syscalls per request come from `strace -c -f` on a separate",
        "short run (strace slows the server; its rate is not used).",
        "",
    ]
    for kind, title in [("calc", "REST calc (`GET /api/soma/4/5`)"),
                        ("rpc", "XML-RPC (`add(2, 3)` posted to `/RPC2`)")]:
        lines += [f"## {title}", "",
                  "| server | requests/s | p99 (ms) | server CPU µs/request | syscalls/request | peak memory (MiB) | wrong |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, _ in SERVERS[kind]:
            rows = [r for r in results["rows"] if r["kind"] == kind and r["server"] == name and "requests" in r]
            if not rows:
                lines.append(f"| {name} | failed | | | | | |")
                continue
            sc = results["syscalls"].get(f"{kind}/{name}")
            lines.append(
                f"| {name} | {median([r['per_second'] for r in rows]):,.0f} "
                f"| {median([r['p99_ms'] for r in rows]) or 0:.2f} "
                f"| {median([r['cpu_us'] for r in rows]):.1f} "
                f"| {'' if sc is None else f'{sc:.2f}'} "
                f"| {median([(r['peak_kib'] or 0) / 1024 for r in rows]):.1f} "
                f"| {sum(r['wrong'] or 0 for r in rows)} |")
        lines.append("")
    lines += [
        "## Reading the figures",
        "",
        "- `wrk` and the server share this machine's cores. commlab's mio engine is",
        "  one event-loop thread; tokio's runtime (axum, dxr_server, the hyper floor)",
        "  runs a worker per core, so it gets more of the machine while `wrk` waits.",
        "  Requests/s therefore favour the multi-threaded servers here, and vary",
        "  between runs by up to a third; server CPU per request is the steadier",
        "  figure, and the one that says how much machine a server needs.",
        "- `commlab load` (docs/benchmarks.md) drives the servers from one mio loop",
        "  with far less CPU per request than `wrk` with a checking Lua script, so",
        "  it leaves the servers more of the machine: its requests/s ratios are",
        "  larger than `wrk`'s for that reason, not because either tool miscounts",
        "  (both check every answer).",
        "- Syscalls per request: the mio engine makes one `recvfrom` and one",
        "  `sendto` per request, as tokio does (it used to read again until",
        "  `WouldBlock`: 3.08 per request); the std engine's reader and writer",
        "  threads add futex wake-ups.",
        "",
    ]
    (ROOT / "docs" / "benchmarks-thirdparty.md").write_text("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    for tool, how in [("wrk", "apt-get install wrk"), ("strace", "apt-get install strace")]:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: {how}")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "commlab", "--bin", "commlab"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT / "bench" / "peers" / "rust", check=True)
    runs = 1 if args.quick else args.runs
    seconds = 2.0 if args.quick else args.seconds
    rows = []
    for run in range(1, runs + 1):
        for kind, servers in SERVERS.items():
            k = (run - 1) % len(servers)
            for name, argv in servers[k:] + servers[:k]:
                row = measure(kind, name, argv, seconds, run)
                rows.append(row)
                shown = row.get("failed") or (f"{row['per_second']:,.0f}/s, {row['cpu_us']:.1f} µs CPU/req, "
                                              f"wrong {row['wrong']}")
                print(f"run {run} {kind:4} {name:12} {shown}", flush=True)
    calls = {}
    for kind, servers in SERVERS.items():
        for name, argv in servers:
            calls[f"{kind}/{name}"] = syscalls(kind, argv, 2)
            print(f"syscalls {kind:4} {name:12} {calls[f'{kind}/{name}']}", flush=True)
    results = {"machine": machine(), "runs": runs, "seconds": seconds, "rows": rows, "syscalls": calls}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "thirdparty.json").write_text(json.dumps(results, indent=1))
    report(results)
    print("report: docs/benchmarks-thirdparty.md")


if __name__ == "__main__":
    sys.exit(main())
