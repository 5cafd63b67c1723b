"""The benchmark driver behind `scripts/bench` (see that script and docs/benchmarks.md).

Builds commlab and the Rust peers in release mode, makes a virtual
environment with `websockets` for the Python peer, then for every run, every
scenario, every client count, starts each server in turn (the order rotates
from run to run so no server always goes first), waits for its
`listening on HOST:PORT` line, runs `commlab load ... --json` against it,
reads the server's CPU time (so CPU per operation), the load generator's,
and the server's peak memory (VmHWM), and stops it; then one short run per
server with its syscalls counted (`perf stat -e raw_syscalls:sys_enter`
where perf can, else `strace -c -f`) for its syscalls per operation. Results go to
target/bench/results.json; `bench/report` turns them into docs/benchmarks.md
and SVG charts.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
COMMLAB = ROOT / "target" / "release" / "commlab"
PEERS = ROOT / "bench" / "peers" / "rust"
PEER_BIN = PEERS / "target" / "release"
PY = ROOT / "bench" / "peers" / "python"
VENV = OUT / "venv"
VPY = VENV / "bin" / "python"

# One million deliveries per chat run whatever the room size.
CHAT_DELIVERIES = 1_000_000
CHAT_SENDERS = 100
# A chat run lasts a fraction of a second, where this machine's noise is
# largest: each run measures every chat server this many times.
CHAT_REPEATS = 3
# Servers that hold a thread per client are not run past this many clients.
THREADED_MAX_CLIENTS = 1000
# Chat CPU per delivery without the clients' connection set-up: the room
# at this many clients runs with one line per sender, then with each of
# these many; the extra CPU over the extra deliveries is what a delivery
# costs (a run of one line per sender is mostly connecting).
MARGINAL_CLIENTS = 10_000
MARGINAL_LINES = (10, 30)
# The client count of each scenario's syscall count (one counted run per server).
SYSCALL_CLIENTS = {"rpc": 32, "floor": 32, "calc": 32, "ws": 100, "chat": 1000}
TICK = os.sysconf("SC_CLK_TCK")


def servers(scenario):
    """(name, argv) of every server measured in a scenario."""
    # --quiet: no log line per request, message or connection (the peers log none).
    own = {k: (lambda k, extra: lambda e: [str(COMMLAB), k, "server", "--host", "127.0.0.1", "--port",
                                           "0", "--quiet", "--engine", e] + extra)(k, extra)
           for k, extra in [("rpc", []), ("calc", []), ("ws", []),
                            ("chat", ["--mode", "room", "--no-notices"])]}
    peer = {"rpc": "rpc", "calc": "calc", "ws": "ws_sum", "chat": "room"}
    python = {"rpc": "rpc_calc.py", "calc": "calc.py", "ws": "ws_sum.py", "chat": "chat_room.py"}
    if scenario == "floor":
        return [("hyper floor", [str(PEER_BIN / "floor"), "--port", "0"])]
    return [
        ("commlab std", own[scenario]("std")),
        ("commlab mio", own[scenario]("mio")),
        ("rust peer", [str(PEER_BIN / peer[scenario]), "--port", "0"]),
        ("python", [str(VPY), str(PY / python[scenario]), "--port", "0"]),
    ]


def load_args(scenario, clients, seconds, lines=None):
    d = ["--duration", str(seconds)]
    if scenario == "rpc":
        return ["rpc", "--clients", str(clients)] + d
    if scenario == "floor":
        return ["http", "--path", "/RPC2", "--clients", str(clients)] + d
    if scenario == "calc":
        return ["calc", "--clients", str(clients)] + d
    if scenario == "ws":
        return ["ws", "--clients", str(clients)] + d
    senders = min(CHAT_SENDERS, clients)
    lines = lines or max(1, round(CHAT_DELIVERIES / (senders * (clients - 1))))
    return ["chat", "--clients", str(clients), "--senders", str(senders), "--lines", str(lines),
            "--timeout", "120"]


def peak_rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def raise_nofile():
    """Every server may open as many sockets as the machine allows."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                         preexec_fn=raise_nofile)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if line.startswith("listening on "):
            # Keep reading its log so a full pipe never blocks the server.
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            return p, int(line.rsplit(":", 1)[1])
    stop(p)
    raise RuntimeError(f"{argv[0]} did not announce its port")


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGINT)
        p.wait(timeout=10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def cpu_seconds(pid):
    """User + system CPU time of a process and all its threads, in seconds
    (0 for a process that is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def thread_cpu_ns(pid):
    """Each live thread's CPU time in nanoseconds, from
    /proc/PID/task/TID/schedstat (the scheduler's exact run time, where
    /proc/PID/stat counts in clock ticks): {tid: ns}, empty when unreadable."""
    got = {}
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                got[task.name] = int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                return {}
    except OSError:
        return {}
    return got


def fine_cpu_seconds(before, after):
    """The CPU seconds between two thread_cpu_ns readings, or None when a
    thread came or went between them (an exited thread's time is gone from
    /proc/PID/task: the caller falls back to tick counts)."""
    if not before or before.keys() != after.keys():
        return None
    return sum(after[t] - before[t] for t in after) / 1e9


def children_cpu():
    """CPU seconds of every child this script has waited for so far: read
    before and after a load, the load tool's own CPU."""
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


_PERF_COUNTS = None


def perf_counts_syscalls():
    """Whether `perf stat` can count the raw_syscalls:sys_enter tracepoint
    here (perf installed, tracepoints readable): checked once."""
    global _PERF_COUNTS
    if _PERF_COUNTS is None:
        try:
            r = subprocess.run(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"],
                               capture_output=True, text=True, timeout=30)
            _PERF_COUNTS = r.returncode == 0 and any(
                line.split(",")[0].isdigit() for line in r.stderr.splitlines())
        except (OSError, subprocess.TimeoutExpired):
            _PERF_COUNTS = False
    return _PERF_COUNTS


def syscall_tool():
    """The tool syscalls are counted with, always on a separate short run:
    "perf" (counts in the kernel, barely slowing the server) or "strace"
    (slows the server enough to change how it batches, so it undercounts
    for servers that batch)."""
    return "perf" if perf_counts_syscalls() else "strace"


def require_syscall_counter():
    """Stops with how to install one when neither perf nor strace can count."""
    if syscall_tool() == "strace" and shutil.which("strace") is None:
        raise SystemExit("counting syscalls needs perf with access to tracepoints "
                         "(apt-get install linux-perf) or strace (apt-get install strace)")


def count_syscalls(pid, run):
    """Runs `run()` while counting the syscalls of process `pid` and all its
    threads: (what run returned, the count, or None when counting failed)."""
    if syscall_tool() == "perf":
        cmd = ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", str(pid)]
    else:
        cmd = ["strace", "-c", "-f", "-p", str(pid)]
    counter = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    try:
        got = run()
    finally:
        counter.send_signal(signal.SIGINT)
        _, err = counter.communicate(timeout=60)
    if cmd[0] == "perf":
        # CSV: "COUNT,,raw_syscalls:sys_enter,...".
        counts = [line.split(",")[0] for line in err.splitlines() if "raw_syscalls:sys_enter" in line]
        return got, (int(counts[-1]) if counts and counts[-1].isdigit() else None)
    # The table's last line: "100.00  SECONDS  USECS/CALL  CALLS  [ERRORS] total".
    total = [line.split() for line in err.splitlines() if line.strip().endswith(" total")]
    return got, (int(total[-1][3]) if total and len(total[-1]) >= 5 else None)


def measure(scenario, name, argv, clients, seconds, run, syscalls=False, lines=None):
    """One load against a fresh server: the load's figures, the server's
    peak memory and CPU per operation; with `syscalls`, a short separate
    run with its syscalls counted instead (only the count per operation is
    kept: strace, where perf cannot count, slows the server); `lines` per
    sender in a chat run instead of the default. CPU is the scheduler's exact figure when the server's
    threads stayed the same through the load (`cpu_source` "schedstat"),
    else /proc/PID/stat's clock ticks ("ticks")."""
    p, port = start(argv)
    try:
        cmd = [str(COMMLAB), "load"] + load_args(scenario, clients, seconds, lines) + ["--port", str(port), "--json"]
        before, tool_before = cpu_seconds(p.pid), children_cpu()
        threads_before = thread_cpu_ns(p.pid)
        if syscalls:
            r, calls = count_syscalls(p.pid, lambda: subprocess.run(cmd, capture_output=True, text=True,
                                                                  timeout=300))
        else:
            r, calls = subprocess.run(cmd, capture_output=True, text=True, timeout=300), None
        cpu, tool_cpu = cpu_seconds(p.pid) - before, children_cpu() - tool_before
        fine = fine_cpu_seconds(threads_before, thread_cpu_ns(p.pid))
        rss = peak_rss_kib(p.pid)
    finally:
        stop(p)
    row = {"scenario": scenario, "server": name, "clients": clients, "run": run, "peak_rss_kib": rss,
           "cpu_source": "ticks" if fine is None else "schedstat"}
    if fine is not None:
        cpu = fine
    lines = r.stdout.strip().splitlines()
    try:
        row.update(json.loads(lines[-1]))
    except (IndexError, json.JSONDecodeError):
        row.update({"failed": (r.stderr.strip().splitlines() or ["no output"])[-1]})
    if r.returncode != 0 and "failed" not in row:
        row["failed"] = (r.stderr.strip().splitlines() or ["load failed"])[-1]
    ops = row.get("ok") or 0
    if syscalls:
        return {"scenario": scenario, "server": name, "clients": clients,
                "syscalls_per_op": calls / ops if calls is not None and ops else None}
    if ops:
        row["cpu_us"] = cpu * 1e6 / ops
        row["tool_cpu_us"] = tool_cpu * 1e6 / ops
    return row


def chat_marginal(run):
    """CPU per delivery beyond connection set-up, for the event-loop chat
    servers: a run with one line per sender, then one with each of
    MARGINAL_LINES, each against a fresh server (every run connects every
    client once). One row per server and line count."""
    rows = []
    for name, argv in servers("chat"):
        if name in ("commlab std", "python"):
            continue
        one = measure("chat", name, argv, MARGINAL_CLIENTS, 0, run, lines=1)
        for lines in MARGINAL_LINES:
            more = measure("chat", name, argv, MARGINAL_CLIENTS, 0, run, lines=lines)
            row = {"server": name, "clients": MARGINAL_CLIENTS, "run": run, "lines": lines,
                   "lost": [r.get("lost") for r in (one, more)]}
            failed = one.get("failed") or more.get("failed")
            extra = (more.get("ok") or 0) - (one.get("ok") or 0)
            if failed or extra <= 0 or "cpu_us" not in one or "cpu_us" not in more:
                row["failed"] = failed or "no extra deliveries"
            else:
                cpu = lambda r: r["cpu_us"] * r["ok"]
                row["marginal_us"] = (cpu(more) - cpu(one)) / extra
                row["setup_us_per_client"] = (cpu(one) - row["marginal_us"] * one["ok"]) / MARGINAL_CLIENTS
            rows.append(row)
    return rows


def ft_processes(size, run):
    """A download between two commlab processes (server and client), each
    one's peak memory read by the kernel: VmHWM for the server, the
    client's ru_maxrss from wait4."""
    root, out = OUT / "ft-root", OUT / "ft-out"
    root.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    data = root / "data.bin"
    if not data.exists() or data.stat().st_size != size:
        block = os.urandom(1 << 20)
        with open(data, "wb") as f:
            for _ in range(size >> 20):
                f.write(block)
    got = out / "data.bin"

    def download(server_argv, client_args):
        """Starts a server, runs one client download to `got`: exit status,
        whether the whole file arrived, MiB/s, and both peaks in KiB."""
        p, port = start(server_argv)
        try:
            began = time.time()
            c = subprocess.Popen([str(COMMLAB), "ft", "client", "--host", "127.0.0.1", "--port",
                                  str(port)] + client_args + ["--out", str(got)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL)
            _, status, usage = os.wait4(c.pid, 0)
            seconds = time.time() - began
            server_kib = peak_rss_kib(p.pid)
        finally:
            stop(p)
        whole = got.exists() and got.stat().st_size == size
        got.unlink(missing_ok=True)
        return status, whole, {"mib_s": size / (1 << 20) / seconds,
                               "client_peak_kib": usage.ru_maxrss, "server_peak_kib": server_kib}

    rows = []
    for engine in ("std", "mio"):
        for alg in ("blake3", "sha256"):
            status, _, figures = download(
                [str(COMMLAB), "ft", "server", "--host", "127.0.0.1", "--port", "0",
                 "--root", str(root), "--user", "bench:bench", "--engine", engine],
                ["--user", "bench", "--password", "bench", "--hash", alg, "get", "data.bin"])
            rows.append(dict(figures, engine=engine, hash=alg, run=run, ok=status == 0))
    # The class's raw protocol (bytes until close, no check): commlab's raw
    # server against the class's Python server, the commlab client in raw mode.
    for name, argv in [
        ("commlab raw", [str(COMMLAB), "ft", "server", "--host", "127.0.0.1", "--port", "0",
                         "--engine", "mio", "--raw", str(data)]),
        ("python raw", [str(VPY), str(PY / "ft_server.py"), "--port", "0", "--file", str(data)]),
    ]:
        status, whole, figures = download(argv, ["--raw"])
        rows.append(dict(figures, engine=name, hash="none", run=run, ok=status == 0 and whole))
    return rows


def machine():
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "memory_mib": mem, "cpu": model, "kernel": platform.release(),
            "rustc": rustc, "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def prepare():
    print("building commlab and the Rust peers (release)...", flush=True)
    subprocess.run(["cargo", "build", "--release", "-p", "commlab", "--bin", "commlab",
                    "--example", "ft_bench"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release"], cwd=PEERS, check=True)
    for tool, install in [("openssl", "apt-get install openssl"), ("wrk", "apt-get install wrk"),
                          ("nats-server", "apt-get install nats-server")]:
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            raise SystemExit(f"{tool} is needed for the benchmarks: {install}")
    require_syscall_counter()
    if not VPY.exists():
        print("making a virtual environment with websockets for the Python peer...", flush=True)
        venv.create(VENV, with_pip=True)
    if subprocess.run([str(VPY), "-c", "import websockets"], capture_output=True).returncode != 0:
        subprocess.run([str(VPY), "-m", "pip", "install", "--quiet", "websockets"], check=True)


# The reports written by scripts of their own, run after the main ones:
# name -> (script, what it writes).
SIDE_REPORTS = {
    # openssl s_time, wrk on https://, a download over TLS, idle TLS clients
    "tls": ("tls.py", "docs/benchmarks-tls.md"),
    # three servers through nats-server beside one, and tokio + async-nats
    "federation": ("federation.py", "docs/benchmarks-federation.md"),
    # 5,000 clients that read nothing join a room with notices on
    "storm": ("join_storm.py", "target/bench/join_storm.json"),
    # the mio engine on one loop and on one per core, and a login storm
    "threads": ("threads.py", "docs/benchmarks-threads.md"),
    # perf on the room on every core: where a 10,000-client run's time goes
    "room-profile": ("room_profile.py", "docs/benchmarks-room-profile.md"),
    # calc and XML-RPC under wrk, WebSocket under websocat: CPU and syscalls
    # (docs/benchmarks.md shows them)
    "thirdparty": ("thirdparty.py", "target/bench/thirdparty.json"),
}


def side_reports(only, args):
    """Runs the scripts of SIDE_REPORTS named in `only`."""
    for name, (script, _) in SIDE_REPORTS.items():
        if name not in only:
            continue
        extra = ["--quick"] if args.quick else ["--runs", str(args.runs)]
        if name == "tls" and not args.quick:
            extra = []  # tls.py picks its own number of runs
        subprocess.run([sys.executable, str(ROOT / "bench" / script), *extra, "--no-build"], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each timed load (default 2)")
    ap.add_argument("--quick", action="store_true", help="one run, fewer client counts")
    ap.add_argument("--only", help="comma-separated scenarios (rpc,floor,calc,ws,chat,ft,tls,federation,storm,thirdparty,threads,room-profile)")
    ap.add_argument("--no-report", action="store_true", help="do not write docs/benchmarks.md")
    args = ap.parse_args()
    levels = {
        "rpc": [1, 8, 32, 128], "floor": [1, 8, 32, 128], "calc": [1, 8, 32, 128],
        "ws": [10, 100, 1000], "chat": [100, 1000, 10000],
    }
    if args.quick:
        args.runs = 1
        levels = {k: v[1:3] for k, v in levels.items()}
    only = set(args.only.split(",")) if args.only else set(levels) | {"ft"} | set(SIDE_REPORTS)
    prepare()
    if only <= set(SIDE_REPORTS):
        side_reports(only, args)
        if (OUT / "results.json").exists() and not args.no_report:
            report(OUT / "results.json")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    rows, ft, ft_procs, marginal = [], [], [], []
    for run in range(1, args.runs + 1):
        for scenario, counts in levels.items():
            if scenario not in only:
                continue
            for clients in counts:
                lineup = servers(scenario)
                repeats = CHAT_REPEATS if scenario == "chat" else 1
                for repeat in range(repeats):
                    k = ((run - 1) * repeats + repeat) % len(lineup)
                    for name, argv in lineup[k:] + lineup[:k]:
                        threaded = name in ("commlab std", "python")
                        if scenario == "chat" and threaded and clients > THREADED_MAX_CLIENTS:
                            continue
                        row = measure(scenario, name, argv, clients, args.seconds, run)
                        rows.append(row)
                        shown = row.get("failed") or f"{row.get('per_second', 0):,.0f}/s p99 {row.get('p99_ms', 0):.2f} ms"
                        print(f"run {run} {scenario:5} {clients:>6} clients  {name:12} {shown}", flush=True)
        if "chat" in only and MARGINAL_CLIENTS in levels["chat"]:
            for row in chat_marginal(run):
                marginal.append(row)
                shown = row.get("failed") or f"{row['marginal_us']:.3f} µs a delivery, set-up {row['setup_us_per_client']:.1f} µs a client"
                print(f"run {run} chat  marginal {row['server']:12} {row['lines']:>2} lines {shown}", flush=True)
        if "ft" in only:
            size = str(256 << 20 if args.quick else 1 << 30)
            # The client writes to disk (the usual case, where the disk sets the
            # pace), then to memory (tmpfs), where hashing and copying show.
            places = [("disk", None)] + ([("memory", "/dev/shm")] if Path("/dev/shm").is_dir() else [])
            for where, tmp in places:
                env = dict(os.environ, **({"TMPDIR": tmp} if tmp else {}))
                r = subprocess.run([str(ROOT / "target" / "release" / "examples" / "ft_bench"), size, "--json"],
                                   capture_output=True, text=True, check=True, env=env)
                ft.append(dict(json.loads(r.stdout.strip().splitlines()[-1]), to=where, run=run))
                print(f"run {run} ft    {ft[-1]}", flush=True)
            for row in ft_processes(int(size), run):
                ft_procs.append(row)
                print(f"run {run} ft    processes {row}", flush=True)
    syscalls = []
    for scenario, clients in SYSCALL_CLIENTS.items():
        if scenario not in only:
            continue
        for name, argv in servers(scenario):
            row = measure(scenario, name, argv, clients, 1.0, 0, syscalls=True)
            syscalls.append(row)
            print(f"syscalls {scenario:5} {clients:>6} clients  {name:12} {row['syscalls_per_op']}", flush=True)
    results = {"machine": machine(), "runs": args.runs, "seconds": args.seconds,
               "syscalls": syscalls, "syscalls_by": syscall_tool(),
               "chat_senders": CHAT_SENDERS, "chat_deliveries": CHAT_DELIVERIES,
               "chat_repeats": CHAT_REPEATS,
               "threaded_max_clients": THREADED_MAX_CLIENTS, "rows": rows, "ft": ft,
               "ft_processes": ft_procs, "chat_marginal": marginal}
    side_reports(only, args)
    path = OUT / "results.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"results: {path}")
    if not args.no_report:
        report(path)


def report(results):
    """docs/benchmarks.md from `results` and the side reports' JSON beside it."""
    subprocess.run(["cargo", "run", "--release", "--quiet", "--manifest-path",
                    str(ROOT / "bench" / "report" / "Cargo.toml"), "--", str(results),
                    str(ROOT / "docs")], check=True)
    print("report: docs/benchmarks.md")


if __name__ == "__main__":
    sys.exit(main())
