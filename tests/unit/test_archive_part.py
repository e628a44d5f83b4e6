"""A cluster node's match archive: parts of a match, their verification, the
recorder's archive mode (write-behind, no restore, no delivery)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.unit.test_store_log import frames_of_a_match
from tickcast import wire
from tickcast.cli import main
from tickcast.cluster.state import part_start, restore, snapshot
from tickcast.config import Config
from tickcast.room import Room, TickRecord
from tickcast.store.log import Cycle, MatchStart, MemoryTickLog, TickLog, tick_of_frame
from tickcast.store.recorder import MatchArchive
from tickcast.store.sqlite import SQLiteTickLog
from tickcast.store.tools import verify_match


@pytest.fixture(params=["memory", "sqlite"])
def tick_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TickLog]:
    lg: TickLog = MemoryTickLog() if request.param == "memory" else SQLiteTickLog(tmp_path)
    yield lg
    lg.close()


def _stream(frames: list[bytes], first: int) -> list[tuple[int, bytes, bytes | None]]:
    """Stream entries (tick, frame, snapshot) from tick `first` on, as read_tail gives."""
    return [(n, frames[n - 1], None) for n in range(first, len(frames) + 1)]


def _write_part(lg: TickLog, match_id: int, key: str, entries: list[Any]) -> None:
    part = part_start(entries)
    start = MatchStart(match_id, "r", 30, time.time(), "n", key, part.first_tick, part.base_chain)
    lg.write_cycle(Cycle(begins=[start], ticks=[(match_id, n, f) for n, f in part.ticks]))


def test_part_start_continues_the_chain_of_the_tick_before() -> None:
    _, frames = frames_of_a_match(40)
    part = part_start(_stream(frames, 20))
    assert part.first_tick == 21
    assert part.base_chain == tick_of_frame(frames[19]).chain != b""
    assert part.ticks == [(n, frames[n - 1]) for n in range(21, 41)]
    whole = part_start(_stream(frames, 1))  # the stream still starts at tick 1
    assert (whole.first_tick, whole.base_chain, len(whole.ticks)) == (1, b"", 40)
    assert part_start([]) == type(part)(1, b"", [])  # a new match


def test_verify_accepts_a_part_that_starts_mid_match(tick_log: TickLog) -> None:
    _, frames = frames_of_a_match(40)
    _write_part(tick_log, 1, "k1", _stream(frames, 20))
    info = tick_log.match(1)
    assert info is not None and info.is_part and info.match_key == "k1"
    assert info.first_tick == 21 and info.tick_count == 40
    verdict = verify_match(tick_log, 1)
    assert verdict.ok and verdict.ticks == 20 and verdict.chained == 20
    # the same part checked from tick 1 (as if it were a whole match) fails at once
    tick_log.write_cycle(
        Cycle(
            begins=[MatchStart(2, "r", 30, time.time())],
            ticks=[(2, n, frames[n - 1]) for n in range(21, 41)],
        )
    )
    bad = verify_match(tick_log, 2)
    assert not bad.ok and bad.first_bad == 21 and "chain mismatch" in bad.problem
    # a part whose recorded base chain is wrong is caught at its first tick
    start = MatchStart(3, "r", 30, time.time(), "n", "k1", 21, b"\x00" * 32)
    tick_log.write_cycle(
        Cycle(begins=[start], ticks=[(3, n, frames[n - 1]) for n in range(21, 41)])
    )
    assert verify_match(tick_log, 3).first_bad == 21


def test_tickcast_verify_says_it_is_a_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, frames = frames_of_a_match(30)
    lg = SQLiteTickLog(tmp_path)
    _write_part(lg, 1, "abc", _stream(frames, 10))
    lg.close()
    assert main(["verify", "1", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "OK, 20 ticks (20 chained), a part from tick 11" in out
    assert "of cluster match abc" in out
    assert main(["matches", "--data-dir", str(tmp_path)]) == 0
    assert "11..30" in capsys.readouterr().out  # the table shows the part's ticks
    assert main(["matches", "--json", "--data-dir", str(tmp_path)]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["match_key"], row["first_tick"], row["ticks"]) == ("abc", 11, 30)


def test_a_schema_1_log_gains_the_part_columns(tmp_path: Path) -> None:
    _, frames = frames_of_a_match(3)
    lg = SQLiteTickLog(tmp_path)
    lg.write_cycle(Cycle(begins=[MatchStart(1, "r", 30, 0.0)], ticks=[(1, 1, frames[0])]))
    lg.close()
    db = sqlite3.connect(tmp_path / "ticks.sqlite3")
    for column in ("match_key", "first_tick", "base_chain"):
        db.execute(f"ALTER TABLE matches DROP COLUMN {column}")
    db.commit()
    db.close()
    reader = SQLiteTickLog(tmp_path, create=False)  # `tickcast matches` over an old log
    info = reader.match(1)
    reader.close()
    assert info is not None and not info.is_part and info.match_key == ""
    assert info.first_tick == 1 and info.base_chain == b""


def test_the_snapshot_carries_the_match_key() -> None:
    room, frames = frames_of_a_match(5)
    entries = [(n, frames[n - 1], None) for n in range(1, 5)]
    entries.append((5, frames[4], snapshot(room, "key-1")))
    state = restore(entries, 10)
    assert state.match_key == "key-1" and state.last_tick == 5
    assert restore(entries[:4], 10).match_key == ""  # no snapshot: a new match


def sent(room: Room, frame: bytes) -> TickRecord:
    """The record a cluster node hands its archive for a tick Redis accepted (these
    frames carry no presence past tick 1)."""
    return TickRecord(room, wire.tick_number(frame), frame, (), (), 0, b"", False)


async def test_archive_mode_writes_behind_and_restores_nothing() -> None:
    lg = MemoryTickLog()
    _, frames = frames_of_a_match(10)
    # a part a crash left open: ended as interrupted at start, never restored
    lg.write_cycle(Cycle(begins=[MatchStart(1, "r", 30, 0.0)], ticks=[(1, 1, frames[0])]))
    config = Config(tick_rate=30, server_id="n1")
    recorder = MatchArchive(config, lambda: lg)
    recorder.open()
    relay = SimpleNamespace(recorder=None, rooms={})
    await recorder.start(SimpleNamespace(relay=relay))  # type: ignore[arg-type]
    try:
        assert relay.recorder is None and relay.rooms == {}
        old = lg.match(1)
        assert old is not None and old.end_reason == "interrupted"
        room = Room("r", config)
        stream = _stream(frames, 4)[:4]  # restored ticks 4..7: the part starts at 5
        part = part_start(stream)
        recorder.begin_part(room, "key", part.first_tick, part.base_chain, part.ticks)
        assert room.archive is None  # write-behind: never a catch-up source
        recorder.archive([sent(room, frames[7]), sent(room, frames[8])], [])
        other = Room("s", config)
        recorder.archive([sent(other, frames[0])], [])  # no part begun: not archived
        recorder.end_part(room, "drained")
        recorder.end_part(room, "drained")  # once only

        async def written() -> bool:
            while recorder.backlog:
                await asyncio.sleep(0.01)
            return True

        await asyncio.wait_for(written(), 10)
    finally:
        recorder.close()
        await recorder.wait_closed()
    info = lg.match(2)
    assert info is not None and info.match_key == "key" and info.first_tick == 5
    assert info.end_reason == "drained" and info.server_id == "n1"
    assert [n for n, _ in lg.read_ticks(2, 1)] == [5, 6, 7, 8, 9]
    assert [m.id for m in lg.matches()] == [1, 2]
    assert verify_match(lg, 2).ok


class _FailingLog(MemoryTickLog):
    """A disk that fails at its first write after the start."""

    def write_cycle(self, cycle: Cycle) -> None:
        raise OSError(28, "No space left on device")


async def test_a_failing_archive_disk_never_stops_the_rooms() -> None:
    from tickcast.cluster.node import ClusterService

    config = Config(tick_rate=30, cluster="redis://127.0.0.1:1/0")
    recorder = MatchArchive(config, _FailingLog)
    recorder.open()
    await recorder.start(SimpleNamespace(relay=None))  # type: ignore[arg-type]
    node = ClusterService(config, archive=recorder)
    try:
        _, frames = frames_of_a_match(5)
        room = Room("r", config)
        recorder.begin_part(room, "k", 1, b"", [])
        recorder.archive([sent(room, frames[0])], [])  # on the loop: only queued, never raises

        async def failed() -> bool:
            while recorder.failed is None or recorder.backlog:
                await asyncio.sleep(0.01)
            return True

        await asyncio.wait_for(failed(), 10)
        recorder.archive([sent(room, frames[1])], [room])  # after the failure: dropped quietly
        assert recorder.backlog == 0
        metrics = {m.name: m.samples[0].value for m in node.metrics()}
        assert metrics["tickcast_cluster_archive_failed"] == 1
        assert metrics["tickcast_cluster_archive_backlog_cycles"] == 0
    finally:
        recorder.close()
        await recorder.wait_closed()
        await node.store.close()


async def test_two_nodes_cannot_archive_into_one_data_dir(tmp_path: Path) -> None:
    from tickcast.store.log import StoreError

    config = Config(data_dir=str(tmp_path), cluster="redis://127.0.0.1:1/0")
    first = MatchArchive(config)
    first.open()
    second = MatchArchive(config)
    with pytest.raises(StoreError, match="its own --data-dir"):
        second.open()
    first.close()
    await first.wait_closed()  # gives the directory up
    second.open()
    second.close()
    await second.wait_closed()
