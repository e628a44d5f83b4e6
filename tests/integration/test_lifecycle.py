"""Server lifecycle: no wakeups when idle; start/stop/start without leaks."""

from __future__ import annotations

import asyncio
import os

import pytest
from support import (
    RawClient,
    ServerProcess,
    client_frame,
    context_switches,
    expect_final_kick,
    running_server,
    wait_until,
)
from support import test_config as make_config

from tickcast.proto import pb
from tickcast.server import HOUSEKEEPING_INTERVAL, Server

# Context switches allowed in a 2 s window of an idle server. With no timers the
# loop sleeps in epoll_wait with no timeout, and a measured idle server makes 0.
# A ticking server makes ~60 in 2 s (30 Hz) and a housekeeping-only one ~2 per
# wakeup; 2 leaves room for one stray kernel-side event and still catches either.
IDLE_SWITCHES = 2
WINDOW = 2.0


async def switches_over(pid: int, seconds: float) -> int:
    before = context_switches(pid)
    await asyncio.sleep(seconds)
    return context_switches(pid) - before


async def settle(pid: int) -> None:
    """Wait (bounded) until a short window shows no activity: timers wind down by themselves."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while await switches_over(pid, 0.5) > 0:
        assert loop.time() < end, "the server never went quiet"


async def test_an_idle_server_makes_no_wakeups() -> None:
    server = await ServerProcess.start("--reconnect-grace", "0.2", "--tick-rate", "30")
    try:
        pid = server.proc.pid
        await settle(pid)
        fresh = await switches_over(pid, WINDOW)

        # a client that leaves, one that drops (the grace runs out), one that
        # never says Hello: afterwards the server must go back to sleep
        leaver, wl = await RawClient.join(server.port, "leaver")
        dropper, _ = await RawClient.join(server.port, "dropper")
        silent = await RawClient.connect(server.port)
        await leaver.ticks_until(wl.first_tick + 5)
        active = await switches_over(pid, 0.5)
        leaver.send(client_frame(leave=pb.Leave()))
        await expect_final_kick(leaver)
        for c in (leaver, dropper, silent):
            await c.close()
        await settle(pid)
        after = await switches_over(pid, WINDOW)
        print(
            f"\ncontext switches in {WINDOW} s: idle {fresh}, after clients {after}; "
            f"ticking {active} in 0.5 s"
        )
        assert fresh <= IDLE_SWITCHES
        assert after <= IDLE_SWITCHES
        assert active > 2 * IDLE_SWITCHES  # the measure does see a ticking server
        assert server.logged("room closed room=r why=empty")
    finally:
        server.signal(15)
        assert await server.wait() == 0


async def test_timers_stop_in_process() -> None:
    """The same, through the server's own wakeup counter."""
    async with running_server(reconnect_grace=0.1) as server:
        c, w = await RawClient.join(server.port, "ada")
        await c.ticks_until(w.first_tick + 3)
        await c.close()
        await wait_until(lambda: server.connection_count == 0 and not server.relay.ticking)
        # at most one housekeeping run is still pending
        await asyncio.sleep(HOUSEKEEPING_INTERVAL + 0.2)
        wakeups = server.wakeups
        await asyncio.sleep(HOUSEKEEPING_INTERVAL + 0.2)
        assert server.wakeups == wakeups


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def use(server: Server) -> None:
    """Some traffic, then a shutdown with a player and a half-open handshake."""
    c, w = await RawClient.join(server.port, "ada")
    c.send_input(1, b"x")
    await c.ticks_until(w.first_tick + 3)
    h = await RawClient.connect(server.port)
    await wait_until(lambda: server.connection_count == 2)
    server.close()
    server.close()  # idempotent
    for x in (c, h):
        assert (await expect_final_kick(x)).reason == pb.REASON_SERVER_SHUTDOWN
        await x.close()
    await server.wait_closed()
    server.close()  # still idempotent once closed
    await server.wait_closed()


async def test_start_stop_start_leaks_nothing() -> None:
    this = asyncio.current_task()
    tasks_before = asyncio.all_tasks() - {this}
    fds_before = open_fds()

    def leaks() -> tuple[set[asyncio.Task[object]], int]:
        return asyncio.all_tasks() - {this} - tasks_before, open_fds() - fds_before

    server = Server(make_config())
    await server.start()
    port = server.port
    with pytest.raises(RuntimeError):
        await server.start()  # already started
    await use(server)
    await wait_until(lambda: leaks() == (set(), 0), what="no leaked tasks or fds")

    # the same object starts again
    await server.start()
    await use(server)
    await wait_until(lambda: leaks() == (set(), 0), what="no leaked tasks or fds")

    # the first port is free again at once
    async with Server(make_config(port=port)) as again:
        assert again.port == port
        c, w = await RawClient.join(port, "bob")
        await c.ticks_until(w.first_tick + 2)
        await c.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    await wait_until(lambda: leaks() == (set(), 0), what="no leaked tasks or fds")
