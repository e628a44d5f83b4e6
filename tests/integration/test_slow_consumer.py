"""The two slow-consumer cases of issue 2, at the default queue limits.

The load is the bench's `slowpoke` shape, scaled to a 2-core test machine:
one room, 8 players each sending a 1 KiB input about 30 times a second at 30
ticks/s (ticks of ~8 KiB). A client that stops reading entirely (SO_RCVBUF
16 KiB, like the bench's) must be cut off while the others get every tick; a
client that pauses for 1 s and then reads again must not be. Times are printed,
not asserted (the bench measures the 5 s goal); the bounds below only stop a
broken server from hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from support import (
    RawClient,
    SocketClient,
    assert_gap_free,
    hello_frame,
    running_server,
    wait_until,
)

from tickcast.proto import pb
from tickcast.server import Server

TICK_RATE = 30
SENDERS = 8
PAYLOAD = bytes(1024)


class Load:
    """Players that send 1 KiB inputs and read every tick (so they are never slow)."""

    def __init__(self) -> None:
        self.ticks: dict[str, list[int]] = {}
        self.kicks: list[pb.Kick] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.clients: list[RawClient] = []

    async def read(self, name: str, c: RawClient) -> None:
        numbers = self.ticks[name] = []
        while True:
            msg = await c.next_message(timeout=30)
            if msg.HasField("tick"):
                numbers.append(msg.tick.number)
            elif msg.HasField("kick"):
                self.kicks.append(msg.kick)

    async def send(self, c: RawClient) -> None:
        seq = 0
        while True:
            seq += 1
            c.send_input(seq, PAYLOAD)
            await asyncio.sleep(1 / TICK_RATE)

    def latest(self) -> int:
        return min(n[-1] if n else 0 for n in self.ticks.values())


@contextlib.asynccontextmanager
async def loaded_server() -> AsyncIterator[tuple[Server, Load]]:
    load = Load()
    async with running_server(tick_rate=TICK_RATE) as server:
        try:
            for i in range(SENDERS):
                c, _ = await RawClient.join(server.port, f"sender{i}")
                load.clients.append(c)
                load.tasks.append(asyncio.ensure_future(load.read(f"sender{i}", c)))
                load.tasks.append(asyncio.ensure_future(load.send(c)))
            await wait_until(lambda: load.latest() > 0, what="the load to run")
            yield server, load
        finally:
            for t in load.tasks:
                t.cancel()
            for c in load.clients:
                await c.close()


def session_of(server: Server, player_id: str) -> bool:
    return any(s.player_id == player_id for s in server.relay.sessions)


async def test_a_client_that_stops_reading_is_cut_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tickcast")
    async with loaded_server() as (server, load):
        stalled = await SocketClient.connect(server.port, rcvbuf=16 * 1024)
        await stalled.send(hello_frame("stalled"))
        await wait_until(lambda: session_of(server, "stalled"), what="the stalled client's join")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        # it never reads; the server must let it go (generous bound: a hang, not a speed test)
        await wait_until(lambda: not session_of(server, "stalled"), 25, "the eviction")
        took = loop.time() - t0
        at_cut = load.latest()
        print(f"\nstalled client cut off after {took:.2f} s (tick {at_cut})")
        assert "player=stalled room=r reason=SLOW_CONSUMER" in caplog.text
        # the room goes on: the others get the next ticks too
        await wait_until(lambda: load.latest() >= at_cut + 15, what="ticks after the eviction")
        # ... and every tick, with no gap, before, during and after
        for numbers in load.ticks.values():
            assert_gap_free(numbers)
        assert load.kicks == []

        # what the stalled client finds when it looks: its stream ends (a reset
        # or EOF); a Kick, if it got through (best effort), is SLOW_CONSUMER and last
        frames: list[pb.ServerMessage] = []
        with pytest.raises((EOFError, ConnectionError)):
            while True:
                frames.append(await stalled.next_message(timeout=10))
        assert frames and frames[0].HasField("welcome")
        kicks = [i for i, f in enumerate(frames) if f.HasField("kick")]
        assert kicks in ([], [len(frames) - 1])
        if kicks:
            assert frames[-1].kick.reason == pb.REASON_SLOW_CONSUMER
        ticks = [f.tick.number for f in frames if f.HasField("tick")]
        assert_gap_free(ticks)
        stalled.close()


async def test_a_client_that_pauses_for_a_second_catches_up() -> None:
    async with loaded_server() as (server, load):
        pauser = await SocketClient.connect(server.port, rcvbuf=16 * 1024)
        await pauser.send(hello_frame("pauser"))
        welcome = await pauser.next_message()
        assert welcome.HasField("welcome")
        numbers: list[int] = []

        async def read_until(target: int) -> None:
            while not numbers or numbers[-1] < target:
                msg = await pauser.next_message(timeout=10)
                assert msg.HasField("tick"), msg
                numbers.append(msg.tick.number)

        await read_until(welcome.welcome.first_tick + 10)
        paused_at = numbers[-1]
        await asyncio.sleep(1.0)  # stop reading for 1 s under load
        behind = load.latest() - paused_at
        # then read again: everything the others got, in order, and live after
        await read_until(load.latest() + 30)
        print(f"\npaused 1 s ({behind} ticks behind), caught up to tick {numbers[-1]}")
        assert behind >= 10  # the pause really let ticks pile up
        assert session_of(server, "pauser")
        assert_gap_free(numbers)
        assert numbers[0] == welcome.welcome.first_tick
        assert load.kicks == []
        pauser.close()
