"""Issue 15 item 5: the Redis password of `--cluster` is never printed.

A redis-server that requires a password, and two `tickcast serve --cluster`
nodes reaching it with the password in two of the forms redis-py reads
(`redis://:PW@`, `?password=PW`). Nothing a node or a `tickcast` command
prints (the node's start-up line and the rest of its log, `/api/server`, the
errors of `tickcast drain` and of `serve` for a URL it cannot read) contains
the password; where the URL is shown, it is shown redacted.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
from cluster_support import SRC, NodeProcess, RedisProcess, wait_until

PASSWORD = "Zq8-cluster-pw-do-not-print"


async def tickcast(*args: str) -> tuple[int, str]:
    """Run `python -m tickcast ARGS`; its exit status and everything it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickcast", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": SRC},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(errors="replace")


async def test_the_cluster_password_is_never_printed(tmp_path: Path) -> None:
    redis_proc = RedisProcess(tmp_path / "redis", password=PASSWORD)
    await redis_proc.start()
    query_form = f"redis://127.0.0.1:{redis_proc.port}/0?password={PASSWORD}"
    nodes = [
        NodeProcess(redis_proc.url, tmp_path, "node0", "--http", "--http-port", "0"),
        NodeProcess(query_form, tmp_path, "node1"),
    ]
    try:
        for node in nodes:
            await node.start()
        for node in nodes:
            await wait_until(lambda n=node: "cluster node" in n.log(), 20, "the start-up line")
        # /api/server shows which Redis, without its password
        url = f"http://127.0.0.1:{nodes[0].http_port}/api/server"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            body = await resp.text()
            shown = (await resp.json())["config"]["cluster"]
        assert PASSWORD not in body
        assert shown == f"redis://:<redacted>@127.0.0.1:{redis_proc.port}/0"
        # tickcast drain, for a node that is not there, names the Redis it asked
        status, out = await tickcast("drain", "--cluster", query_form, "--node", "nowhere:1")
        assert status == 1 and "no live node nowhere:1" in out
        assert "password=<redacted>" in out and PASSWORD not in out
        # ... and for a Redis that is not there
        await redis_proc.stop()
        status, out = await tickcast("drain", "--cluster", query_form, "--node", "nowhere:1")
        assert status == 1 and "tickcast drain: Redis at" in out and PASSWORD not in out
        for node in nodes:  # they log the outage
            await wait_until(lambda n=node: "Redis unreachable" in n.log(), 20, "the outage")
    finally:
        for node in nodes:
            await node.stop()
        await redis_proc.stop()
    for node in nodes:
        log = node.log()
        assert "cluster node address=127.0.0.1:" in log and "<redacted>" in log, log
        assert PASSWORD not in log, log
    # a URL redis-py cannot read: exit 2, naming it redacted
    bad = f"redis://:{PASSWORD}@127.0.0.1:notaport/0"
    status, out = await tickcast("serve", "--no-record", "--port", "0", "--cluster", bad)
    assert status == 2 and "--cluster: redis-py cannot read it" in out, out
    assert PASSWORD not in out
