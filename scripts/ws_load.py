"""A small load run over WebSocket (or TCP, to compare), then a /metrics excerpt.

    PYTHONPATH=src python scripts/ws_load.py --clients 64 --rooms 8 --seconds 10

Starts `tickcast serve` (uvloop) on free ports, connects N clients in R rooms,
each sending `--rate` inputs per second; checks that every member of a room
got byte-identical ticks and that every input arrived at every member; prints
the delivery figures, the server's CPU seconds and tick-cycle timings from its
own /metrics, and the tickcast_* lines of the final scrape. A measuring tool,
not a test: figures depend on the (shared, 2-core) machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections import defaultdict

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tickcast import wire
from tickcast.proto import pb


def msg(**body: object) -> bytes:
    return pb.ClientMessage(**body).SerializeToString()  # type: ignore[arg-type]


class Bot:
    def __init__(self, name: str, room: str) -> None:
        self.name, self.room = name, room
        self.ticks: dict[int, bytes] = {}
        self.inputs_seen = 0
        self.kicks: list[str] = []
        self.slot = 0
        self.sent = 0
        self.own_seen = 0  # highest seq of our own inputs seen in a tick

    def on_body(self, body: bytes) -> None:
        m = pb.ServerMessage.FromString(body)
        if m.HasField("tick"):
            self.ticks[m.tick.number] = body
            self.inputs_seen += len(m.tick.inputs)
            for i in m.tick.inputs:
                if i.slot == self.slot:
                    self.own_seen = i.seq
        elif m.HasField("welcome"):
            self.slot = m.welcome.slot
        elif m.HasField("kick"):
            self.kicks.append(pb.Reason.Name(m.kick.reason))

    async def run_ws(self, url: str, rate: float, until: float) -> None:
        async with connect(url, compression=None, max_size=None) as ws:
            await ws.send(
                msg(hello=pb.Hello(protocol_version=1, player_id=self.name, room=self.room))
            )
            self.on_body(await ws.recv())  # type: ignore[arg-type]

            async def reader() -> None:
                async for body in ws:
                    self.on_body(body)  # type: ignore[arg-type]

            task = asyncio.create_task(reader())
            await self._send_loop(lambda b: ws.send(b), rate, until, framed=False)
            await self._drain()
            task.cancel()

    async def run_tcp(self, port: int, rate: float, until: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        framer = wire.Framer(1 << 24)
        writer.write(
            wire.frame(msg(hello=pb.Hello(protocol_version=1, player_id=self.name, room=self.room)))
        )
        welcomed = asyncio.Event()

        async def read() -> None:
            while data := await reader.read(65536):
                for body in framer.feed(data):
                    self.on_body(body)
                    welcomed.set()

        task = asyncio.create_task(read())
        await welcomed.wait()

        async def send(b: bytes) -> None:
            writer.write(b)

        await self._send_loop(send, rate, until, framed=True)
        await self._drain()
        task.cancel()
        writer.close()

    async def _drain(self) -> None:
        """Wait (at most 5 s) until our last input came back in a tick, and a
        little more for the other members' last ones."""
        end = asyncio.get_running_loop().time() + 5
        while self.own_seen < self.sent and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)

    async def _send_loop(self, send, rate: float, until: float, framed: bool) -> None:  # type: ignore[no-untyped-def]
        seq = 0
        loop = asyncio.get_running_loop()
        nxt = loop.time()
        while loop.time() < until:
            seq += 1
            body = msg(input=pb.Input(seq=seq, payload=seq.to_bytes(4, "big") * 4))
            await send(wire.frame(body) if framed else body)
            self.sent = seq
            nxt += 1.0 / rate
            await asyncio.sleep(max(0.0, nxt - loop.time()))


async def scrape(base: str) -> tuple[str, dict[str, float]]:
    async with aiohttp.ClientSession() as s, s.get(base + "/metrics") as r:
        text = await r.text()
    values: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            key = smp.name + (str(sorted(smp.labels.items())) if smp.labels else "")
            values[key] = smp.value
    return text, values


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--rooms", type=int, default=8)
    ap.add_argument("--rate", type=float, default=10.0, help="inputs per second per client")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--tick-rate", type=int, default=30)
    ap.add_argument("--transport", choices=("ws", "tcp"), default="ws")
    args = ap.parse_args()

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tickcast",
        "serve",
        "--port",
        "0",
        "--http-port",
        "0",
        "--tick-rate",
        str(args.tick_rate),
        "--log-level",
        "WARNING",
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    assert proc.stdout is not None
    tcp_port = int((await proc.stdout.readline()).decode().rsplit(":", 1)[1])
    base = (await proc.stdout.readline()).decode().split()[-1]
    _, before = await scrape(base)
    bots = [Bot(f"bot{i}", f"room{i % args.rooms}") for i in range(args.clients)]
    loop = asyncio.get_running_loop()
    until = loop.time() + args.seconds
    t0 = time.monotonic()
    if args.transport == "ws":
        url = base.replace("http", "ws") + "/ws"
        await asyncio.gather(*(b.run_ws(url, args.rate, until) for b in bots))
    else:
        await asyncio.gather(*(b.run_tcp(tcp_port, args.rate, until) for b in bots))
    elapsed = time.monotonic() - t0
    text, after = await scrape(base)
    proc.send_signal(signal.SIGINT)
    await proc.wait()

    by_room: dict[str, list[Bot]] = defaultdict(list)
    for b in bots:
        by_room[b.room].append(b)
    consistent = True
    expected = delivered = gaps = 0
    for members in by_room.values():
        common = set.intersection(*(set(b.ticks) for b in members))
        for n in common:
            if len({b.ticks[n] for b in members}) != 1:
                consistent = False
        for b in members:
            nums = sorted(b.ticks)
            if nums and nums[-1] - nums[0] + 1 != len(nums):
                gaps += 1
        sent = sum(b.sent for b in members)
        expected += sent * len(members)
        delivered += sum(b.inputs_seen for b in members)

    def d(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    cpu = d("process_cpu_seconds_total")
    cycles = d("tickcast_tick_duration_seconds_count")
    print(
        f"transport={args.transport} clients={args.clients} rooms={args.rooms} "
        f"rate={args.rate}/s tick_rate={args.tick_rate} wall={elapsed:.1f}s"
    )
    kicks = sum(len(b.kicks) for b in bots)
    fanouts = max(d("tickcast_fanout_duration_seconds_count"), 1)
    print(
        f"deliveries {delivered}/{expected} ({delivered / max(1, expected):.4f}) "
        f"consistent={consistent} clients_with_tick_gaps={gaps} kicks={kicks}"
    )
    print(
        f"inputs sent {sum(b.sent for b in bots)}, sequenced by the server "
        f"{d('tickcast_inputs_total'):.0f} (deliveries short of 1.0 with none missing here are "
        "the run's tail: members that had stopped reading before others' last inputs)"
    )
    print(f"server cpu {cpu:.2f}s -> {delivered / max(cpu, 1e-9):,.0f} deliveries per cpu-second")
    print(
        f"tick cycle mean {1e6 * d('tickcast_tick_duration_seconds_sum') / max(cycles, 1):.0f} us"
        f" over {cycles:.0f} cycles; fan-out mean "
        f"{1e6 * d('tickcast_fanout_duration_seconds_sum') / fanouts:.0f} us"
    )
    print("--- /metrics (tickcast_*, non-zero) ---")
    for line in text.splitlines():
        if line.startswith("tickcast_") and not line.endswith(" 0.0"):
            print(line)
    return 0 if consistent and not gaps else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
