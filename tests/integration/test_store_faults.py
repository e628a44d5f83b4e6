"""The tick logs on real broken disks (tests/fault_support.py: a frozen loop-mounted
ext4, a full tmpfs). Needs root: without it these tests fail saying so, never skip."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fault_support import frozen_fs, full_disk, is_mounted

from tickcast.store.errors import DamagedLog, DiskFull
from tickcast.store.log import Cycle, MatchEnd, MatchStart, Presence, iter_ticks
from tickcast.store.segments import SegmentTickLog
from tickcast.store.sqlite import SQLiteTickLog


def cycle(match_id: int, n: int, size: int = 2000) -> Cycle:
    c = Cycle(ticks=[(match_id, n, bytes([n % 251]) * size)])
    if n == 1:
        c.begins.append(MatchStart(match_id, "r", 30, 1.0))
        c.presence.append(Presence(match_id, 1, ((1, "ada"),)))
    return c


def test_a_full_disk_is_reported_as_full_and_the_log_goes_on_when_freed(tmp_path: Path) -> None:
    with full_disk(tmp_path, "1m") as disk:
        disk.filler.write_bytes(bytes(256 << 10))  # what the operator frees later
        lg = SegmentTickLog(disk.path / "data")
        written = 0
        with pytest.raises(DiskFull) as failed:
            while True:  # 2 KB ticks into 1 MiB: the disk fills
                lg.write_cycle(cycle(1, written + 1))
                written += 1
        text = str(failed.value)
        assert "full" in text and "not damaged" in text and "damaged (" not in text
        print(f"FIGURE segment log on a 1 MiB tmpfs: {written} cycles, then: {text}")
        assert written > 50
        disk.free()
        lg.write_cycle(cycle(1, written + 1))  # the same tick, once there is room
        lg.close()
        lg = SegmentTickLog(disk.path / "data")
        assert not lg.repaired  # the failed write left no partial batch behind
        got = [n for n, _ in iter_ticks(lg, 1)]
        assert got == list(range(1, written + 2))
        lg.close()


def test_a_log_cannot_begin_on_a_full_disk_and_says_why(tmp_path: Path) -> None:
    """A data dir that never held a log, on a full disk: "full", not "damaged"."""
    with full_disk(tmp_path, "256k") as disk:
        disk.fill()
        with pytest.raises(DiskFull, match="the disk holding the tick log is full"):
            SegmentTickLog(disk.path / "data")
        with pytest.raises(DiskFull, match="the disk holding the tick log is full"):
            SQLiteTickLog(disk.path / "data2")


def test_the_sqlite_log_reports_a_full_disk_as_full(tmp_path: Path) -> None:
    """Issue 14's defect 3: a full disk was reported as a damaged database."""
    with full_disk(tmp_path, "1m") as disk:
        lg = SQLiteTickLog(disk.path)
        lg.write_cycle(Cycle(begins=[MatchStart(1, "r", 30, 1.0)]))
        n = 0
        with pytest.raises(DiskFull, match="is full"):
            while True:
                n += 1
                lg.write_cycle(Cycle(ticks=[(1, n, bytes(4000))]))
        lg.close()
        disk.fill()
        try:
            SQLiteTickLog(disk.path, check=True).close()
        except DiskFull:
            pass  # may need room for its WAL: then it says so, and never "damaged"
        except Exception as exc:  # noqa: BLE001
            assert not isinstance(exc, DamagedLog) and "damaged" not in str(exc)


def test_a_frozen_disk_stalls_the_write_but_never_a_reader(tmp_path: Path) -> None:
    """While the file system is frozen a write blocks in the kernel (measured: so does
    pwritev with RWF_NOWAIT, which ext4 refuses for buffered files anyway), so writes
    belong off the event loop; the index lock is never held across one, so reads
    (catch-up served on the loop) go on; after the thaw the write completes."""
    with frozen_fs(tmp_path) as fs:
        lg = SegmentTickLog(fs.path / "data")
        for n in range(1, 11):
            lg.write_cycle(cycle(1, n))
        done = threading.Event()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                lg.write_cycle(cycle(1, 11))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            done.set()

        with fs.frozen():
            writer = threading.Thread(target=write)
            writer.start()
            assert not done.wait(0.5), "a write to a frozen file system returned"
            # the reader side answers while the writer is stuck in the kernel
            assert [n for n, _ in lg.read_ticks(1, 1, 10)] == list(range(1, 11))
            assert lg.match(1) is not None and lg.match(1).tick_count == 10  # type: ignore[union-attr]
            assert not done.is_set()
        assert done.wait(30) and not errors
        writer.join()
        assert lg.read_ticks(1, 11) == [(11, cycle(1, 11).ticks[0][2])]
        lg.write_cycle(Cycle(ends=[MatchEnd(1, 2.0, "empty")]))
        lg.close()
        lg = SegmentTickLog(fs.path / "data")
        assert [n for n, _ in iter_ticks(lg, 1)] == list(range(1, 12)) and not lg.repaired
        lg.close()


def test_the_rigs_undo_themselves_when_the_test_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), frozen_fs(tmp_path) as fs:
        fs.freeze()
        raise RuntimeError("the test body failed while frozen")
    assert not is_mounted(tmp_path / "ext4")
    with pytest.raises(RuntimeError), full_disk(tmp_path) as disk:
        disk.fill()
        raise RuntimeError("the test body failed")
    assert not is_mounted(tmp_path / "tmpfs")


def test_the_rigs_fail_and_say_why_without_root_or_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root, or a tool missing: the test fails with what to do (it never skips)."""
    import os
    import shutil

    from fault_support import require_mount_rig

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.fail.Exception, match="needs root: run the test suite as root"):
        require_mount_rig("mount")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install e2fsprogs util-linux"):
        require_mount_rig("mkfs.ext4", "fsfreeze")


def test_a_second_server_on_a_data_dir_is_refused_naming_the_first(tmp_path: Path) -> None:
    """Issue 14's defect 4: two single-node servers could share one data dir."""
    import os
    import subprocess
    import sys

    import tickcast

    held = SQLiteTickLog(tmp_path)  # what a running `tickcast serve` holds
    try:
        src = str(Path(tickcast.__file__).resolve().parents[1])
        done = subprocess.run(
            [sys.executable, "-m", "tickcast", "serve", "--record", "--data-dir", str(tmp_path),
             "--port", "0", "--no-http"],
            capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=src),
        )
    finally:
        held.close()
    assert done.returncode == 1, done.stderr
    assert f"the data dir {tmp_path} is in use by another tickcast process (pid {os.getpid()}" \
        in done.stderr
    SQLiteTickLog(tmp_path).close()  # free again once the holder closed it
