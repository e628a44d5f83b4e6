"""tickcast's side of the benchmark scenarios with this repository's tools alone:
`tickcast serve` started as bench/run.py starts it, loaded by `tickcast bots`.

    python bench/bots.py                 # smoke rooms crowd idle2000
    python bench/bots.py rooms crowd     # some of them
    python bench/bots.py rooms --workers 2

Each scenario has the shape of the one of the same name in docs/benchmarks.md
(rooms x players, tick rate, inputs per second, payload bytes). The server's CPU
is sampled from /proc/PID/stat (Linux) every 0.1 s and taken over the window in
which the bots send (the summary's `started_at` and `duration`: not their connect,
settle and close), its memory from /proc/PID/status: VmRSS before the first
connection and VmHWM (the peak) at the end. Deliveries and latencies are what
the bots measured (input sent to its tick received at the sender). The bots are
Python clients on the same machine: `bots cpu%` near 100 (per worker) means they,
not the server, set the pace, and their latency is then mostly their own
backlog; the server's deliveries per CPU-second stay sound as long as every
input was delivered (`bots OK`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# name: (rooms, players per room, tick Hz, inputs/s per player, payload bytes, seconds)
SCENARIOS = {
    "smoke": (4, 4, 30, 10, 16, 5),
    "rooms": (64, 8, 30, 30, 16, 20),
    "crowd": (1, 300, 20, 2, 16, 20),
    "idle2000": (250, 8, 30, 0, 16, 10),
}
DEFAULT = ["smoke", "rooms", "crowd", "idle2000"]
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` so far (fields 14 and 15 of its stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def status_kb(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


class CpuSampler(threading.Thread):
    """(Unix time, CPU seconds) of a process every `interval` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append((time.time(), cpu_seconds(self.pid)))
            self.done.wait(self.interval)

    def at(self, when: float) -> float:
        """CPU seconds at `when`, interpolated between the samples around it."""
        times = [t for t, _ in self.samples]
        i = min(max(1, bisect_left(times, when)), len(times) - 1)
        (t0, c0), (t1, c1) = self.samples[i - 1], self.samples[i]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1


def run(name: str, workers: int) -> dict[str, object]:
    rooms, per_room, tick, rate, payload, seconds = SCENARIOS[name]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get(
        "PYTHONPATH", ""))
    server = subprocess.Popen(
        [sys.executable, "-m", "tickcast", "serve", "--host", "127.0.0.1", "--port", "0",
         "--tick-rate", str(tick), "--no-http", "--no-record", "--log-level", "WARNING"],
        env=env, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        m = re.search(r"tcp://[^:]+:(\d+)", line)
        if m is None:
            raise SystemExit(f"tickcast serve did not start: {line!r}")
        port = m.group(1)
        rss_before = status_kb(server.pid, "VmRSS")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bots.json"
            cmd = [sys.executable, "-m", "tickcast", "bots", "--port", port,
                   "--rooms", str(rooms), "--per-room", str(per_room),
                   "--input-rate", str(rate), "--payload-bytes", str(payload),
                   "--duration", str(seconds), "--room-prefix", f"bench-{name}",
                   "--workers", str(workers), "--no-live", "--json", str(out)]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            sampler = CpuSampler(server.pid)
            sampler.start()
            t0 = time.monotonic()
            bots = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
            wall = time.monotonic() - t0
            sampler.done.set()
            sampler.join()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the bots (and workers)
            peak = status_kb(server.pid, "VmHWM")
            summary = json.loads(out.read_text()) if out.exists() else {}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    start, window = float(summary.get("started_at", 0.0)), float(summary.get("duration", 0.0))
    if not (start and window):
        raise SystemExit(f"{name}: tickcast bots wrote no summary (exit {bots.returncode})")
    server_cpu = sampler.at(start + window) - sampler.at(start)
    bots_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    deliveries = int(summary.get("deliveries", 0))
    clients = int(summary.get("connected", 0))
    return {
        "scenario": name,
        "clients": f"{clients}/{rooms * per_room}",
        "deliveries": deliveries,
        "srv cpu%": round(100 * server_cpu / window, 1),
        # deliveries during the window (the settle adds a few, well under 1 %)
        "deliv/cpu-s": round(deliveries / server_cpu) if server_cpu else 0,
        "p50 ms": summary.get("latency_ms_p50", 0.0),
        "p99 ms": summary.get("latency_ms_p99", 0.0),
        "max ms": summary.get("latency_ms_max", 0.0),
        "peak rss MB": round(peak / 1024, 1),
        "KB/client": round((peak - rss_before) / clients, 1) if clients else 0.0,
        "bots cpu%": round(100 * bots_cpu / wall, 1),  # over their whole run
        "bots": "OK" if summary.get("ok") and bots.returncode == 0 else "FAILED",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scenarios", nargs="*", help=f"some of {', '.join(SCENARIOS)}")
    ap.add_argument("--workers", type=int, default=1, help="tickcast bots --workers [1]")
    a = ap.parse_args()
    unknown = [s for s in a.scenarios if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}")
    rows = [run(name, a.workers) for name in a.scenarios or DEFAULT]
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[c]).rjust(w) for c, w in zip(columns, widths, strict=True)))
    return 0 if all(r["bots"] == "OK" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
