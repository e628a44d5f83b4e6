"""The Lua scripts of `tickcast.cluster.redis_store` against a real redis-server:
leases, fencing epochs, fenced appends, release, trimming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster_support import redis_store
from tickcast.cluster.redis_store import Append, RedisStore, lease_address, lease_epoch

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RedisStore]:
    async with redis_store(tmp_path, lease_seconds=0.5) as s:
        yield s


async def test_lease_epochs_and_fenced_appends(store: RedisStore) -> None:
    ok, a = await store.acquire("r", "10.0.0.1:7777")
    assert ok and lease_epoch(a) == 1 and lease_address(a) == "10.0.0.1:7777"
    ok, held = await store.acquire("r", "10.0.0.2:7777")
    assert not ok and held == a  # owned: the second node learns who to redirect to
    assert await store.append([Append("r", a, [(1, b"t1", b"snap"), (2, b"t2", b"")], 0)]) == {
        "r": True
    }
    # the lease runs out (the owner paused); another node takes the room: epoch 2
    await asyncio.sleep(0.7)
    ok, b = await store.acquire("r", "10.0.0.2:7777")
    assert ok and lease_epoch(b) == 2
    # the old owner wakes up: every write of its epoch is refused
    assert await store.append([Append("r", a, [(3, b"stale", b"")], 0)]) == {"r": False}
    assert await store.renew({"r": a}) == {"r": False}
    assert not await store.release("r", a, 0)
    # the new owner goes on; a tick number already in the stream is refused too
    assert await store.append([Append("r", b, [(2, b"again", b"")], 0)]) == {"r": False}
    assert await store.append([Append("r", b, [(3, b"t3", b"")], 0)]) == {"r": True}
    entries = await store.read_tail("r", 10)
    assert entries == [(1, b"t1", b"snap"), (2, b"t2", None), (3, b"t3", None)]
    assert await store.renew({"r": b}) == {"r": True}
    assert await store.release("r", b, 60)
    assert await store.owner("r") is None


async def test_one_call_appends_many_rooms_independently(store: RedisStore) -> None:
    _, x = await store.acquire("x", "n:1")
    _, y = await store.acquire("y", "n:1")
    result = await store.append(
        [
            Append("x", x, [(1, b"x1", b"")], 0),
            Append("y", "7|someone-else", [(1, b"y1", b"")], 0),
            Append("y", y, [(1, b"y1", b"")], 0),
        ]
    )
    assert result["x"] and result["y"]  # the later, valid append of y counts
    assert [n for n, _ in await store.read_after("y", 0, block_ms=10)] == [1]


async def test_trim_keeps_the_window(store: RedisStore) -> None:
    _, lease = await store.acquire("t", "n:1")
    ticks = [(n, b"f%d" % n, b"s" if n == 1 else b"") for n in range(1, 301)]
    for i in range(0, 300, 50):
        chunk = ticks[i : i + 50]
        assert (await store.append([Append("t", lease, chunk, chunk[-1][0] - 99)]))["t"]
    entries = await store.read_tail("t", 100)
    numbers = [n for n, _, _ in entries]
    assert numbers[-1] == 300 and len(numbers) >= 100  # approximate trimming keeps more
    assert numbers == list(range(numbers[0], 301))
    assert len(await store.redis.xrange("tickcast:{t}:log")) < 300  # something was trimmed


async def test_nodes_registry_and_drain_request(store: RedisStore) -> None:
    await store.heartbeat("a:1", 3, ttl=5)
    await store.heartbeat("b:1", 1, ttl=5)
    assert await store.live_nodes() == {"a:1": 3, "b:1": 1}
    await store.request_drain("a:1")
    assert await store.drain_requested("a:1")
    assert not await store.drain_requested("a:1")  # taken once
    await store.leave("a:1")
    assert await store.live_nodes() == {"b:1": 1}
