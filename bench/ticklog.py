"""Micro-benchmark of the tick logs' own cost: one cycle's write, and one catch-up read.

The `rooms` shape at the default 8 tick phases: 64 rooms, 30 Hz, so each cycle
(one firing of the ticker) holds the ticks of 8 rooms, ~250 bytes each. This
measures, in the calling thread (no writer thread, no event loop), the CPU
time (process time: user + system) of `write_cycle` for the segment log and
the SQLite log, and of reading 256 ticks of one match back (a late joiner's
chunk), the 64 rooms' ticks being interleaved on disk.

    PYTHONPATH=src python bench/ticklog.py [--cycles 20000] [--dir /tmp/x]

Run it on the disk the data dir lives on (the default dir is under /tmp).

`--loop` measures instead the whole write scheme on an event loop (uvloop), as
the server would run it: 240 cycles a second (8 phases x 30 Hz), each after
BUSY microseconds of Python work standing in for production and fan-out; the
process CPU (all threads) per cycle, against the same loop recording nothing,
and the record-to-deliver delay. Schemes: `writer` (store/writer.py, the
loop waits up to 2 ms for the writer thread, else goes on), `hop` (a queue to
a writer thread and `call_soon_threadsafe` back: how the SQLite recorder does
it), `sqlite-hop` (the same with the SQLite log), `direct` (the write on the
loop itself: the floor, and unsafe, since a stalled disk would block the loop),
`none`.

    PYTHONPATH=src python bench/ticklog.py --loop [--busy 300] [--seconds 8]
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


def busy(us: float) -> None:
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


async def loop_run(scheme: str, log: TickLog | None, work: list[Cycle], busy_us: float) -> str:
    import asyncio
    import queue
    import resource
    import threading

    from tickcast.store.writer import CycleWriter

    loop = asyncio.get_running_loop()
    delays: list[float] = []
    delivered = [0]

    def deliver(t: float) -> None:
        delays.append(time.perf_counter() - t)
        delivered[0] += 1

    writer = CycleWriter(log, loop) if scheme == "writer" and log is not None else None
    q: queue.SimpleQueue[tuple[Cycle, float] | None] = queue.SimpleQueue()

    def hop() -> None:
        assert log is not None
        while True:
            items = [q.get()]
            while True:
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    break
            if None in items:
                return
            merged = Cycle()
            for c, _ in items:  # type: ignore[misc]
                merged.extend(c)
            log.write_cycle(merged)
            for _, t in items:  # type: ignore[misc]
                loop.call_soon_threadsafe(deliver, t)

    if scheme.endswith("hop"):
        threading.Thread(target=hop, daemon=True).start()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = loop.time()
    for i, c in enumerate(work):
        await asyncio.sleep(max(0.0, t0 + i / (30 * PHASES) - loop.time()))
        busy(busy_us)
        t = time.perf_counter()
        if writer is not None:
            writer.submit(c, lambda err, t=t: deliver(t))
        elif scheme == "direct" and log is not None:
            log.write_cycle(c)
            deliver(t)
        elif scheme.endswith("hop"):
            q.put((c, t))
        else:
            deliver(t)
    while delivered[0] < len(work):
        await asyncio.sleep(0.001)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    q.put(None)
    if writer is not None:
        writer.close()
        writer.join(10)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / len(work)
    q99 = statistics.quantiles(delays, n=100)
    extra = f", {writer.inline} inline / {writer.deferred} deferred" if writer else ""
    return (f"{scheme:10s} CPU {cpu * 1e6:7.1f} us/cycle | record-to-deliver p50 "
            f"{q99[49] * 1e6:6.1f} us, p99 {q99[98] * 1e6:8.1f} us{extra}")


def main_loop(args: argparse.Namespace, base: Path) -> None:
    import uvloop

    work = cycles(int(args.seconds * 30 * PHASES))
    print(f"loop: {len(work)} cycles at 240/s, {args.busy:g} us of other work each, in {base}")
    for scheme in ("none", "direct", "writer", "hop", "sqlite-hop"):
        d = base / scheme
        shutil.rmtree(d, ignore_errors=True)
        lg: TickLog | None = None
        if scheme in ("direct", "writer", "hop"):
            lg = SegmentTickLog(d)
        elif scheme == "sqlite-hop":
            lg = SQLiteTickLog(d, background_checkpoints=True)
        try:
            print(uvloop.run(loop_run(scheme, lg, work, args.busy)), flush=True)
        finally:
            if lg is not None:
                lg.close()
            shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cycles", type=int, default=20000)
    p.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    p.add_argument("--loop", action="store_true", help="the write schemes on an event loop")
    p.add_argument("--busy", type=float, default=300.0, help="--loop: us of work per cycle")
    p.add_argument("--seconds", type=float, default=8.0, help="--loop: how long each runs")
    args = p.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="ticklog-bench"))
    if args.loop:
        try:
            main_loop(args, base)
        finally:
            if args.dir is None:
                shutil.rmtree(base, ignore_errors=True)
        return
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
