"""Measure what write before send costs, inside the server, without a load generator.

Drives a real `Server` (its ticker, relay, rooms, recorder) with in-process
sessions on fake sinks in the bench `rooms` shape (64 rooms x 8 players, 30 Hz,
one input per player per tick) and reports the recorder's record-to-deliver
delay (the latency write before send adds to every tick) and the process CPU.

    PYTHONPATH=src python scripts/bench_recording.py --durability normal --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time

from tickcast import wire
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.server import Server
from tickcast.store import Recorder


class NullSink:
    def write(self, data: bytes) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def frame(**body: object) -> bytes:
    return wire.frame(pb.ClientMessage(**body).SerializeToString())  # type: ignore[arg-type]


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as d:
        config = Config(
            port=0, tick_rate=args.tick, server_id="bench", data_dir=d,
            durability="normal" if args.durability == "off" else args.durability,
            idle_timeout=0,
        )  # fmt: skip
        rec = Recorder(config) if args.durability != "off" else None
        server = Server(config, [rec] if rec else [])
        await server.start()
        loop = asyncio.get_running_loop()
        sessions = []
        for r in range(args.rooms):
            for p in range(args.per_room):
                s = server.relay.open_session(NullSink(), loop.time())
                hello = pb.Hello(protocol_version=1, player_id=f"p{p}", room=f"room-{r}")
                s.data_received(frame(hello=hello), loop.time())
                sessions.append(s)
        payload = bytes(16)
        seq = 0
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        end = loop.time() + args.seconds
        while loop.time() < end:
            seq += 1
            data = frame(input=pb.Input(seq=seq, payload=payload))
            now = loop.time()
            for s in sessions:
                s.data_received(data, now)
            await asyncio.sleep(1 / args.tick)
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        server.close()
        await server.wait_closed()
        line = f"durability={args.durability}: cpu {100 * cpu / wall:.1f}% of a core"
        if rec is not None and len(rec.delays) > 2:
            q = statistics.quantiles(rec.delays, n=100)
            line += (
                f", {rec.cycles_committed} cycles in {rec.commits} commits; record-to-deliver "
                f"p50 {q[49] * 1e3:.2f} ms, p90 {q[89] * 1e3:.2f} ms, p99 {q[98] * 1e3:.2f} ms, "
                f"max {max(rec.delays) * 1e3:.2f} ms"
            )
        print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--durability", choices=["off", "normal", "full"], default="normal")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rooms", type=int, default=64)
    ap.add_argument("--per-room", type=int, default=8)
    ap.add_argument("--tick", type=int, default=30)
    args = ap.parse_args()
    import uvloop

    uvloop.run(run(args))


if __name__ == "__main__":
    main()
