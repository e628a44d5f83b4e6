"""What the dashboard costs the server: CPU with 0 viewers, then N, then 0 again.

    PYTHONPATH=src python scripts/dashboard_cost.py --rooms 8 --per-room 8 --window 10 --viewers 1 5

Starts `tickcast serve` (with HTTP) and `tickcast bots` as load in separate
processes, and reads the server process's CPU time (utime+stime from
/proc/PID/stat, Linux only) over equal windows while 0, then each number of
viewers, then 0 again follow `/dashboard/events` (reading every sample, like a
browser). Prints one line per window: CPU seconds per second of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time

import aiohttp


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def viewer(url: str, stop: asyncio.Event) -> int:
    samples = 0
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        async for line in r.content:
            if line.startswith(b"event: sample"):
                samples += 1
            if stop.is_set():
                break
    return samples


async def window(pid: int, url: str, viewers: int, seconds: float) -> tuple[float, int]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(viewer(url, stop)) for _ in range(viewers)]
    await asyncio.sleep(1.0)  # viewers connected, first samples out
    c0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.monotonic()
    stop.set()
    samples = sum(await asyncio.gather(*tasks)) if tasks else 0
    await asyncio.sleep(1.5)  # the server notices the viewers left
    return (c1 - c0) / (t1 - t0), samples


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rooms", type=int, default=8)
    p.add_argument("--per-room", type=int, default=8)
    p.add_argument("--window", type=float, default=10.0)
    p.add_argument("--viewers", type=int, nargs="+", default=[1, 5])
    args = p.parse_args()
    serve = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickcast", "serve", "--port", "0", "--http-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert serve.stdout is not None
    out = b""
    while b"http on" not in out:
        out += await serve.stdout.readline()
    port = re.search(rb"tcp://127.0.0.1:(\d+)", out).group(1).decode()  # type: ignore[union-attr]
    http = re.search(rb"http on (http://\S+)", out).group(1).decode()  # type: ignore[union-attr]
    plan = [0, *args.viewers, 0]
    duration = len(plan) * (args.window + 3) + 5
    bots = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickcast", "bots", "--port", port, "--rooms", str(args.rooms),
        "--per-room", str(args.per_room), "--duration", str(duration), "--no-live",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(3.0)  # bots connected
    print(f"load: tickcast bots --rooms {args.rooms} --per-room {args.per_room} (10 inputs/s each)")
    try:
        for n in plan:
            cpu, samples = await window(serve.pid, http + "/dashboard/events", n, args.window)
            print(f"viewers={n}: server CPU {cpu * 100:.1f}% of one core"
                  f" ({samples} samples read over {args.window:g} s)")
    finally:
        bots.terminate()
        serve.terminate()
        await bots.wait()
        await serve.wait()


if __name__ == "__main__":
    asyncio.run(main())
