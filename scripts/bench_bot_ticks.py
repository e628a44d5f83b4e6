"""CPU per received tick of the client + bot path, without sockets or a server.

    PYTHONPATH=src python scripts/bench_bot_ticks.py --rooms 64 --per-room 8 --inputs 3

Builds `tickcast bots` bots (a `Client` each, welcomed through a connection
object that is fed bytes by hand), then feeds every connection the same tick
frames a server would send: `--inputs` inputs per tick (slots 1..N), a 32-byte
chain. The loop runs between ticks, as it would between reads. It prints the
process CPU per received tick: the decode, the bot's checks and the hash of its
window, but not the `read` system call, so it is steady on a busy machine where
end-to-end latency figures are not. It checks that every bot saw every tick
and each of its own inputs once.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import struct
import time

import uvloop

from tickcast import bots, wire
from tickcast.client import Client, _Connection
from tickcast.proto import pb


def tick_frames(count: int, inputs: int) -> list[bytes]:
    pad = b"\0" * 8
    frames = []
    for n in range(1, count + 1):
        stamp = struct.pack("<q", time.perf_counter_ns())
        slots = range(1, inputs + 1)
        encoded = b"".join(wire.encode_relayed_input(s, n, stamp + pad) for s in slots)
        frames.append(wire.encode_tick_frame(wire.encode_tick_content(n, encoded), chain=b"c" * 32))
    return frames


async def bench(rooms: int, per_room: int, inputs: int, ticks: int) -> float:
    loop = asyncio.get_running_loop()
    everyone: list[bots.Bot] = []
    connections: list[_Connection] = []
    for r in range(rooms):
        check = bots.RoomCheck()
        for p in range(per_room):
            bot = bots.Bot(None, check, spectator=False)
            bot.client = Client(
                "127.0.0.1", 1, player_id=f"b{p}", room=f"r{r}", on_tick=bot.on_tick
            )
            bot.client._loop = loop  # what start() would set
            conn = _Connection(bot.client)
            bot.client._conn = conn
            welcome = pb.Welcome(room=f"r{r}", slot=p + 1, tick_rate=30, first_tick=1)
            conn.data_received(wire.frame(pb.ServerMessage(welcome=welcome).SerializeToString()))
            everyone.append(bot)
            connections.append(conn)
    frames = tick_frames(ticks, inputs)
    gc.collect()
    gc.freeze()  # as `tickcast bots` does once connected
    started = time.process_time()
    for frame in frames:
        for conn in connections:
            conn.data_received(frame)
        await asyncio.sleep(0)
    cpu = time.process_time() - started
    received = sum(b.ticks for b in everyone)
    assert received == ticks * rooms * per_room, received
    for b in everyone:
        assert b.own_seen == (ticks if b.client.slot <= inputs else 0) and not b.misordered
    return cpu / received


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rooms", type=int, default=64)
    p.add_argument("--per-room", type=int, default=8)
    p.add_argument("--inputs", type=int, default=3, help="inputs per tick")
    p.add_argument("--ticks", type=int, default=200, help="ticks fed to every bot")
    args = p.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        per_tick = runner.run(bench(args.rooms, args.per_room, args.inputs, args.ticks))
    print(
        f"{args.rooms} rooms x {args.per_room} bots, {args.inputs} inputs/tick: "
        f"{per_tick * 1e6:.2f} us CPU per received tick"
    )


if __name__ == "__main__":
    main()
