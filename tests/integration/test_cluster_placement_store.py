"""The placement script of `tickcast.cluster.redis_store` (`RedisStore.claim`)
against a real redis-server: least-loaded choice with slack and local ties,
reservations that both nodes agree on, load bumps, WebSocket-capable targets,
expiry of a reservation nobody took."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster_support import redis_store
from tickcast.cluster.redis_store import Claim, RedisStore, lease_address

pytestmark = pytest.mark.timeout(30)

A, B, C = "10.0.0.1:7777", "10.0.0.2:7777", "10.0.0.3:7777"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RedisStore]:
    async with redis_store(tmp_path, lease_seconds=5) as s:
        yield s


async def place(store: RedisStore, room: str, at: str, **kw: object) -> Claim:
    return await store.claim(room, at, place=True, reserve_seconds=5, **kw)  # type: ignore[arg-type]


async def test_a_loaded_node_reserves_the_room_for_the_idle_one(store: RedisStore) -> None:
    await store.heartbeat(A, 10, ttl=30, http="10.0.0.1:8080")
    await store.heartbeat(B, 0, ttl=30, http="10.0.0.2:8080")
    first = await place(store, "r", A)
    assert (first.outcome, first.value, first.http) == (Claim.RESERVED, B, "10.0.0.2:8080")
    assert (await store.live_nodes())[B] == 1  # counted at once, before B's heartbeat
    # the same room asked at A again, or at a third node: the same answer, no new choice
    assert await place(store, "r", A) == first
    assert (await store.live_nodes())[B] == 1
    # B gets the redirected Hello: it acquires, even though it is now "loaded" too
    got = await place(store, "r", B)
    assert got.outcome == Claim.ACQUIRED and lease_address(got.value) == B
    assert (await store.live_nodes())[B] == 1  # the reservation was already counted
    assert await store.redis.get("tickcast:{r}:place") is None
    # now owned: everyone else is sent to B
    owned = await place(store, "r", A)
    assert owned.outcome == Claim.OWNED and owned.address == B and owned.http == "10.0.0.2:8080"


async def test_ties_and_small_differences_stay_local(store: RedisStore) -> None:
    await store.heartbeat(A, 3, ttl=30)
    await store.heartbeat(B, 1, ttl=30)
    got = await place(store, "r", A)  # 3 - 1 is within the slack of 2
    assert got.outcome == Claim.ACQUIRED and lease_address(got.value) == A
    assert (await store.live_nodes())[A] == 4  # acquired without a reservation: counted
    # the slack grows with the load (10 %): 100 vs 91 stays, 100 vs 89 moves
    await store.heartbeat(A, 100, ttl=30)
    await store.heartbeat(B, 91, ttl=30)
    assert (await place(store, "s", A)).outcome == Claim.ACQUIRED
    await store.heartbeat(A, 100, ttl=30)
    await store.heartbeat(B, 89, ttl=30)
    assert (await place(store, "t", A)).value == B


async def test_a_burst_of_new_rooms_spreads(store: RedisStore) -> None:
    """Every placement counts toward its node at once, so 40 rooms opened at one
    node in a burst (no heartbeat in between) split about evenly."""
    for node in (A, B, C):
        await store.heartbeat(node, 0, ttl=30)
    claims = await asyncio.gather(*(place(store, f"burst{i}", A) for i in range(40)))
    where = [c.address for c in claims]
    counts = {n: where.count(n) for n in (A, B, C)}
    assert sum(counts.values()) == 40
    assert max(counts.values()) - min(counts.values()) <= 3, counts
    print(f"\n40 rooms opened at one of 3 nodes: {counts}")


async def test_websocket_clients_go_only_to_nodes_with_http(store: RedisStore) -> None:
    await store.heartbeat(A, 10, ttl=30, http="10.0.0.1:8080")
    await store.heartbeat(B, 0, ttl=30)  # --no-http
    await store.heartbeat(C, 5, ttl=30, http="10.0.0.3:8080")
    ws = await place(store, "w", A, websocket=True)
    assert (ws.outcome, ws.value, ws.http) == (Claim.RESERVED, C, "10.0.0.3:8080")
    tcp = await place(store, "t", A)
    assert (tcp.outcome, tcp.value) == (Claim.RESERVED, B)


async def test_local_placement_and_dead_nodes(store: RedisStore) -> None:
    await store.heartbeat(A, 10, ttl=30)
    await store.heartbeat(B, 0, ttl=30)
    # place=False (--placement local) never reserves for another node
    assert (await store.claim("l", A)).outcome == Claim.ACQUIRED
    reserved = await place(store, "r", A)
    assert reserved.value == B
    # ... but honours a reservation another node made
    assert (await store.acquire("r", C)) == (False, f"0|{B}")
    await store.heartbeat(B, 0, ttl=0.2)  # B stops heartbeating
    await asyncio.sleep(0.3)
    # B is not live any more: nothing is placed on it
    assert (await place(store, "q", A)).outcome == Claim.ACQUIRED


async def test_a_reservation_nobody_takes_expires(store: RedisStore) -> None:
    await store.heartbeat(A, 10, ttl=30)
    await store.heartbeat(B, 0, ttl=30)
    got = await store.claim("r", A, place=True, reserve_seconds=0.2)
    assert got.value == B
    await asyncio.sleep(0.3)
    await store.heartbeat(B, 20, ttl=30)  # B is busy now: placement starts over
    again = await store.claim("r", A, place=True, reserve_seconds=0.2)
    assert again.outcome == Claim.ACQUIRED and lease_address(again.value) == A


async def test_no_room_is_placed_on_or_kept_for_a_node_that_missed_its_heartbeats(
    store: RedisStore,
) -> None:
    # lease 5 s: a node is healthy while its heartbeat has >= 2.5 s left
    await store.heartbeat(A, 10, ttl=30)
    await store.heartbeat(B, 0, ttl=30)
    first = await place(store, "r", A)
    assert (first.outcome, first.value) == (Claim.RESERVED, B)
    # B dies: its last heartbeat runs out (here: only 1 s left, two heartbeats missed)
    await store.heartbeat(B, 0, ttl=1)
    # the room reserved for B is placed anew, and B is not a candidate any more
    again = await place(store, "r", A)
    assert again.outcome == Claim.ACQUIRED and lease_address(again.value) == A
    other = await place(store, "s", A)
    assert other.outcome == Claim.ACQUIRED and lease_address(other.value) == A
    # a node that left (drain) is not chosen either, nor kept for a reservation
    await store.heartbeat(C, 0, ttl=30)
    moved = await place(store, "t", A)
    assert (moved.outcome, moved.value) == (Claim.RESERVED, C)
    await store.leave(C)
    assert (await place(store, "t", A)).outcome == Claim.ACQUIRED
