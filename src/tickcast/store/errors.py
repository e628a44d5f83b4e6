"""What can go wrong with a tick log, one class per thing the operator must do.

Every class is a `StoreError` (callers that only need "the log cannot be used"
catch that), and each message names the file and says what to do. The split
matters because the advice differs: a full disk wants space freed, never a log
moved aside; a damaged file wants the file kept for inspection; a data dir in
use wants the other server stopped.
"""

from __future__ import annotations

import errno
import os

from tickcast.store.log import StoreError


class DiskFull(StoreError):
    """The file system holding the tick log is full (ENOSPC) or over quota (EDQUOT).

    Nothing is damaged: what was written before is intact, and writing can go on
    once there is space again."""


class LogIOError(StoreError):
    """The operating system failed a read or write of the tick log (EIO, EROFS...):
    a failing disk, a file system remounted read-only. Not a damaged log."""


class DamagedLog(StoreError):
    """A tick log file holds bytes that are not what was written (a failed checksum,
    a record cut in the middle of a file, an unknown format). The file is left as it is."""


class DataDirLocked(StoreError):
    """Another process (another `tickcast serve`) holds the data dir's lock."""


class LegacyLog(StoreError):
    """The data dir holds a tick log of an earlier format that must be converted first
    (`tickcast migrate`)."""


FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
IO_ERRNOS = frozenset({errno.EIO, errno.EROFS, errno.ENXIO, errno.ENODEV, errno.EBADF})


def disk_full_message(path: os.PathLike[str] | str, what: str) -> str:
    return (
        f"the disk holding the tick log is full: {what} {path} failed (no space left on the "
        "file system, or its quota is used up). The log is not damaged: free space there "
        "(or lower --retention-days / --max-data-bytes), then go on"
    )


def from_os_error(exc: OSError, what: str, path: os.PathLike[str] | str) -> StoreError:
    """The StoreError an OSError from `what` (e.g. "writing") on `path` stands for."""
    code = exc.errno
    if code in FULL_ERRNOS:
        return DiskFull(disk_full_message(path, what))
    reason = exc.strerror or str(exc)
    if code in (errno.EACCES, errno.EPERM):
        return StoreError(
            f"{what} {path} was refused ({reason}): fix the permissions of the data dir, "
            "or choose another with --data-dir"
        )
    if code in IO_ERRNOS or code is None:
        return LogIOError(
            f"{what} {path} failed with an I/O error ({reason}): the disk or its file system "
            "is failing (check the kernel log); the tick log itself is not known to be damaged"
        )
    return LogIOError(f"{what} {path} failed: {reason}")


__all__ = [
    "DamagedLog",
    "DataDirLocked",
    "DiskFull",
    "LegacyLog",
    "LogIOError",
    "StoreError",
    "from_os_error",
]
