"""A cluster node's match archive (its --data-dir), with real redis-server and
node processes: a match played to its end on its owner, and a match split by a
kill -9 of its owner into two parts on two nodes."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.cluster_support import Player, cluster, stream_ticks, wait_until
from tests.support import RawClient, running_server
from tests.unit.test_archive_part import _stream, _write_part
from tests.unit.test_store_log import frames_of_a_match
from tickcast import wire
from tickcast.cli import main
from tickcast.proto import pb
from tickcast.store.log import MatchInfo, iter_ticks
from tickcast.store.replay import ReplayService
from tickcast.store.sqlite import SQLiteTickLog
from tickcast.store.tools import verify_match

pytestmark = pytest.mark.timeout(60)

LEASE = "1.5"
FLAGS = ("--record", "--lease-seconds", LEASE, "--tick-rate", "30")  # tests run --no-record


def _archive(data_dir: Path) -> tuple[list[MatchInfo], dict[int, dict[int, bytes]]]:
    """Every match (part) of a node's archive and its ticks, read as `tickcast` does."""
    lg = SQLiteTickLog(data_dir, create=False)
    try:
        matches = lg.matches()
        ticks = {m.id: dict(iter_ticks(lg, m.id)) for m in matches}
        assert all(verify_match(lg, m.id).ok for m in matches)
    finally:
        lg.close()
    return matches, ticks


async def _play_until(players: list[Player], tick: int) -> None:
    n = 0
    while min(p.last for p in players) < tick:
        n += 1
        for p in players:
            p.send_input(f"{p.player_id}:{n}".encode())
        await asyncio.sleep(0.02)


async def _start(players: list[Player]) -> None:
    for p in players:
        p.start()
    await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in players)), 20)


async def test_a_match_played_to_its_end_is_archived_on_its_owner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = (*FLAGS, "--reconnect-grace", "0.3")
    async with cluster(tmp_path, 2, *flags) as (redis_proc, (a, b)):
        players = [Player(f"p{i}", "arena", [a.port]) for i in range(2)]
        await _start(players)
        await asyncio.wait_for(_play_until(players, 90), 20)
        for p in players:
            await p.stop()  # gone: the room empties after the grace, the match ends

        def ended() -> bool:
            matches, _ = _archive(a.data_dir)
            return bool(matches) and not matches[0].live

        await wait_until(ended, 20, "the owner's archive to close the match", 0.1)
        matches, ticks = _archive(a.data_dir)
        async with redis_proc.client() as r:
            stream = dict(await stream_ticks(r, "arena"))
    assert len(matches) == 1
    m = matches[0]
    assert m.room == "arena" and m.end_reason == "empty" and m.server_id == "node0"
    assert m.players == ["p0", "p1"] and m.match_key and not m.is_part
    archived = ticks[m.id]
    assert sorted(archived) == list(range(1, m.tick_count + 1))
    assert archived == stream  # the exact bytes the owner appended to the stream
    for p in players:  # ... and that its clients received
        assert p.frames and all(archived[n] == f for n, f in p.frames.items())
    assert not b.data_dir.exists() or _archive(b.data_dir)[0] == []  # b sequenced nothing
    assert main(["verify", str(m.id), "--data-dir", str(a.data_dir)]) == 0
    assert f"OK, {m.tick_count} ticks" in capsys.readouterr().out
    print(f"\narchive: match {m.match_key} of {m.tick_count} ticks on its owner, verified")


async def test_failover_parts_cover_every_tick_the_clients_saw(tmp_path: Path) -> None:
    # a short history: the new owner restores (and archives) a tail, not the whole match
    flags = (*FLAGS, "--reconnect-grace", "20", "--history-seconds", "1")
    async with cluster(tmp_path, 2, *flags) as (redis_proc, (a, b)):
        players = [Player(f"p{i}", "match", [a.port, b.port]) for i in range(3)]
        await _start(players)
        await asyncio.wait_for(_play_until(players, 150), 20)
        killed_at = max(p.last for p in players)
        await a.kill()
        await wait_until(lambda: all(p.resumed_at for p in players), 30, "resume on b")
        await asyncio.wait_for(_play_until(players, killed_at + 90), 20)
        for p in players:
            await p.stop()
        seen: dict[int, bytes] = {}
        for p in players:
            seen.update(p.frames)

        def b_has_everything() -> bool:
            matches, ticks = _archive(b.data_dir)
            return bool(matches) and max(ticks[matches[0].id]) >= max(seen)

        await wait_until(b_has_everything, 20, "b's archive to catch up", 0.1)
        a_matches, a_ticks = _archive(a.data_dir)  # as the kill -9 left it
        b_matches, b_ticks = _archive(b.data_dir)
        async with redis_proc.client() as r:
            stream = dict(await stream_ticks(r, "match"))
        assert len(a_matches) == len(b_matches) == 1
        first, second = a_matches[0], b_matches[0]
        assert first.live and first.first_tick == 1  # killed: its part was never closed
        assert second.is_part and second.first_tick > 1 and second.live
        assert first.match_key == second.match_key != ""  # one match, two parts
        union = {**a_ticks[first.id], **b_ticks[second.id]}
        for number in set(a_ticks[first.id]) & set(b_ticks[second.id]):
            assert a_ticks[first.id][number] == b_ticks[second.id][number]
        assert all(union.get(n) == f for n, f in seen.items()), "a tick seen is not archived"
        assert sorted(union) == list(range(1, max(union) + 1))
        assert all(stream[n] == f for n, f in union.items() if n in stream)
        overlap = max(a_ticks[first.id]) - second.first_tick + 1

        # the killed node comes back: its open part is closed as interrupted, no
        # room is restored from its archive (Redis is the source of truth)
        started = time.monotonic()
        await a.start()
        matches, _ = _archive(a.data_dir)
        assert [(m.id, m.end_reason) for m in matches] == [(first.id, "interrupted")]
        assert "restored room" not in a.log()
    print(
        f"\narchive after kill -9 at tick ~{killed_at}: part 1 on a ticks 1.."
        f"{max(a_ticks[first.id])}, part 2 on b from tick {second.first_tick} "
        f"({overlap} ticks archived by both, identical); a restarted in "
        f"{time.monotonic() - started:.2f} s and closed its part as interrupted"
    )


async def test_replay_of_a_part_starts_at_its_first_tick(tmp_path: Path) -> None:
    _, frames = frames_of_a_match(60)
    lg = SQLiteTickLog(tmp_path)
    try:
        _write_part(lg, 1, "k", _stream(frames, 30))  # ticks 31..60
        match = lg.match(1)
        assert match is not None and match.first_tick == 31
        async with running_server([ReplayService(lg, match, speed=5)], record=False) as server:
            s, w = await RawClient.join(server.port, "watcher", room="r", spectator=True)
            assert w.first_tick == 31
            assert (await s.expect_kick(10)).reason == pb.REASON_ROOM_CLOSED
            ticks = [r for r in s.raw if pb.ServerMessage.FromString(r).HasField("tick")]
            assert ticks == [f[wire.prefix_length(f):] for f in frames[30:]]
            await s.close()
    finally:
        lg.close()


async def test_a_drained_node_ends_its_part_and_the_next_owner_goes_on(tmp_path: Path) -> None:
    flags = (*FLAGS, "--reconnect-grace", "20", "--history-seconds", "1")
    async with cluster(tmp_path, 2, *flags) as (redis_proc, (a, b)):
        async with redis_proc.client() as r:  # b must be live before a drains to it
            await wait_until(lambda: r.zscore("tickcast:nodes", b.address), 10, "b's heartbeat")
        players = [Player(f"p{i}", "lobby", [a.port, b.port]) for i in range(2)]
        await _start(players)
        await asyncio.wait_for(_play_until(players, 90), 20)
        a.signal(signal.SIGTERM)  # drain, then shut down
        assert await asyncio.wait_for(a.proc.wait(), 20) == 0  # type: ignore[union-attr]
        await wait_until(lambda: all(p.resumed_at for p in players), 20, "resume on b")
        await asyncio.wait_for(_play_until(players, max(p.last for p in players) + 30), 20)
        for p in players:
            await p.stop()
        seen = {n: f for p in players for n, f in p.frames.items()}

        def b_has_everything() -> bool:
            matches, ticks = _archive(b.data_dir)
            return bool(matches) and max(ticks[matches[0].id]) >= max(seen)

        await wait_until(b_has_everything, 20, "b's archive to catch up", 0.1)
        (first,), a_ticks = _archive(a.data_dir)
        (second,), b_ticks = _archive(b.data_dir)
    assert first.end_reason == "drained" and first.first_tick == 1
    assert second.is_part and second.match_key == first.match_key
    # a flushed everything before it let go: its part reaches the tick before b's first
    assert max(a_ticks[first.id]) >= second.first_tick - 1
    union = {**a_ticks[first.id], **b_ticks[second.id]}
    assert all(union.get(n) == f for n, f in seen.items())
