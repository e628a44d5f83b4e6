"""Micro-benchmark of the tick logs' own cost: one cycle's write, and one catch-up read.

The `rooms` shape at the default 8 tick phases: 64 rooms, 30 Hz, so each cycle
(one firing of the ticker) holds the ticks of 8 rooms, ~250 bytes each. This
measures, in the calling thread (no writer thread, no event loop), the CPU
time (process time: user + system) of `write_cycle` for the segment log and
the SQLite log, and of reading 256 ticks of one match back (a late joiner's
chunk), the 64 rooms' ticks being interleaved on disk.

    PYTHONPATH=src python bench/ticklog.py [--cycles 20000] [--dir /tmp/x]

Run it on the disk the data dir lives on (the default dir is under /tmp).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tickcast.store.log import Cycle, MatchStart, Presence, TickLog
from tickcast.store.segments import SegmentTickLog
from tickcast.store.sqlite import SQLiteTickLog

ROOMS, PHASES = 64, 8


def frame(room: int, n: int) -> bytes:
    return (b"%d.%d|" % (room, n)).ljust(250, b".")  # no byte 0x1a or 0x22: no presence


def cycles(count: int) -> list[Cycle]:
    out = []
    for i in range(count):
        phase = i % PHASES
        n = i // PHASES + 1
        rooms = range(phase, ROOMS, PHASES)
        c = Cycle(ticks=[(r + 1, n, frame(r, n)) for r in rooms])
        if n == 1:
            c.begins = [MatchStart(r + 1, f"room{r}", 30, 0.0) for r in rooms]
            c.presence = [Presence(r + 1, 1, ((1, "p"),)) for r in rooms]
        out.append(c)
    return out


def measure(name: str, log: TickLog, work: list[Cycle]) -> None:
    times = []
    t_all = time.process_time()
    for c in work:
        t = time.perf_counter()
        log.write_cycle(c)
        times.append(time.perf_counter() - t)
    cpu = (time.process_time() - t_all) / len(work)
    q = statistics.quantiles(times, n=100)
    reads = []
    last = len(work) // PHASES
    for first in range(1, max(2, last - 256), max(1, last // 20)):
        t = time.perf_counter()
        rows = log.read_ticks(5, first, None, 256)
        reads.append(time.perf_counter() - t)
        assert rows and rows[0][0] == first
    print(
        f"{name:18s} write_cycle: CPU {cpu * 1e6:6.1f} us/cycle, wall p50 {q[49] * 1e6:6.1f} "
        f"p99 {q[98] * 1e6:7.1f} us | read of 256 ticks: p50 "
        f"{statistics.median(reads) * 1e3:.2f} ms | {log.size_bytes() / len(work):.0f} B/cycle"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cycles", type=int, default=20000)
    p.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = p.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="ticklog-bench"))
    work = cycles(args.cycles)
    print(f"{args.cycles} cycles of {ROOMS // PHASES} ticks of {len(frame(1, 1))} B, in {base}")
    try:
        for durability in ("normal", "full"):
            for kind in ("segments", "sqlite"):
                d = base / f"{kind}-{durability}"
                shutil.rmtree(d, ignore_errors=True)
                n = len(work) if durability == "normal" else min(len(work), 2000)
                lg: TickLog
                if kind == "segments":
                    lg = SegmentTickLog(d, durability=durability)
                else:
                    lg = SQLiteTickLog(d, durability=durability, background_checkpoints=True)
                try:
                    measure(f"{kind} {durability}", lg, work[:n])
                finally:
                    lg.close()
                shutil.rmtree(d, ignore_errors=True)
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
