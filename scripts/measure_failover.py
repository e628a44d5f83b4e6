"""Failover time after `kill -9` of the owner: 2 nodes, ROOMS rooms x 4 players.

    PYTHONPATH=src python scripts/measure_failover.py [LEASE_SECONDS=3] [ROOMS=8]

Uses the cluster tests' helpers (real redis-server and node processes on free
ports); prints when each player resumed on the surviving node, the longest
pause between two ticks, and the gaps and duplicates (both must be 0).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster_support import Player, cluster, longest_pause, wait_until  # noqa: E402


async def measure(lease: str, rooms: int) -> str:
    flags = ("--lease-seconds", lease, "--tick-rate", "30")
    with tempfile.TemporaryDirectory() as d:
        async with cluster(Path(d), 2, *flags) as (_, (a, b)):
            players = [
                Player(f"p{r}-{i}", f"room{r}", [a.port, b.port])
                for r in range(rooms)
                for i in range(4)
            ]
            for p in players:
                p.start()
            await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in players)), 30)
            stop = asyncio.Event()

            async def play() -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    for p in players:
                        p.send_input(b"x%d" % n)
                    await asyncio.sleep(0.033)

            load = asyncio.create_task(play())
            await wait_until(lambda: min(p.last for p in players) >= 60, 30, "60 ticks")
            killed = time.monotonic()
            await a.kill()
            await wait_until(lambda: all(p.resumed_at for p in players), 60, "every resume")
            resumed = sorted(p.resumed_at[0] - killed for p in players)
            target = max(p.last for p in players) + 30
            await wait_until(lambda: min(p.last for p in players) >= target, 30, "more ticks")
            stop.set()
            await load
            for p in players:
                await p.stop()
    gaps = sum(len(p.gaps) for p in players)
    dups = sum(p.duplicates for p in players)
    return (
        f"lease {lease} s, {rooms} rooms x 4 players: resumed after kill -9: "
        f"min {resumed[0]:.2f} s, median {resumed[len(resumed) // 2]:.2f} s, "
        f"max {resumed[-1]:.2f} s; longest pause {longest_pause(players):.2f} s; "
        f"gaps {gaps}, duplicates {dups}"
    )


if __name__ == "__main__":
    lease = sys.argv[1] if len(sys.argv) > 1 else "3"
    rooms = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    print(asyncio.run(measure(lease, rooms)))
