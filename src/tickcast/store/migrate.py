"""Data dirs of either format: open the one a dir holds, and convert SQLite to segments.

`tickcast migrate` (store/commands.py) converts DATA_DIR/ticks.sqlite3, the tick
log of tickcast before the segment log, into DATA_DIR/ticks/: every match with
its id, times, end reason, tick frames (byte for byte), presence (from the
frames' joined/left, as the room built them) and kicks; live matches stay live,
so a server started on the converted dir restores them. The conversion is
written to DATA_DIR/.migrating/ and renamed into place only once every tick has
been read back and compared, so a crash or a full disk half way leaves the old
log as it was (run the command again). The old file is kept, renamed
`ticks.sqlite3.migrated`: delete it once the new log has served you.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tickcast.store import datadir
from tickcast.store.errors import StoreError, from_os_error
from tickcast.store.log import (
    Cycle,
    MatchEnd,
    MatchStart,
    Presence,
    TickLog,
    iter_ticks,
    tick_of_frame,
)

CHUNK = 512
STAGING = ".migrating"


def open_for_reading(data_dir: str | os.PathLike[str]) -> TickLog:
    """The log a data dir holds, for the tools: the segment log if there is one, else
    the SQLite log (StoreError if neither)."""
    if datadir.segments_dir(data_dir).is_dir():
        from tickcast.store.segments import SegmentTickLog

        return SegmentTickLog(data_dir, read_only=True)
    from tickcast.store.sqlite import SQLiteTickLog

    return SQLiteTickLog(data_dir, create=False)


@dataclass(frozen=True, slots=True)
class Migrated:
    matches: int
    ticks: int
    bytes: int
    kept_as: Path


def migrate_sqlite(
    data_dir: str | os.PathLike[str], progress: Callable[[str], None] | None = None
) -> Migrated:
    """Convert the data dir's ticks.sqlite3 into a segment log (see the module docstring).
    Holds the data dir's lock meanwhile (DataDirLocked if a server holds it)."""
    from tickcast.store.segments import SegmentTickLog
    from tickcast.store.sqlite import SQLiteTickLog

    root = Path(data_dir)
    source = datadir.legacy_db(root)
    if not source.is_file():
        raise StoreError(f"nothing to convert: there is no {source}")
    if datadir.has_segments(root):
        raise StoreError(
            f"{root} holds a segment log already ({datadir.segments_dir(root)}); "
            f"{source} was not converted again"
        )
    lock = datadir.DataDirLock(root)
    lock.acquire()
    staging = root / STAGING
    try:
        shutil.rmtree(staging, ignore_errors=True)  # a conversion a crash cut short
        old = SQLiteTickLog(root, create=False, check=True)
        try:
            new = SegmentTickLog(staging, lock=False)
            try:
                counts = _copy(old, new, progress)
                _compare(old, new)
            finally:
                new.close()
        finally:
            old.close()
        try:
            os.rename(datadir.segments_dir(staging), datadir.segments_dir(root))
            shutil.rmtree(staging, ignore_errors=True)
            kept = source.with_name(source.name + datadir.MIGRATED_SUFFIX)
            for suffix in ("", "-wal", "-shm"):
                part = source.with_name(source.name + suffix)
                if part.exists():
                    os.rename(part, kept.with_name(kept.name + suffix))
        except OSError as exc:
            raise from_os_error(exc, "moving the converted log into", root) from None
        return Migrated(counts[0], counts[1], counts[2], kept)
    finally:
        lock.release()


def _copy(
    old: TickLog, new: TickLog, progress: Callable[[str], None] | None
) -> tuple[int, int, int]:
    matches = ticks = size = 0
    for info in old.matches():
        begin = MatchStart(
            info.id, info.room, info.tick_rate, info.started_at, info.server_id,
            info.match_key, info.first_tick, info.base_chain,
        )
        cycle = Cycle(begins=[begin])
        for number, frame in iter_ticks(old, info.id, chunk=CHUNK):
            cycle.ticks.append((info.id, number, frame))
            tick = tick_of_frame(frame)
            if tick.joined or tick.left:
                joined = tuple((m.slot, m.player_id) for m in tick.joined)
                cycle.presence.append(Presence(info.id, number, joined, tuple(tick.left)))
            ticks += 1
            size += len(frame)
            if len(cycle.ticks) >= CHUNK:
                new.write_cycle(cycle)
                cycle = Cycle()
        cycle.kicks = old.kicks(info.id)
        if info.ended_at is not None:
            cycle.ends.append(MatchEnd(info.id, info.ended_at, info.end_reason))
        new.write_cycle(cycle)
        matches += 1
        if progress is not None:
            progress(f"match {info.id} ({info.room}): {info.tick_count} ticks")
    return matches, ticks, size


def _compare(old: TickLog, new: TickLog) -> None:
    """Read the converted log back against the old one; StoreError at the first change."""
    for a, b in zip(old.matches(), new.matches(), strict=False):
        if (a.id, a.room, a.ended_at, a.end_reason, a.tick_count, a.players) != (
            b.id, b.room, b.ended_at, b.end_reason, b.tick_count, b.players
        ):
            raise StoreError(f"conversion check failed: match {a.id} differs ({a} / {b})")
        ours, theirs = iter_ticks(old, a.id), iter_ticks(new, a.id)
        for x in ours:
            if next(theirs, None) != x:
                raise StoreError(f"conversion check failed: match {a.id} tick {x[0]} differs")
        if next(theirs, None) is not None:
            raise StoreError(f"conversion check failed: match {a.id} has ticks it had not")
    if len(old.matches()) != len(new.matches()):
        raise StoreError("conversion check failed: not every match was converted")
