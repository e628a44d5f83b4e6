"""Least-loaded placement and transport-aware redirects with real redis-server
and node processes: a new room's Hello at a loaded node goes to the idle node;
a burst of new rooms spreads over both nodes; concurrent Hellos for one new
room at both nodes end with one owner and no loop; a WebSocket client (the
Python SDK) is redirected to the owner's HTTP address, also when the owner drains.
Each test prints its figures (run with -s to see them)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.cluster_support import (
    NodeProcess,
    Player,
    cluster,
    redirected_to,
    ticks_across_drain,
    wait_until,
)
from tests.support import RawClient
from tickcast.cluster.redis_store import lease_address, room_key

pytestmark = pytest.mark.timeout(60)

FLAGS = ("--lease-seconds", "1.5", "--tick-rate", "30", "--reconnect-grace", "20")


async def owner_of(r: aioredis.Redis, room: str) -> str:
    value = await r.get(room_key(room, "lease"))
    return "" if value is None else lease_address(value.decode())


async def load_of(r: aioredis.Redis, node: NodeProcess) -> int:
    return int(await r.hget("tickcast:load", node.address) or 0)


async def both_live(r: aioredis.Redis, nodes: list[NodeProcess]) -> None:
    async def live() -> bool:
        return all([await r.zscore("tickcast:nodes", n.address) for n in nodes])

    await wait_until(live, 10, "every node's heartbeat")


async def load_up(r: aioredis.Redis, node: NodeProcess, players: int) -> list[RawClient]:
    """`players` players in one room on `node`, until its heartbeat says so."""
    clients = [(await RawClient.join(node.port, f"busy{i}", room="busy"))[0]
               for i in range(players)]
    await wait_until(lambda: _at_least(load_of(r, node), players), 10, "the load heartbeat")
    return clients


async def _at_least(value: object, n: int) -> bool:
    return await value >= n  # type: ignore[misc,no-any-return]


async def test_new_room_at_a_loaded_node_goes_to_the_idle_node(tmp_path: Path) -> None:
    async with cluster(tmp_path, 2, *FLAGS) as (redis_proc, (a, b)):
        async with redis_proc.client() as r:
            await both_live(r, [a, b])
            busy = await load_up(r, a, 4)
            assert await owner_of(r, "busy") == a.address
            assert await redirected_to(a.port, "newcomer", "fresh") == b.address
            # the idle node acquires the room it was chosen for, and the client plays there
            c, welcome = await RawClient.join(b.port, "newcomer", room="fresh")
            assert await owner_of(r, "fresh") == b.address
            assert await r.get(room_key("fresh", "place")) is None  # the reservation is used up
            c.send_input(1, b"here")
            ticks = await c.ticks_until(welcome.first_tick + 30, timeout=15)
            assert any(i.payload == b"here" for t in ticks for i in t.inputs)
            print(f"\nplacement: a at load {await load_of(r, a)}, b idle: the new room's "
                  f"Hello at a was redirected to b, which owns it and served {len(ticks)} ticks")
            for x in [c, *busy]:
                await x.close()


async def test_a_burst_of_new_rooms_spreads_over_both_nodes(tmp_path: Path) -> None:
    """30 new rooms, every first Hello at node a at once: about half go to b."""
    async with cluster(tmp_path, 2, *FLAGS) as (redis_proc, (a, b)):
        async with redis_proc.client() as r:
            await both_live(r, [a, b])
            players = [Player(f"p{i}", f"room{i}", [a.port]) for i in range(30)]
            for p in players:
                p.start()
            await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in players)), 30)
            owners = [await owner_of(r, p.room) for p in players]
            on_a, on_b = owners.count(a.address), owners.count(b.address)
            assert on_a + on_b == 30
            assert abs(on_a - on_b) <= 6, (on_a, on_b)
            assert all(p.redirects <= 1 for p in players)
            # each player is served by its room's owner: it sees its room's ticks
            await wait_until(lambda: all(p.last > 0 for p in players), 20, "a tick each")
            print(f"\nburst of 30 new rooms, all first Hellos at a: {on_a} on a, {on_b} on b; "
                  f"{sum(p.redirects for p in players)} redirects")
            for p in players:
                await p.stop()


async def test_concurrent_hellos_for_a_new_room_end_with_one_owner(tmp_path: Path) -> None:
    """Both nodes get a Hello for the same new room at once, first with a loaded
    (the reservation path), then with about equal loads (the lease decides):
    one owner, exactly one player redirected once, both play in the same room."""
    async with cluster(tmp_path, 2, *FLAGS) as (redis_proc, (a, b)):
        async with redis_proc.client() as r:
            await both_live(r, [a, b])
            busy = await load_up(r, a, 4)  # a fresh cluster: the room stays on a
            outcomes = []
            for round_ in range(6):
                if round_ == 3:
                    for x in busy:
                        await x.close()
                room = f"race{round_}"
                pa, pb_ = Player("x", room, [a.port]), Player("y", room, [b.port])
                pa.start()
                pb_.start()
                await asyncio.wait_for(asyncio.gather(pa.ready.wait(), pb_.ready.wait()), 20)
                owner = await owner_of(r, room)
                assert owner in (a.address, b.address)
                # exactly one of them was sent to the other node, once: no loop
                assert sorted([pa.redirects, pb_.redirects]) == [0, 1]
                assert {pa.slot, pb_.slot} == {1, 2}  # one room, two players
                target = max(pa.last, pb_.last) + 5
                await wait_until(_both_past(pa, pb_, target), 15, "both to play")
                assert pa.frames[target] == pb_.frames[target]
                outcomes.append("a" if owner == a.address else "b")
                await pa.stop()
                await pb_.stop()
            print(f"\nconcurrent Hellos at both nodes for 6 new rooms: owners {outcomes}, "
                  f"one owner each, at most one redirect per player")


def _both_past(p: Player, q: Player, tick: int) -> object:
    return lambda: min(p.last, q.last) >= tick


async def test_websocket_client_is_redirected_to_the_http_address(tmp_path: Path) -> None:
    """The SDK over WebSocket: a new room is placed on the idle node, and the
    client lands on that node's HTTP port; then a second client entering at the
    other node is sent to the owner's HTTP port; the owner drains and both
    follow to the other node's HTTP port, tick stream intact."""
    from tickcast.client import Client

    flags = (*FLAGS, "--http", "--http-port", "0")
    async with cluster(tmp_path, 2, *flags) as (redis_proc, (a, b)):
        assert a.http_port and b.http_port
        async with redis_proc.client() as r:
            await both_live(r, [a, b])
            await wait_until(lambda: r.hget("tickcast:http", b.address), 10, "b's HTTP address")
            await wait_until(lambda: r.hget("tickcast:http", a.address), 10, "a's HTTP address")
            busy = await load_up(r, a, 4)
            kw = {"room": "web", "websocket_path": "/ws"}
            async with Client("127.0.0.1", a.http_port, player_id="w1", **kw) as one:  # type: ignore[arg-type]
                assert one.port == b.http_port  # placed on b, over its HTTP port
                assert await owner_of(r, "web") == b.address
                async with Client("127.0.0.1", a.http_port, player_id="w2", **kw) as two:  # type: ignore[arg-type]
                    assert two.port == b.http_port  # owned by b: the owner's HTTP port
                    one.send(b"hi")
                    numbers = await ticks_across_drain(one, b, a.http_port)  # drain b
                    await wait_until(lambda: two.port == a.http_port, 15, "w2 to follow")
            for x in busy:
                await x.close()
            print(f"\nWebSocket SDK client: placed on b via its HTTP port {b.http_port}, "
                  f"followed b's drain to a's HTTP port {a.http_port}; "
                  f"{len(numbers)} consecutive ticks")
