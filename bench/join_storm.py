"""Join storm benchmark (`scripts/bench --only storm`, or `python3 bench/join_storm.py`).

5,000 raw sockets (Python's, not commlab's) join `commlab chat server
--mode room` with notices on and never read; then one more client
connects and the time to its welcome line is measured, and the server's
peak memory (VmHWM) and CPU time (from /proc/PID/stat) are read. Both
engines' figures are not comparable (std has a thread per client); the
mio engine is the one measured, as in the room benchmarks. Writes
target/bench/join_storm.json and prints a table for docs. Targets
(issue 18): greeted within 100 ms while 5,000 others join; the storm's
cost O(n), not O(n²).
"""

import argparse
import json
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import COMMLAB, cpu_seconds, OUT, ROOT, machine, peak_rss_kib, raise_nofile, stop  # noqa: E402

CLIENTS = 5000


def storm(run):
    p = subprocess.Popen([str(COMMLAB), "chat", "server", "--mode", "room", "--engine", "mio",
                          "--host", "127.0.0.1", "--port", "0", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         start_new_session=True, preexec_fn=raise_nofile)
    port = int(p.stdout.readline().rsplit(":", 1)[1])
    socks = []
    try:
        before = cpu_seconds(p.pid)
        began = time.time()
        for _ in range(CLIENTS):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            socks.append(s)
        joined = time.time() - began
        asked = time.time()
        newcomer = socket.create_connection(("127.0.0.1", port))
        newcomer.settimeout(30)
        first = newcomer.recv(64)
        greeted_ms = (time.time() - asked) * 1000
        socks.append(newcomer)
        time.sleep(2)  # the summaries of the storm go out
        row = {"run": run, "clients": CLIENTS, "joins_s": joined, "greeted_ms": greeted_ms,
               "welcome": first.startswith(b"* welcome, you are "),
               "peak_mib": (peak_rss_kib(p.pid) or 0) / 1024,
               "cpu_ms": 1000 * (cpu_seconds(p.pid) - before)}
    finally:
        for s in socks:
            s.close()
        stop(p)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < CLIENTS + 100:
        raise SystemExit(f"the open-file limit ({hard}) is below {CLIENTS + 100}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "commlab", "--bin", "commlab"], cwd=ROOT, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in range(1, args.runs + 1):
        row = storm(run)
        rows.append(row)
        print(f"run {run}: {CLIENTS} joins in {row['joins_s']:.2f} s; newcomer greeted in "
              f"{row['greeted_ms']:.1f} ms; server peak {row['peak_mib']:.1f} MiB; "
              f"CPU {row['cpu_ms']:.0f} ms", flush=True)
    med = lambda k: sorted(r[k] for r in rows)[len(rows) // 2]  # noqa: E731
    summary = {k: med(k) for k in ("greeted_ms", "peak_mib", "cpu_ms")}
    (OUT / "join_storm.json").write_text(json.dumps({"machine": machine(), "rows": rows,
                                                     "median": summary}, indent=1))
    print(f"median: greeted in {summary['greeted_ms']:.1f} ms (target < 100), peak "
          f"{summary['peak_mib']:.1f} MiB, CPU {summary['cpu_ms']:.0f} ms for the storm")


if __name__ == "__main__":
    sys.exit(main())
