"""`tickcast serve` raises its soft RLIMIT_NOFILE to the hard limit at start, and
says whether --max-connections fits in it (a WARNING when it does not)."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys

import pytest
from support import SRC_DIR

from tickcast import descriptors
from tickcast.config import Config
from tickcast.logs import fields


def open_files_limit(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


async def serve_with_limits(soft: int, hard: int, *flags: str) -> tuple[tuple[int, int], str]:
    """Start `tickcast serve` under (soft, hard): its limit once it listens, and its log."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickcast", "serve", "--port", "0", "--no-http", "--no-record",
        *flags, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": SRC_DIR}, preexec_fn=limit,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.startswith(b"tickcast listening on"), line
        limits = open_files_limit(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        return limits, err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_raises_its_descriptor_limit_and_warns_when_the_limits_do_not_fit() -> None:
    hard = min(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    limits, log = await serve_with_limits(256, hard)
    assert limits == (hard, hard)
    # the default --max-connections (10,000) does not fit in `hard` descriptors
    assert "WARNING tickcast.server: file descriptors: --max-connections needs more" in log
    assert f"limit={hard} raised_from=256 max_connections=10000 needed=10080 " \
        f"hard_limit={hard}" in log
    limits, log = await serve_with_limits(256, hard, "--max-connections", "1000")
    assert limits == (hard, hard)
    assert "INFO tickcast.server: file descriptors: enough for --max-connections " \
        f"limit={hard} raised_from=256 max_connections=1000" in log
    assert "WARNING" not in log


@pytest.mark.parametrize(
    ("max_connections", "limits", "level", "text"),
    [
        (10000, (1024, 1024, 1024), logging.WARNING, "limit=1024 max_connections=10000 "
         "needed=10080 hard_limit=1024"),
        (10000, (1024, 65536, 65536), logging.INFO, "enough for --max-connections limit=65536 "
         "raised_from=1024"),
        (0, (1024, 1024, 1024), logging.INFO, "bounded by the descriptors alone"),
        (100, None, logging.DEBUG, "no RLIMIT_NOFILE"),
    ],
)
def test_the_start_up_line_says_whether_the_limits_fit(
    max_connections: int, limits: tuple[int, int, int] | None, level: int, text: str
) -> None:
    got_level, message, values = descriptors.check(
        Config(max_connections=max_connections), limits
    )
    line = message % fields(**values)
    assert got_level == level and text in line, line
