"""`tickcast serve` starts the HTTP side and says where (or not, with --no-http)."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
from support import SERVE_COMMAND, SRC_DIR


async def start_serve(*flags: str) -> asyncio.subprocess.Process:
    # TICKCAST_HTTP_PORT=0: never the default 8080 unless a flag asks (tests run side by side)
    env = {
        **os.environ,
        "PYTHONPATH": SRC_DIR,
        "TICKCAST_LOG_LEVEL": "WARNING",
        "TICKCAST_HTTP_PORT": "0",
    }
    return await asyncio.create_subprocess_exec(
        *SERVE_COMMAND,
        *flags,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )


async def stop(proc: asyncio.subprocess.Process) -> bytes:
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    return out


async def test_serve_prints_the_http_address_and_serves_it() -> None:
    proc = await start_serve("--http-port", "0")
    try:
        assert proc.stdout is not None
        tcp_line = await asyncio.wait_for(proc.stdout.readline(), 20)
        http_line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert tcp_line.startswith(b"tickcast listening on tcp://127.0.0.1:")
        assert http_line.startswith(b"tickcast http on http://127.0.0.1:")
        url = http_line.decode().split()[-1]
        async with aiohttp.ClientSession() as s, s.get(url + "/healthz") as r:
            assert r.status == 200
    finally:
        if proc.returncode is None:
            await stop(proc)


async def test_no_http_prints_one_line() -> None:
    proc = await start_serve("--no-http")
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert line.startswith(b"tickcast listening on tcp://")
    assert b"http" not in await stop(proc)
