"""What writes do on a stalled (frozen) and on a full file system, on this kernel.

The experiment behind store/writer.py's design (docs/ticklog.md, "The write
scheme"). Needs root, util-linux and e2fsprogs; makes a 64 MiB loop-mounted
ext4 and a 1 MiB tmpfs under a temp dir, and removes both.

    sudo python bench/stalled_disk.py [ext4|xfs|btrfs]

(xfs and btrfs need xfsprogs / btrfs-progs; the image is 320 MiB for them.)
"""

from __future__ import annotations

import errno
import mmap
import os
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable

TIMEOUT = 1.0


def attempt(label: str, fn: Callable[[], object]) -> threading.Thread | None:
    """Run fn on a thread; print its result, or that it is still blocked after TIMEOUT."""
    res: dict[str, object] = {}

    def run() -> None:
        t = time.perf_counter()
        try:
            res["ok"] = fn()
        except OSError as e:
            res["err"] = errno.errorcode.get(e.errno or 0, str(e.errno))
        res["t"] = time.perf_counter() - t

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(TIMEOUT)
    if th.is_alive():
        print(f"  {label}: BLOCKED (> {TIMEOUT:g} s)")
        return th
    t = res["t"]
    assert isinstance(t, float)
    print(f"  {label}: {res.get('ok', res.get('err'))!r} in {t * 1e6:.0f} us")
    return None


def frozen(base: str, fstype: str) -> None:
    img, mnt = base + "/img", base + "/" + fstype
    os.mkdir(mnt)
    subprocess.run(["truncate", "-s", "64M" if fstype == "ext4" else "320M", img], check=True)
    force = "-F" if fstype == "ext4" else "-f"
    subprocess.run([f"mkfs.{fstype}", "-q", force, img], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", img, mnt], check=True)
    fds: list[int] = []
    try:
        fd = os.open(mnt + "/seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        pre = os.open(mnt + "/pre", os.O_RDWR | os.O_CREAT, 0o644)
        direct = os.open(mnt + "/direct", os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
        fds += [fd, pre, direct]
        page = mmap.mmap(-1, 4096)
        page.write(b"z" * 4096)
        os.pwrite(direct, page, 0)
        os.posix_fallocate(pre, 0, 1 << 20)
        os.pwrite(pre, b"y" * 8192, 8192)
        buf = b"x" * 2000
        nowait = os.RWF_NOWAIT
        print(f"healthy {fstype} (kernel {os.uname().release}):")
        attempt("os.write", lambda: os.write(fd, buf))
        def nowait_at(off: int) -> Callable[[], object]:
            return lambda: os.pwritev(pre, [buf], off, nowait)

        def direct_nowait() -> object:
            return os.pwritev(direct, [page], 0, nowait)

        def create() -> object:
            fds.append(os.open(mnt + "/new", os.O_WRONLY | os.O_CREAT))
            return fds[-1]

        attempt("pwritev RWF_NOWAIT at EOF", nowait_at(1 << 20))
        attempt("pwritev RWF_NOWAIT into written page", nowait_at(8192))
        attempt("pwritev RWF_NOWAIT into fallocated", nowait_at(65536))
        attempt("O_DIRECT pwritev RWF_NOWAIT overwrite", direct_nowait)
        os.fsync(fd)
        os.fsync(pre)
        subprocess.run(["fsfreeze", "-f", mnt], check=True)
        print("frozen (fsfreeze -f):")
        blocked = [
            attempt(label, fn)
            for label, fn in [
                ("pwritev RWF_NOWAIT into written page", nowait_at(8192)),
                ("O_DIRECT pwritev RWF_NOWAIT overwrite", direct_nowait),
                ("os.write", lambda: os.write(fd, buf)),
                ("open(O_CREAT) of a new file", create),
                ("pread", lambda: len(os.pread(pre, 100, 8192))),
                ("fstat", lambda: os.fstat(fd).st_size),
                ("fdatasync with nothing dirty", lambda: os.fdatasync(pre)),
            ]
        ]
        # is the blocked write interruptible? a signal handler that raises would end it
        def alarm(_s: int, _f: object) -> None:
            raise TimeoutError

        signal.signal(signal.SIGALRM, alarm)
        thaw = threading.Timer(2.0, lambda: subprocess.run(["fsfreeze", "-u", mnt]))
        thaw.start()
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        t = time.perf_counter()
        try:
            os.write(fd, buf)
            how = "returned (the signal did not end it)"
        except TimeoutError:
            how = "ended by the handler, which ran only when the write returned"
        print(f"  os.write, SIGALRM at 0.2 s: {how}, after {time.perf_counter() - t:.2f} s")
        thaw.join()
        for th in blocked:
            if th is not None:
                th.join(10)
        back = all(th is None or not th.is_alive() for th in blocked)
        print(f"thawed: the blocked calls returned: {back}")
    finally:
        subprocess.run(["fsfreeze", "-u", mnt], stderr=subprocess.DEVNULL)
        for f in fds:
            os.close(f)
        subprocess.run(["umount", mnt])


def full(base: str) -> None:
    mnt = base + "/tmpfs"
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], check=True)
    try:
        print("full tmpfs (1 MiB):")
        fd = os.open(mnt + "/seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        total, short = 0, None
        try:
            while True:
                n = os.write(fd, b"x" * 3000)
                total += n
                if n < 3000 and short is None:
                    short = (total, n)
        except OSError as e:
            print(f"  os.write: {errno.errorcode[e.errno or 0]} after {total} B; "
                  f"first a short write of {short[1] if short else '-'} B")
        for name in ("fdatasync", "fsync"):
            try:
                getattr(os, name)(fd)
                print(f"  {name}: ok")
            except OSError as e:
                print(f"  {name}: {errno.errorcode[e.errno or 0]}")
        os.ftruncate(fd, total - 1000)
        print("  ftruncate back to a record boundary: ok; write after it: "
              f"{os.write(fd, b'y' * 500)} B")
        os.close(fd)
        os.unlink(mnt + "/seg")
        db = sqlite3.connect(mnt + "/ticks.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t(x BLOB)")
        try:
            while True:
                db.execute("INSERT INTO t VALUES (?)", (b"z" * 3000,))
        except sqlite3.Error as e:
            print(f"  SQLite: {type(e).__name__}: {e} ({e.sqlite_errorname})")
        db.close()
    finally:
        subprocess.run(["umount", mnt])


def main() -> None:
    import sys

    fstype = sys.argv[1] if len(sys.argv) > 1 else "ext4"
    base = tempfile.mkdtemp(prefix="stalled-disk")
    try:
        frozen(base, fstype)
        full(base)
    finally:
        subprocess.run(["rm", "-rf", base])


if __name__ == "__main__":
    main()
