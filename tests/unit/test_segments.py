"""The segment tick log (store/segments.py): writes, reads, recovery, rolling, retention,
the data dir lock, and what each broken state says."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tickcast.store.datadir import LOCK_NAME, segments_dir
from tickcast.store.errors import DamagedLog, DataDirLocked, LegacyLog
from tickcast.store.log import Cycle, Kick, MatchEnd, MatchStart, Presence, iter_ticks
from tickcast.store.segfile import SEGMENT_HEADER, TICK_ENTRY
from tickcast.store.segments import SegmentTickLog


def frame(match_id: int, n: int, size: int = 40) -> bytes:
    return (b"%d:%d:" % (match_id, n)).ljust(size, b".")


def start(mid: int, room: str = "r", at: float = 1.0) -> MatchStart:
    return MatchStart(mid, room, 30, at, "srv")


def write_match(lg: SegmentTickLog, mid: int, ticks: int, *, end: float | None = None) -> None:
    lg.write_cycle(
        Cycle(
            begins=[start(mid, f"r{mid}")],
            ticks=[(mid, 1, frame(mid, 1))],
            presence=[Presence(mid, 1, ((1, f"p{mid}"),))],
        )
    )
    for n in range(2, ticks + 1):
        lg.write_cycle(Cycle(ticks=[(mid, n, frame(mid, n))]))
    if end is not None:
        lg.write_cycle(Cycle(ends=[MatchEnd(mid, end, "empty")]))


def seg_files(tmp_path: Path) -> list[Path]:
    return sorted(segments_dir(tmp_path).glob("*.seg"))


def test_cycles_presence_kicks_and_ends_survive_a_reopen(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path)
    lg.write_cycle(
        Cycle(
            begins=[start(1), start(2, "b")],
            ticks=[(1, 1, frame(1, 1)), (2, 1, frame(2, 1))],
            presence=[Presence(1, 1, ((1, "ada"), (2, "bob"))), Presence(2, 1, ((1, "cy"),))],
        )
    )
    lg.write_cycle(
        Cycle(
            ticks=[(1, 2, frame(1, 2)), (2, 3, frame(2, 3))],  # match 2 skipped tick 2
            presence=[Presence(1, 2, (), (2,))],
            kicks=[Kick(1, 2.0, "bob", "SLOW_CONSUMER", "queue full")],
        )
    )
    lg.write_cycle(Cycle(ends=[MatchEnd(2, 3.0, "empty")]))
    assert lg.next_match_id() == 3
    lg.close()
    lg = SegmentTickLog(tmp_path)
    m1, m2 = lg.matches()
    assert (m1.players, m1.live, m1.tick_count) == (["ada", "bob"], True, 2)
    assert (m2.players, m2.end_reason, m2.ended_at, m2.tick_count) == (["cy"], "empty", 3.0, 3)
    assert lg.read_ticks(2, 1) == [(1, frame(2, 1)), (3, frame(2, 3))]
    assert lg.kicks(1) == [Kick(1, 2.0, "bob", "SLOW_CONSUMER", "queue full")]
    assert lg.presence(1) == [Presence(1, 1, ((1, "ada"), (2, "bob"))), Presence(1, 2, (), (2,))]
    assert lg.next_match_id() == 3
    lg.close()


def test_a_tick_number_is_recorded_once(tmp_path: Path) -> None:
    """The log refuses a second content for a tick number, and ticks of ended or unknown
    matches, before writing anything."""
    lg = SegmentTickLog(tmp_path)
    write_match(lg, 1, 3)
    size = lg.size_bytes()
    with pytest.raises(ValueError, match="recorded once"):
        lg.write_cycle(Cycle(ticks=[(1, 4, frame(1, 4)), (1, 3, b"other")]))
    with pytest.raises(ValueError, match="not begun"):
        lg.write_cycle(Cycle(ticks=[(9, 1, b"x")]))
    lg.write_cycle(Cycle(ends=[MatchEnd(1, 2.0, "empty")]))
    with pytest.raises(ValueError, match="ended"):
        lg.write_cycle(Cycle(ticks=[(1, 9, b"x")]))
    with pytest.raises(ValueError, match="used before"):
        lg.write_cycle(Cycle(begins=[start(1)]))
    assert lg.size_bytes() > size and [n for n, _ in lg.read_ticks(1, 1)] == [1, 2, 3]
    lg.close()


def test_chunked_reads_across_segments_and_after_a_reopen(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path, segment_bytes=2000)
    write_match(lg, 1, 120)
    assert len(lg.segments()) > 3  # rolled
    want = [(n, frame(1, n)) for n in range(1, 121)]
    assert lg.read_ticks(1, 30, 60, 1000) == want[29:60]
    assert list(iter_ticks(lg, 1, chunk=7)) == want
    lg.close()
    assert all(p.with_suffix(".idx").exists() for p in seg_files(tmp_path)[:-1])
    lg = SegmentTickLog(tmp_path, segment_bytes=2000)
    assert list(iter_ticks(lg, 1, chunk=11)) == want
    assert lg.read_ticks(1, 100, None, 5) == want[99:104]
    lg.close()


def test_a_bad_index_file_is_rebuilt_by_a_scan(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path, segment_bytes=2000)
    write_match(lg, 1, 60)
    lg.close()
    idx = seg_files(tmp_path)[0].with_suffix(".idx")
    idx.write_bytes(idx.read_bytes()[:-3])
    lg = SegmentTickLog(tmp_path, segment_bytes=2000)
    assert list(iter_ticks(lg, 1)) == [(n, frame(1, n)) for n in range(1, 61)]
    lg.close()


def test_a_torn_tail_is_cut_off_and_the_log_goes_on(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path)
    write_match(lg, 1, 10)
    lg.close()
    seg = seg_files(tmp_path)[-1]
    seg.write_bytes(seg.read_bytes()[:-5])  # the last cycle cut short by a crash
    lg = SegmentTickLog(tmp_path)
    assert lg.repaired and "cut off" in lg.repaired[0]
    assert [n for n, _ in lg.read_ticks(1, 1)] == list(range(1, 10))
    lg.write_cycle(Cycle(ticks=[(1, 10, b"again")]))  # tick 10 was never acknowledged
    lg.close()
    lg = SegmentTickLog(tmp_path)
    assert lg.read_ticks(1, 10) == [(10, b"again")] and not lg.repaired
    lg.close()


def test_damage_before_good_batches_is_refused_and_left_untouched(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path)
    write_match(lg, 1, 10)
    lg.close()
    seg = seg_files(tmp_path)[-1]
    data = bytearray(seg.read_bytes())
    data[SEGMENT_HEADER.size + 60] ^= 0x40  # inside the first batch
    seg.write_bytes(bytes(data))
    with pytest.raises(DamagedLog, match=r"damaged: a batch fails its checksum at byte 36.*"
                       "valid batches follow it"):
        SegmentTickLog(tmp_path)
    assert seg.read_bytes() == bytes(data)


def test_a_read_checks_the_frame_it_returns(tmp_path: Path) -> None:
    """A byte flipped after the log was opened (bit rot under a running server) is
    reported by the read that meets it, never returned."""
    lg = SegmentTickLog(tmp_path)
    write_match(lg, 1, 5)
    seg = seg_files(tmp_path)[-1]
    ref = lg.read_ticks(1, 3, 3)
    assert ref == [(3, frame(1, 3))]
    data = bytearray(seg.read_bytes())
    pos = data.index(frame(1, 3))
    data[pos + 10] ^= 1
    with open(seg, "r+b") as f:
        f.write(bytes(data))
    assert lg.read_ticks(1, 1, 2) == [(1, frame(1, 1)), (2, frame(1, 2))]
    with pytest.raises(DamagedLog, match="tick 3 of match 1 fails its checksum"):
        lg.read_ticks(1, 3, 3)
    lg.close()


def test_an_unfinished_newest_segment_is_discarded(tmp_path: Path) -> None:
    """A crash while a new segment was being created leaves its header short."""
    lg = SegmentTickLog(tmp_path)
    write_match(lg, 1, 4)
    lg.close()
    (segments_dir(tmp_path) / f"{99:020d}.seg").write_bytes(b"TCKSEG")
    lg = SegmentTickLog(tmp_path)
    assert "unfinished segment header" in lg.repaired[0]
    assert [n for n, _ in lg.read_ticks(1, 1)] == [1, 2, 3, 4]
    lg.write_cycle(Cycle(ticks=[(1, 5, b"5")]))
    lg.close()


def test_a_missing_segment_is_a_gap(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path, segment_bytes=1000)
    write_match(lg, 1, 60)
    lg.close()
    files = seg_files(tmp_path)
    files[1].unlink()
    files[1].with_suffix(".idx").unlink()
    with pytest.raises(DamagedLog, match="has a gap"):
        SegmentTickLog(tmp_path)


def test_retention_deletes_whole_segments_never_a_live_match(tmp_path: Path) -> None:
    now = [1000.0]
    lg = SegmentTickLog(tmp_path, segment_bytes=1500, clock=lambda: now[0])
    write_match(lg, 1, 40, end=100.0)  # old and ended
    write_match(lg, 2, 40)  # live
    write_match(lg, 3, 40, end=900.0)
    before = lg.segments()
    # by age: only the segments holding nothing but match 1 go
    assert lg.prune(500.0, None) == [1]
    assert lg.match(1) is None and lg.match(2) is not None
    after = lg.segments()
    assert len(after) < len(before) and after[0][0] != before[0][0]
    # by size: live match 2's first segment blocks everything from it on
    assert lg.prune(None, 1) == []
    assert [m.id for m in lg.matches()] == [2, 3]
    lg.write_cycle(Cycle(ends=[MatchEnd(2, 950.0, "empty")]))
    assert lg.prune(None, 1) == [2, 3]
    assert lg.matches() == [] and lg.next_match_id() == 4
    lg.close()
    lg = SegmentTickLog(tmp_path, segment_bytes=1500)
    assert lg.matches() == [] and lg.next_match_id() == 4  # ids are never reused
    with pytest.raises(ValueError, match="used before"):
        lg.write_cycle(Cycle(begins=[start(2)]))
    lg.close()


def test_segments_roll_by_age(tmp_path: Path) -> None:
    now = [0.0]
    lg = SegmentTickLog(tmp_path, segment_seconds=60.0, clock=lambda: now[0])
    write_match(lg, 1, 3)
    now[0] = 61.0
    lg.write_cycle(Cycle(ticks=[(1, 4, b"4")]))
    assert [sealed for _, _, sealed in lg.segments()] == [True, False]
    lg.close()


def test_full_durability_syncs_each_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd))[1])
    lg = SegmentTickLog(tmp_path, durability="full")
    synced.clear()
    write_match(lg, 1, 3)
    assert len(synced) == 3
    lg.close()
    lg = SegmentTickLog(tmp_path, durability="normal")
    synced.clear()
    lg.write_cycle(Cycle(ticks=[(1, 4, b"4")]))
    assert synced == []
    lg.close()


def test_a_failed_write_is_cut_off_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write the disk takes half of (a full disk: part, then ENOSPC) leaves the file
    at the last whole batch, and the log takes the same cycle once there is room."""
    import errno

    from tickcast.store.errors import DiskFull

    lg = SegmentTickLog(tmp_path)
    write_match(lg, 1, 2)
    size = seg_files(tmp_path)[-1].stat().st_size
    real = os.write
    calls = [0]

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        calls[0] += 1
        if calls[0] == 1:
            return real(fd, bytes(data)[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(DiskFull, match="the disk holding the tick log is full"):
        lg.write_cycle(Cycle(ticks=[(1, 3, frame(1, 3))]))
    monkeypatch.setattr(os, "write", real)
    assert seg_files(tmp_path)[-1].stat().st_size == size
    lg.write_cycle(Cycle(ticks=[(1, 3, frame(1, 3))]))
    lg.close()
    lg = SegmentTickLog(tmp_path)
    assert [n for n, _ in lg.read_ticks(1, 1)] == [1, 2, 3] and not lg.repaired
    lg.close()


def test_a_data_dir_is_held_by_one_process(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path)
    assert f"pid {os.getpid()}" in (tmp_path / LOCK_NAME).read_text()
    code = (
        "import sys; from tickcast.store.segments import SegmentTickLog\n"
        "try:\n SegmentTickLog(sys.argv[1])\nexcept Exception as e:\n print(type(e).__name__, e)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    ).stdout
    assert out.startswith("DataDirLocked ") and f"pid {os.getpid()}" in out
    assert str(tmp_path) in out and "--data-dir" in out
    reader = SegmentTickLog(tmp_path, read_only=True)  # the tools read beside it
    reader.close()
    lg.close()
    SegmentTickLog(tmp_path).close()  # released on close


def test_the_lock_dies_with_its_holder(tmp_path: Path) -> None:
    """kill -9 of the holder frees the data dir: flock, no stale lock file to clean."""
    code = (
        "import sys, time; from tickcast.store.segments import SegmentTickLog\n"
        "lg = SegmentTickLog(sys.argv[1]); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        with pytest.raises(DataDirLocked, match=f"pid {proc.pid}"):
            SegmentTickLog(tmp_path)
    finally:
        proc.kill()
        proc.wait()
    SegmentTickLog(tmp_path).close()


def test_a_data_dir_of_the_sqlite_log_is_not_ignored(tmp_path: Path) -> None:
    from tickcast.store.sqlite import SQLiteTickLog

    old = SQLiteTickLog(tmp_path)
    old.write_cycle(Cycle(begins=[start(1)]))
    old.close()
    with pytest.raises(LegacyLog, match=r"tickcast migrate --data-dir"):
        SegmentTickLog(tmp_path)


def test_read_only_sees_a_torn_tail_without_cutting_it(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path)
    write_match(lg, 1, 5)
    lg.close()
    seg = seg_files(tmp_path)[-1]
    seg.write_bytes(seg.read_bytes()[: -TICK_ENTRY.size])
    size = seg.stat().st_size
    reader = SegmentTickLog(tmp_path, read_only=True)
    assert [n for n, _ in reader.read_ticks(1, 1)] == [1, 2, 3, 4]
    reader.close()
    assert seg.stat().st_size == size


def test_open_cost_reads_index_files_not_segments(tmp_path: Path) -> None:
    """A restart reads the sealed segments' index files: it does not parse their batches
    (the figure is printed; the assertion is on what was read)."""
    lg = SegmentTickLog(tmp_path, segment_bytes=64 << 10)
    write_match(lg, 1, 5000)
    lg.close()
    files = seg_files(tmp_path)
    from tickcast.store import segments

    scanned: list[int] = []
    real = segments.scan_segment
    segments.scan_segment = lambda data: (scanned.append(len(data)), real(data))[1]  # type: ignore[assignment]
    try:
        t = time.perf_counter()
        lg = SegmentTickLog(tmp_path, segment_bytes=64 << 10)
        took = time.perf_counter() - t
    finally:
        segments.scan_segment = real
    print(f"FIGURE open of {len(files)} segments (5000 ticks): {took * 1e3:.1f} ms")
    assert len(scanned) == 1 and lg.match(1) is not None and lg.match(1).tick_count == 5000  # type: ignore[union-attr]
    lg.close()


def test_a_changed_frame_in_a_sealed_segment_is_caught_by_the_read(tmp_path: Path) -> None:
    """A sealed segment is opened from its index file, not scanned: a byte changed in it
    since is caught by the read of that tick, which says where, and never returned."""
    lg = SegmentTickLog(tmp_path, segment_bytes=1500)
    write_match(lg, 1, 60)
    lg.close()
    first = seg_files(tmp_path)[0]
    data = bytearray(first.read_bytes())
    pos = data.index(frame(1, 5))
    data[pos + 3] ^= 0x20
    first.write_bytes(bytes(data))
    lg = SegmentTickLog(tmp_path, segment_bytes=1500)
    assert not lg.repaired and lg.match(1) is not None
    assert lg.read_ticks(1, 1, 4) == [(n, frame(1, n)) for n in range(1, 5)]
    with pytest.raises(DamagedLog, match=rf"{first.name} is damaged at byte {pos}: tick 5"):
        lg.read_ticks(1, 1, 10)
    assert lg.read_ticks(1, 6, 8) == [(n, frame(1, n)) for n in range(6, 9)]
    lg.close()
