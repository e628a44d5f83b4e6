"""`tickcast migrate`: a data dir of the SQLite log becomes a segment log, nothing lost,
and the tools read either format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tickcast import wire
from tickcast.cli import main
from tickcast.store.log import Cycle, Kick, MatchEnd, MatchStart, Presence, iter_ticks
from tickcast.store.segments import SegmentTickLog
from tickcast.store.sqlite import SQLiteTickLog


def chained_frames(
    n: int, joined_at: dict[int, tuple[int, str]], left_at: dict[int, int]
) -> list[bytes]:
    """Real, chained tick frames (so `tickcast verify` checks them)."""
    chain, frames = b"", []
    for t in range(1, n + 1):
        inputs = wire.encode_relayed_input(1, t, b"in%d" % t) if t % 2 else b""
        joined = [joined_at[t]] if t in joined_at else []
        left = [left_at[t]] if t in left_at else []
        content = wire.encode_tick_content(t, inputs, joined, left)
        chain = wire.next_chain(chain, content)
        frames.append(wire.encode_tick_frame(content, chain))
    return frames


def old_data_dir(d: Path) -> tuple[list[bytes], list[bytes]]:
    a = chained_frames(300, {1: (1, "ada"), 2: (2, "bob")}, {200: 2})
    b = chained_frames(40, {1: (1, "cy")}, {})
    lg = SQLiteTickLog(d)  # with the presence rows a server wrote beside its ticks
    lg.write_cycle(Cycle(begins=[MatchStart(1, "a", 30, 10.0, "s1")], ticks=[(1, 1, a[0])],
                         presence=[Presence(1, 1, ((1, "ada"),))]))
    lg.write_cycle(Cycle(ticks=[(1, i + 1, f) for i, f in enumerate(a) if i], kicks=[
        Kick(1, 11.0, "bob", "SLOW_CONSUMER", "queue full")],
        presence=[Presence(1, 2, ((2, "bob"),)), Presence(1, 200, (), (2,))]))
    lg.write_cycle(Cycle(ends=[MatchEnd(1, 20.0, "empty")]))
    lg.write_cycle(Cycle(begins=[MatchStart(2, "b", 60, 30.0)], ticks=[
        (2, i + 1, f) for i, f in enumerate(b)], presence=[Presence(2, 1, ((1, "cy"),))]))
    # live: a server died with it running
    lg.close()
    return a, b


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_migrate_converts_every_match_and_keeps_the_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = old_data_dir(tmp_path)
    before = SQLiteTickLog(tmp_path, create=False)
    old_matches = before.matches()
    before.close()
    d = str(tmp_path)
    code, out, _ = run(capsys, "migrate", "--data-dir", d)
    assert code == 0 and "converted 2 matches (340 ticks" in out
    assert not (tmp_path / "ticks.sqlite3").exists()
    assert (tmp_path / "ticks.sqlite3.migrated").is_file()
    assert not (tmp_path / ".migrating").exists()
    lg = SegmentTickLog(tmp_path)
    new_matches = lg.matches()
    for old, new in zip(old_matches, new_matches, strict=True):
        assert (new.id, new.room, new.started_at, new.ended_at, new.end_reason, new.tick_rate,
                new.players, new.tick_count, new.server_id) == (
            old.id, old.room, old.started_at, old.ended_at, old.end_reason, old.tick_rate,
            old.players, old.tick_count, old.server_id)
    assert new_matches[0].players == ["ada", "bob"] and new_matches[1].live
    assert [f for _, f in iter_ticks(lg, 1)] == a and [f for _, f in iter_ticks(lg, 2)] == b
    assert lg.kicks(1) == [Kick(1, 11.0, "bob", "SLOW_CONSUMER", "queue full")]
    assert [(p.tick, p.joined, p.left) for p in lg.presence(1)] == [
        (1, ((1, "ada"),), ()), (2, ((2, "bob"),), ()), (200, (), (2,))]
    assert lg.next_match_id() == 3
    lg.close()
    # the tools read the new format
    code, out, _ = run(capsys, "matches", "--json", "--data-dir", d)
    assert code == 0 and [m["ticks"] for m in json.loads(out)] == [300, 40]
    code, out, _ = run(capsys, "verify", "1", "--data-dir", d)
    assert code == 0 and "OK, 300 ticks (300 chained)" in out
    code, out, _ = run(capsys, "export", "2", "--data-dir", d)
    assert code == 0 and len(out.splitlines()) == 40
    # and a second run has nothing to do
    code, _, err = run(capsys, "migrate", "--data-dir", d)
    assert code == 1 and "nothing to convert" in err


def test_migrate_refuses_while_a_server_holds_the_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tickcast.store.datadir import DataDirLock

    old_data_dir(tmp_path)
    held = DataDirLock(tmp_path)
    held.acquire()
    try:
        code, _, err = run(capsys, "migrate", "--data-dir", str(tmp_path))
    finally:
        held.release()
    assert code == 1 and "in use by another tickcast process" in err
    assert (tmp_path / "ticks.sqlite3").is_file()


async def test_a_served_match_migrated_replays_byte_for_byte(tmp_path: Path) -> None:
    """A match a real server recorded (SQLite), migrated, then replayed from the segment
    log to a spectator (and a full_history late joiner): the frames as recorded."""
    from support import RawClient, running_server
    from test_store_commands import record_a_match, wire_frame_body

    from tickcast.proto import pb
    from tickcast.store.migrate import migrate_sqlite
    from tickcast.store.replay import ReplayService

    await record_a_match(tmp_path)
    old = SQLiteTickLog(tmp_path, create=False)
    recorded = [f for _, f in iter_ticks(old, 1)]
    old.close()
    assert migrate_sqlite(tmp_path).matches == 1
    lg = SegmentTickLog(tmp_path, read_only=True)
    try:
        match = lg.match(1)
        assert match is not None and match.players == ["ada", "bob"]
        assert [f for _, f in iter_ticks(lg, 1)] == recorded
        async with running_server([ReplayService(lg, match, speed=5)], record=False) as server:
            s, w = await RawClient.join(server.port, "watcher", spectator=True)
            assert w.first_tick == 1
            assert (await s.expect_kick(10)).reason == pb.REASON_ROOM_CLOSED
            ticks = [r for r in s.raw if pb.ServerMessage.FromString(r).HasField("tick")]
            assert ticks == [wire_frame_body(f) for f in recorded]
            late, w2 = await RawClient.join(server.port, "late", spectator=True, full_history=True)
            assert w2.first_tick == 1
            await late.close()
            await s.close()
    finally:
        lg.close()
