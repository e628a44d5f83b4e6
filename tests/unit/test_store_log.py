"""The tick-log interface: the memory and SQLite logs behave the same."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickcast import wire
from tickcast.config import Config
from tickcast.restore import replay_ticks
from tickcast.room import Room
from tickcast.store.log import (
    Cycle,
    MatchEnd,
    MatchStart,
    MemoryTickLog,
    Presence,
    TickLog,
    iter_ticks,
    tick_of_frame,
)
from tickcast.store.sqlite import SQLiteTickLog


@pytest.fixture(params=["memory", "sqlite"])
def tick_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TickLog]:
    lg: TickLog = MemoryTickLog() if request.param == "memory" else SQLiteTickLog(tmp_path)
    yield lg
    lg.close()


def frames_of_a_match(n: int, tick_rate: int = 30) -> tuple[Room, list[bytes]]:
    """Real tick frames from a room with two players (one leaves at tick 5)."""
    from tickcast.room import Player

    room = Room("r", Config(tick_rate=tick_rate, server_id="t", reconnect_grace=1e9))
    a, b = Player("ada", 1), Player("bob", 2)
    room.players = {"ada": a, "bob": b}
    room._next_slot = 3
    room._admit(a, "ada")
    room._admit(b, "bob")
    frames = []
    for t in range(1, n + 1):
        room.submit(a, t, b"a%d" % t)
        if t == 5:
            room._drop_membership(b)
        record = room.produce(float(t))
        assert record is not None and record.frame
        room.deliver(record)
        frames.append(record.frame)
    return room, frames


def test_tick_number_reads_the_frame_header() -> None:
    _, frames = frames_of_a_match(300)
    assert [wire.tick_number(f) for f in frames] == list(range(1, 301))


def test_cycles_matches_and_chunked_reads(tick_log: TickLog) -> None:
    _, frames = frames_of_a_match(20)
    mid = tick_log.next_match_id()
    # the presence of ticks 1 (both join) and 5 (bob leaves), as the room recorded it
    joins = [Presence(mid, 1, joined=((1, "ada"), (2, "bob")))]
    tick_log.write_cycle(
        Cycle(
            begins=[MatchStart(mid, "r", 30, time.time())],
            ticks=[(mid, 1, frames[0])],
            presence=joins,
        )
    )
    for n in range(2, 21):
        leave = [Presence(mid, 5, left=(2,))] if n == 5 else []
        tick_log.write_cycle(Cycle(ticks=[(mid, n, frames[n - 1])], presence=leave))
    assert tick_log.next_match_id() == mid + 1
    info = tick_log.match(mid)
    assert info is not None and info.live and info.tick_count == 20
    assert info.players == ["ada", "bob"]
    assert tick_log.read_ticks(mid, 5, 7) == [(5, frames[4]), (6, frames[5]), (7, frames[6])]
    assert [n for n, _ in tick_log.read_ticks(mid, 15, None, 3)] == [15, 16, 17]
    assert [f for _, f in iter_ticks(tick_log, mid, 1, chunk=3)] == frames
    tick_log.write_cycle(Cycle(ends=[MatchEnd(mid, time.time(), "empty")]))
    info = tick_log.match(mid)
    assert info is not None and not info.live and info.end_reason == "empty"
    assert info.tick_count == 20
    assert [m.id for m in tick_log.matches()] == [mid]


def test_a_failed_cycle_writes_nothing(tmp_path: Path) -> None:
    tick_log = SQLiteTickLog(tmp_path)
    _, frames = frames_of_a_match(3)
    tick_log.write_cycle(Cycle(begins=[MatchStart(1, "r", 30, 0.0)], ticks=[(1, 1, frames[0])]))
    with pytest.raises(sqlite3.IntegrityError):
        # tick 1 again violates the primary key after tick 2 was inserted
        tick_log.write_cycle(Cycle(ticks=[(1, 2, frames[1]), (1, 1, frames[0])]))
    assert [n for n, _ in tick_log.read_ticks(1, 1)] == [1]
    tick_log.close()


def test_replaying_the_ticks_rebuilds_presence_seqs_and_chain() -> None:
    room, frames = frames_of_a_match(40)
    lg = MemoryTickLog()
    lg.write_cycle(
        Cycle(
            begins=[MatchStart(1, "r", 30, 0.0)],
            ticks=[(1, i + 1, f) for i, f in enumerate(frames)],
        )
    )
    info = lg.match(1)
    assert info is not None
    state = replay_ticks(iter_ticks(lg, 1, chunk=7), keep=10)
    assert state.last_tick == 40
    assert state.chain == room.chain == tick_of_frame(frames[-1]).chain
    assert [p.id for p in state.members] == ["ada"]
    assert state.players[1].last_seq == 40 and state.players[2].left_tick == 5
    assert state.history == [(n, frames[n - 1]) for n in range(31, 41)]


def test_prune_by_age_and_size_never_touches_a_live_match(tick_log: TickLog) -> None:
    _, frames = frames_of_a_match(50)
    old = time.time() - 10 * 86400
    for mid in (1, 2, 3):
        tick_log.write_cycle(
            Cycle(
                begins=[MatchStart(mid, f"r{mid}", 30, old)],
                ticks=[(mid, i + 1, f) for i, f in enumerate(frames)],
            )
        )
    tick_log.write_cycle(Cycle(ends=[MatchEnd(1, old, "empty"), MatchEnd(2, time.time(), "x")]))
    assert tick_log.prune(time.time() - 86400, None) == [1]
    assert [m.id for m in tick_log.matches()] == [2, 3]
    # a size limit below what remains: the ended match goes, the live one stays
    assert tick_log.prune(None, 1) == [2]
    assert [m.id for m in tick_log.matches()] == [3]
    assert tick_log.read_ticks(3, 1, 2) == [(1, frames[0]), (2, frames[1])]


@pytest.mark.parametrize(("durability", "synchronous"), [("normal", 1), ("full", 2)])
def test_durability_picks_sqlites_synchronous_level(
    tmp_path: Path, durability: str, synchronous: int
) -> None:
    """--durability reaches the log the recorder opens: WAL, and synchronous NORMAL (1)
    or FULL (2, an fsync of the WAL at every commit)."""
    from tickcast.store.recorder import Recorder

    rec = Recorder(Config(port=0, data_dir=str(tmp_path), durability=durability))
    rec.open()
    try:
        assert isinstance(rec.log, SQLiteTickLog)
        assert rec.log.db.execute("PRAGMA synchronous").fetchone()[0] == synchronous
        assert rec.log.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        for lg in (rec.reader, rec.log):
            if lg is not None:
                lg.close()
