"""Where the room's time goes on every core (`scripts/bench --only
room-profile`, or `python3 bench/room_profile.py`): `perf record` on the
chat room server (mio, one loop per core, --no-notices) while `commlab
load chat` runs ROOM_CLIENTS clients with 100 senders, once with one line
per sender (the issue's figure: mostly connecting) and once with LINES
(mostly delivering). For each, the share of the server's samples in
user space (commlab's own code) and in the kernel by what it does
(connecting, closing, reading, sending, syscalls and scheduling), and
the symbols that take the most.

Writes target/bench/room_profile.json and
docs/benchmarks-room-profile.md. Needs perf (apt-get install linux-perf).
Loopback only; every run is bounded.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import COMMLAB, OUT, ROOT, machine, start, stop  # noqa: E402

ROOM_CLIENTS = 10_000
LINES = 10
TOP = 12

# What a kernel symbol does, by the first pattern its name matches (user
# space is one kind: commlab's own code, std's and libc's); anything else
# is "other kernel".
KINDS = [
    ("connecting", r"accept|syn|tcp_v[46]_connect|tcp_conn_request|epoll_ctl|sock_alloc|"
                   r"tcp_create_openreq|tcp_check_req|sk_clone|tcp_child|alloc_file|fd_install|"
                   r"tcp_init_sock|d_alloc|inet_create"),
    ("closing", r"tcp_close|tcp_fin|inet_release|sock_close|__fput|tcp_done|tcp_time_wait|"
                r"inet_csk_destroy|tcp_v[46]_destroy|sk_free|tcp_send_fin|tcp_send_active_reset"),
    ("reading", r"recvmsg|recvfrom|_copy_to_iter|tcp_cleanup_rbuf|skb_copy_datagram_iter|"
                r"tcp_rcv_space"),
    ("sending (the loopback path included)",
     r"sendmsg|sendto|_copy_from_iter|tcp_write|tcp_push|transmit|xmit|^ip_|^dev_|loopback|"
     r"netif|napi|net_rx|softirq|tcp_v[46]_rcv|tcp_rcv|inet_lookup|tcp_ack|tcp_data_queue|"
     r"sock_def_readable|tcp_clean_rtx|skb|kmem_cache|tcp_event|sk_reset_timer|tcp_rate|"
     r"tcp_queue_rcv|ep_poll_callback|tcp_established|tcp_small_queue|tcp_tso|tcp_options|"
     r"tcp_update|__tcp_|tcp_stream|tcp_current_mss|tcp_send_mss|sk_stream|__sk_mem|"
     r"validate_xmit|process_backlog|__netif|raise_softirq|ipv4_|nf_|tcp_mstamp|tcp_schedule"),
    ("syscalls and scheduling", r"finish_task_switch|schedule|epoll_wait|ep_poll|ep_send_events|"
                                r"futex|do_syscall_64|entry_SYSCALL|syscall|fdget|fput|"
                                r"_raw_spin_unlock_irq$|rcu_|__x64_sys|switch_to|pick_next"),
]
USER = "user space (commlab, std, libc)"
ORDER = [USER] + [k for k, _ in KINDS] + ["other kernel"]


def kind_of(sym, kernel):
    if not kernel:
        return USER
    for kind, pattern in KINDS:
        if re.search(pattern, sym):
            return kind
    return "other kernel"


def profile(lines, cores):
    argv = [str(COMMLAB), "chat", "server", "--host", "127.0.0.1", "--port", "0", "--quiet",
            "--engine", "mio", "--threads", str(cores), "--mode", "room", "--no-notices"]
    p, port = start(argv)
    data = OUT / f"room-{lines}.perf.data"
    OUT.mkdir(parents=True, exist_ok=True)
    rec = subprocess.Popen(["perf", "record", "-F", "1999", "-g", "-p", str(p.pid), "-o", str(data)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        r = subprocess.run([str(COMMLAB), "load", "chat", "--clients", str(ROOM_CLIENTS), "--senders", "100",
                            "--lines", str(lines), "--timeout", "120", "--port", str(port), "--json"],
                           capture_output=True, text=True, timeout=300)
    finally:
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=60)
        stop(p)
    load = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
    rep = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio", "--sort", "sym",
                          "--percent-limit", "0.05", "-g", "none"],
                         capture_output=True, text=True, timeout=300)
    symbols = []
    for line in rep.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[([k.])\]\s+(.+?)\s*$", line)
        if m:
            symbols.append({"share": float(m.group(1)) / 100, "kernel": m.group(2) == "k",
                            "symbol": m.group(3)})
    kinds = {}
    for s in symbols:
        k = kind_of(s["symbol"], s["kernel"])
        kinds[k] = kinds.get(k, 0) + s["share"]
    return {"lines": lines, "load": load, "kinds": kinds, "top": symbols[:TOP]}


def pct(x):
    return f"{x:.0%}" if x is not None else "—"


def write_report(res):
    m = res["machine"]
    out = ["# Where the room's time goes on every core", "",
           "<!-- Written by scripts/bench --only room-profile (bench/room_profile.py) from "
           "target/bench/room_profile.json: do not edit by hand, run it again. -->", "",
           f"Measured {m['date']} on {m['cores']} cores ({m['cpu']}), Linux {m['kernel']}, {m['rustc']}: "
           f"`perf record -F 1999 -g` on `commlab chat server --mode room --no-notices --engine mio "
           f"--threads {m['cores']}` while `commlab load chat` runs {ROOM_CLIENTS:,} clients, 100 of them "
           "sending. Shares are of the server's samples (every thread), each symbol counted where it "
           "runs (no children); a kernel symbol's kind is the first pattern in bench/room_profile.py "
           "that its name matches (on loopback, sending runs the receiving side's TCP too).", "",
           "| lines per sender | deliveries | deliveries/s | " + " | ".join(ORDER) + " |",
           "|---:|---:|---:|" + "---:|" * len(ORDER)]
    for p in res["profiles"]:
        load = p["load"]
        cells = [pct(p["kinds"].get(k, 0.0)) for k in ORDER]
        out.append(f"| {p['lines']} | {load.get('ok', 0):,} | {load.get('per_second', 0):,.0f} | "
                   + " | ".join(cells) + " |")
    for p in res["profiles"]:
        out += ["", f"## The symbols that take the most, {p['lines']} line(s) per sender", "",
                "| share | where | symbol | kind |", "|---:|---|---|---|"]
        for s in p["top"]:
            where = "kernel" if s["kernel"] else "user"
            out.append(f"| {s['share']:.1%} | {where} | `{s['symbol'][:80]}` | {kind_of(s['symbol'], s['kernel'])} |")
    out.append("")
    (ROOT / "docs" / "benchmarks-room-profile.md").write_text("\n".join(out))


def main():
    if shutil.which("perf") is None:
        raise SystemExit("perf is needed: apt-get install linux-perf")
    if "--report-only" in sys.argv:
        write_report(json.loads((OUT / "room_profile.json").read_text()))
        return 0
    if "--no-build" not in sys.argv:
        subprocess.run(["cargo", "build", "--release", "-p", "commlab", "--bin", "commlab"], cwd=ROOT, check=True)
    cores = os.cpu_count() or 1
    profiles = []
    for lines in (1, LINES):
        p = profile(lines, cores)
        profiles.append(p)
        shown = ", ".join(f"{k} {v:.0%}" for k, v in sorted(p["kinds"].items(), key=lambda kv: -kv[1]))
        print(f"{lines:2} line(s): {p['load'].get('per_second', 0):,.0f} deliveries/s; {shown}", flush=True)
    res = {"machine": machine(), "profiles": profiles}
    (OUT / "room_profile.json").write_text(json.dumps(res, indent=1))
    write_report(res)
    print("report: docs/benchmarks-room-profile.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
