"""Fault rigs for tests: a file system that stalls (frozen), and one that is full.

    with frozen_fs(tmp_path) as fs:        # a loop-mounted ext4 at fs.path
        ...write to fs.path...
        with fs.frozen():                  # fsfreeze -f: writes block until thawed
            ...
    with full_disk(tmp_path) as disk:      # a 1 MiB tmpfs at disk.path
        disk.fill()                        # leave no free byte (disk.free() undoes it)

Both need root (mount, fsfreeze) and util-linux + e2fsprogs (`apt-get install
util-linux e2fsprogs`). Without them a test FAILS with a message saying what is
missing: these tests must not skip to look green, and CI runs as root with those
packages (.ci/run installs them). Everything is undone in `finally`: thawed
before unmounting (an unmount of a frozen file system hangs), unmounted (retried,
then lazily, so a test that leaked an open file does not wedge the machine), and
the loop device goes with the mount (`mount -o loop` sets autoclear).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS = {
    "mount": "util-linux",
    "umount": "util-linux",
    "fsfreeze": "util-linux",
    "mkfs.ext4": "e2fsprogs",
}


def require_mount_rig(*tools: str) -> None:
    """Fail (not skip) with what to do when this process cannot mount file systems."""
    if os.geteuid() != 0:
        pytest.fail(
            "this fault test mounts a file system, which needs root: run the test suite as "
            "root (CI does), e.g. `sudo .venv/bin/python -m pytest ...`",
            pytrace=False,
        )
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = sorted({TOOLS[t] for t in missing})
        pytest.fail(
            f"this fault test needs {', '.join(missing)}: `apt-get install {' '.join(packages)}`",
            pytrace=False,
        )


def _run(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.fail(
            f"`{' '.join(cmd)}` failed ({done.returncode}): {done.stderr.strip()}; "
            "mounting needs root and a kernel that allows loop devices / tmpfs here",
            pytrace=False,
        )


def is_mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == target for line in f)


def _unmount(path: Path) -> None:
    for _ in range(50):  # a file just closed by a thread can keep it busy a moment
        if not is_mounted(path):
            return
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@dataclass
class FrozenFS:
    """A loop-mounted ext4 that the test can freeze (`fsfreeze -f`) and thaw."""

    path: Path
    is_frozen: bool = False

    def freeze(self) -> None:
        _run("fsfreeze", "-f", str(self.path))
        self.is_frozen = True

    def thaw(self) -> None:
        if self.is_frozen:
            _run("fsfreeze", "-u", str(self.path))
            self.is_frozen = False

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()


@contextlib.contextmanager
def frozen_fs(tmp_path: Path, size_mb: int = 64) -> Iterator[FrozenFS]:
    """A fresh ext4 of `size_mb` MiB, loop-mounted at tmp_path/"ext4"."""
    require_mount_rig("mount", "umount", "fsfreeze", "mkfs.ext4")
    image, mnt = tmp_path / "ext4.img", tmp_path / "ext4"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)
    _run("mkfs.ext4", "-q", "-F", str(image))
    _run("mount", "-o", "loop", str(image), str(mnt))
    fs = FrozenFS(mnt)
    try:
        yield fs
    finally:
        try:
            fs.thaw()
        finally:
            _unmount(mnt)
            image.unlink(missing_ok=True)


@dataclass
class FullDisk:
    """A small tmpfs; `fill()` takes its free space, `free()` gives it back."""

    path: Path

    @property
    def filler(self) -> Path:
        return self.path / "filler"

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for size in (1 << 16, 4096, 1):  # a write takes what fits, then ENOSPC
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@contextlib.contextmanager
def full_disk(tmp_path: Path, size: str = "1m") -> Iterator[FullDisk]:
    """A tmpfs of `size` (mount's syntax) at tmp_path/"tmpfs"."""
    require_mount_rig("mount", "umount")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt))
    try:
        yield FullDisk(mnt)
    finally:
        _unmount(mnt)
