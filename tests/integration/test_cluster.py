"""Cluster mode with real redis-server and node processes: redirect, spectators
on a non-owner, failover after kill -9, fencing after SIGSTOP, drain, Redis
restart. Each test prints its figures (run with -s to see them)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.cluster_support import (
    SRC,
    Player,
    cluster,
    longest_pause,
    redirected_to,
    stream_ticks,
    ticks_across_drain,
    wait_until,
)
from tests.support import RawClient
from tickcast.proto import pb

pytestmark = pytest.mark.timeout(60)

LEASE = "1.5"
FLAGS = ("--lease-seconds", LEASE, "--tick-rate", "30", "--reconnect-grace", "20")


async def _play(players: list[Player], stop: asyncio.Event, rate: float = 0.02) -> None:
    """Every player sends an input every `rate` seconds until `stop`."""
    n = 0
    while not stop.is_set():
        n += 1
        for p in players:
            p.send_input(f"{p.player_id}:{n}".encode())
        await asyncio.sleep(rate)


def _check_consistent(players: list[Player], stream: dict[int, bytes]) -> None:
    """No gap, no duplicate, every tick seen is byte-for-byte the stream's, and
    every player saw the same ticks where they overlap; no input applied twice."""
    for p in players:
        assert p.duplicates == 0, (p.player_id, p.duplicates)
        assert p.gaps == [], (p.player_id, p.gaps)
        missing = [n for n in p.frames if n not in stream]
        assert not missing, f"{p.player_id} saw ticks not in the stream: {missing[:5]}"
        assert all(stream[n] == f for n, f in p.frames.items())
        seqs = [(slot, seq) for slot, seq, _ in p.inputs_seen()]
        assert len(seqs) == len(set(seqs)), "an input was sequenced twice"


async def test_redirect_to_owner_and_spectator_on_other_node(tmp_path: Path) -> None:
    async with cluster(tmp_path, 2, *FLAGS) as (redis_proc, (a, b)):
        c1, w1 = await RawClient.join(a.port, "p1", room="arena")
        assert w1.slot == 1
        # a player's Hello on the non-owner is redirected to the owner
        redirect = await redirected_to(b.port, "p2", "arena")
        assert redirect == a.address
        c2, w2 = await RawClient.join(a.port, "p2", room="arena")
        assert w2.slot == 2
        # a spectator on the non-owner is served from the room's stream
        spec, ws = await RawClient.join(b.port, "watcher", room="arena", spectator=True)
        assert ws.slot == 0
        c1.send_input(1, b"hello")
        seen = await spec.ticks_until(ws.first_tick + 30, timeout=15)
        got = await c1.ticks_until(seen[-1].number, timeout=15)
        by_number = {t.number: t for t in got}
        for t in seen:  # the spectator's ticks are the players' ticks
            assert by_number[t.number] == t
        assert any(i.payload == b"hello" for t in got for i in t.inputs)
        async with redis_proc.client() as r:
            stream = dict(await stream_ticks(r, "arena"))
        assert {t.number for t in seen} <= set(stream)
        print(f"\nredirect: p2 sent to {redirect}; spectator on the other node saw "
              f"{len(seen)} ticks, all equal to the owner's")
        for c in (c1, c2, spec):
            await c.close()


async def test_failover_after_kill9_under_load(tmp_path: Path) -> None:
    async with cluster(tmp_path, 2, *FLAGS) as (redis_proc, (a, b)):
        players = [Player(f"p{i}", "match", [a.port, b.port]) for i in range(4)]
        for p in players:
            p.start()
        await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in players)), 20)
        stop = asyncio.Event()
        load = asyncio.create_task(_play(players, stop))
        await wait_until(lambda: min(p.last for p in players) >= 60, 20, "60 ticks")
        killed_at = time.monotonic()
        last_before = max(p.last for p in players)
        await a.kill()
        await wait_until(
            lambda: all(p.resumed_at for p in players), 30, "every player to resume on b"
        )
        resumed = max(p.resumed_at[0] for p in players) - killed_at
        first = min(p.resumed_at[0] for p in players) - killed_at
        target = max(p.last for p in players) + 60
        await wait_until(lambda: min(p.last for p in players) >= target, 20, "60 more ticks")
        stop.set()
        await load
        for p in players:
            await p.stop()
        async with redis_proc.client() as r:
            stream = dict(await stream_ticks(r, "match"))
        _check_consistent(players, stream)
        numbers = sorted(stream)
        assert numbers == list(range(numbers[0], numbers[-1] + 1)), "the stream has a gap"
        # every input each player sent was sequenced exactly once, across the failover
        for p in players:
            mine = [seq for slot, seq, _ in p.inputs_seen() if slot == p.slot]
            assert mine == sorted(set(mine))
        assert "acquired room room=match " in b.log()
        print(f"\nfailover after kill -9 (lease {LEASE} s): longest pause between two ticks "
              f"{longest_pause(players):.2f} s; first player resumed after "
              f"{first:.2f} s, all {len(players)} after {resumed:.2f} s; last tick before "
              f"{last_before}; {len(numbers)} ticks in the stream, 0 gaps, 0 duplicates")


async def _start_players(names: list[str], room: str, ports: list[int]) -> list[Player]:
    players = [Player(n, room, ports) for n in names]
    for p in players:
        p.start()
    await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in players)), 20)
    return players


async def _finish(players: list[Player], stop: asyncio.Event, load: asyncio.Task[None]) -> None:
    stop.set()
    await load
    for p in players:
        await p.stop()


async def test_sigstop_past_the_lease_is_fenced(tmp_path: Path) -> None:
    async with cluster(tmp_path, 2, *FLAGS) as (redis_proc, (a, b)):
        players = await _start_players(["p0", "p1"], "duel", [a.port, b.port])
        stop = asyncio.Event()
        load = asyncio.create_task(_play(players, stop))
        await wait_until(lambda: min(p.last for p in players) >= 30, 20, "30 ticks")
        a.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        async with redis_proc.client() as r:
            lease_key = "tickcast:{duel}:lease"
            before = (await r.get(lease_key)).decode()
            await wait_until(
                lambda: _is_none(r.get(lease_key)), 10, "the paused owner's lease to expire"
            )
            # another node needs the room now: a new player joins it on b
            newcomer = Player("p2", "duel", [b.port, a.port])
            newcomer.start()
            await asyncio.wait_for(newcomer.ready.wait(), 20)
            after = (await r.get(lease_key)).decode()
            last_written_by_a = max(p.last for p in players)
            a.signal(signal.SIGCONT)
            await wait_until(
                lambda: all(p.resumed_at for p in players), 30, "p0 and p1 to resume on b"
            )
            players.append(newcomer)
            target = max(p.last for p in players) + 30
            await wait_until(lambda: min(p.last for p in players) >= target, 20, "30 more ticks")
            await _finish(players, stop, load)
            stream = dict(await stream_ticks(r, "duel"))
        assert before.split("|")[1] == a.address and after.split("|")[1] == b.address
        assert int(after.split("|")[0]) > int(before.split("|")[0])  # a new fencing epoch
        _check_consistent(players, stream)
        numbers = sorted(stream)
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
        await wait_until(lambda: "dropped room room=duel " in a.log(), 10, "a to drop the room")
        pause = max(p.resumed_at[0] for p in players[:2]) - stopped_at
        print(f"\nSIGSTOP past the lease: epoch {before.split('|')[0]} -> {after.split('|')[0]}; "
              f"old owner dropped the room on SIGCONT; players back {pause:.2f} s after the stop; "
              f"ticks up to {last_written_by_a} by a, then b; 0 ticks written twice")


async def _is_none(value: object) -> bool:
    return await value is None  # type: ignore[misc]


@pytest.mark.parametrize("how", ["sigterm", "command"])
async def test_drain_hands_rooms_over_without_gap(tmp_path: Path, how: str) -> None:
    async with cluster(tmp_path, 2, *FLAGS) as (redis_proc, (a, b)):
        # b must be registered as a live node before a drains (heartbeat every lease/4)
        async with redis_proc.client() as r:
            await wait_until(
                lambda: r.zscore("tickcast:nodes", b.address), 10, "b's heartbeat"
            )
        players = await _start_players(["p0", "p1", "p2"], "lobby2", [a.port, b.port])
        stop = asyncio.Event()
        load = asyncio.create_task(_play(players, stop))
        await wait_until(lambda: min(p.last for p in players) >= 30, 20, "30 ticks")
        if how == "sigterm":
            a.signal(signal.SIGTERM)
        else:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tickcast", "drain", "--cluster", redis_proc.url,
                "--node", a.address, stdout=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": SRC},
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0 and b"handed its rooms over" in out
        assert await asyncio.wait_for(a.proc.wait(), 20) == 0  # type: ignore[union-attr]
        await wait_until(lambda: all(p.resumed_at for p in players), 20, "resume on b")
        target = max(p.last for p in players) + 30
        await wait_until(lambda: min(p.last for p in players) >= target, 20, "30 more ticks")
        await _finish(players, stop, load)
        async with redis_proc.client() as r:
            stream = dict(await stream_ticks(r, "lobby2"))
        _check_consistent(players, stream)
        assert f"drained rooms rooms=1 to={b.address}" in a.log()
        assert all(k.reason == pb.REASON_REDIRECT for p in players for k in p.kicks)
        print(f"\ndrain ({how}): 1 room handed to b; longest pause between two ticks a player saw "
              f"{longest_pause(players):.3f} s; 0 gaps, 0 duplicates")


@pytest.mark.parametrize("down", [0.5, 3.0], ids=["within-the-lease", "past-the-lease"])
async def test_redis_restart_mid_match(tmp_path: Path, down: float) -> None:
    """Within the lease the rooms just pause; past it the node drops them, the
    players retry, and the room is restored from its stream once Redis is back."""
    lease = "3" if down < 1 else "1.5"
    flags = ("--lease-seconds", lease, "--tick-rate", "30", "--reconnect-grace", "20")
    async with cluster(tmp_path, 1, *flags, aof=True) as (redis_proc, (a,)):
        players = await _start_players(["p0", "p1"], "rr", [a.port])
        stop = asyncio.Event()
        load = asyncio.create_task(_play(players, stop))
        await wait_until(lambda: min(p.last for p in players) >= 30, 20, "30 ticks")
        down_at = time.monotonic()
        await redis_proc.stop()
        await asyncio.sleep(down)
        at_outage = max(p.last for p in players)
        await redis_proc.start()
        up_at = time.monotonic()
        target = at_outage + 30
        await wait_until(lambda: min(p.last for p in players) >= target, 20, "ticks after restart")
        await _finish(players, stop, load)
        async with redis_proc.client() as r:
            stream = dict(await stream_ticks(r, "rr"))
        _check_consistent(players, stream)
        assert a.proc is not None and a.proc.returncode is None  # never crashed
        log = a.log()
        assert "Redis unreachable" in log and "Redis is back" in log
        if down > float(lease):
            assert "dropped room room=rr " in log
        print(f"\nRedis restart (AOF, lease {lease} s): down {up_at - down_at:.2f} s, ticks "
              f"went on after "
              f"{at_outage} with no gap and no duplicate; longest pause between two ticks "
              f"{longest_pause(players):.2f} s; reconnects "
              f"{sum(p.reconnects for p in players)}")


async def test_python_client_follows_redirects_transparently(tmp_path: Path) -> None:
    """The SDK's Client, pointed at the wrong node, lands on the owner; and after
    a drain of the owner it follows the redirect to the new one, tick stream intact."""
    from tickcast.client import Client

    async with cluster(tmp_path, 2, *FLAGS) as (redis_proc, (a, b)):
        owner = await RawClient.join(a.port, "anchor", room="sdk")
        async with redis_proc.client() as r:
            await wait_until(lambda: r.zscore("tickcast:nodes", b.address), 10, "b's heartbeat")
        async with Client("127.0.0.1", b.port, player_id="sdk1", room="sdk") as client:
            assert (client.host, client.port) == ("127.0.0.1", a.port)  # followed the redirect
            client.send(b"one")
            numbers = await ticks_across_drain(client, a, b.port)
        await owner[0].close()
        print(f"\nSDK client: redirected to the owner, then followed the drain to b; "
              f"{len(numbers)} consecutive ticks")


async def test_python_client_survives_kill9_of_the_owner(tmp_path: Path) -> None:
    """The SDK's Client entered at b and was redirected to the owner a; a dies:
    the client comes back to its entry point, which holds the Hello until a's
    lease runs out, takes the room over, and the tick stream goes on intact."""
    from tickcast.client import Client

    async with cluster(tmp_path, 2, *FLAGS) as (_, (a, b)):
        anchor, _ = await RawClient.join(a.port, "anchor", room="k9")
        async with Client("127.0.0.1", b.port, player_id="sdk1", room="k9") as client:
            assert client.port == a.port
            numbers = []
            killed_at = 0.0
            async for tick in client.ticks():
                numbers.append(tick.number)
                if len(numbers) == 10:
                    killed_at = time.monotonic()
                    await a.kill()
                if client.port == b.port and client.reconnects and len(numbers) > 40:
                    break
            back_after = time.monotonic() - killed_at
            assert numbers == list(range(numbers[0], numbers[-1] + 1))
        await anchor.close()
        print(f"\nSDK client after kill -9 of the owner: back at its entry node, "
              f"{len(numbers)} consecutive ticks; {back_after:.2f} s from the kill to the "
              f"30th tick after it")
