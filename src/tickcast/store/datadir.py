"""A data dir: its layout, its lock (one server per data dir), and what format it holds.

    DATA_DIR/tickcast.lock        flock()ed by the process that writes the log; holds
                                  "pid P host H since T" of the holder
    DATA_DIR/ticks/*.seg, *.idx   the segment tick log (store/segments.py)
    DATA_DIR/ticks.sqlite3        the SQLite tick log of tickcast before the segment log
                                  (converted by `tickcast migrate`, then renamed
                                  ticks.sqlite3.migrated)

The lock is an advisory `fcntl.flock` on an open file: the kernel drops it when the
holder exits, however it dies (kill -9 included), so there are no stale locks to
clean up; the pid in the file is only there to name the holder in the error.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from tickcast.store.errors import FULL_ERRNOS, DataDirLocked, StoreError, from_os_error

LOCK_NAME = "tickcast.lock"
SEGMENTS_DIR = "ticks"
LEGACY_DB = "ticks.sqlite3"
MIGRATED_SUFFIX = ".migrated"


def segments_dir(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / SEGMENTS_DIR


def legacy_db(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / LEGACY_DB


def has_segments(data_dir: str | os.PathLike[str]) -> bool:
    d = segments_dir(data_dir)
    return d.is_dir() and any(p.suffix == ".seg" for p in d.iterdir())


def has_unconverted_legacy_log(data_dir: str | os.PathLike[str]) -> bool:
    """A `ticks.sqlite3` with content that no segment log has replaced yet."""
    db = legacy_db(data_dir)
    return db.is_file() and db.stat().st_size > 0 and not has_segments(data_dir)


def prepare(data_dir: str | os.PathLike[str]) -> Path:
    """Create the data dir (and its parents) if needed; StoreError if it cannot be
    created or written."""
    d = Path(data_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in FULL_ERRNOS:
            raise from_os_error(exc, "creating the data dir", d) from None
        raise StoreError(f"cannot create the data dir {d}: {exc.strerror}") from None
    if not os.access(d, os.W_OK | os.X_OK):
        raise StoreError(
            f"the data dir {d} is not writable by this user: "
            "fix its permissions, or choose another with --data-dir"
        )
    return d


class DataDirLock:
    """An exclusive lock on a data dir, held from `acquire` until `release` (or exit)."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise DataDirLocked naming its holder."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise from_os_error(exc, "opening the lock file", self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirLocked(
                f"the data dir {self.path.parent} is in use by another tickcast process "
                f"({holder or 'its pid is not recorded'}; lock file {self.path}): stop that "
                "server first, or give this one its own --data-dir"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise from_os_error(exc, "locking", self.path) from None
        note = f"pid {os.getpid()} host {socket.gethostname()} since " + time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime()
        )
        try:  # the holder's name is a courtesy: a full disk must not stop the server here
            os.ftruncate(fd, 0)
            os.pwrite(fd, (note + "\n").encode(), 0)
        except OSError:
            pass
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""
