"""A cluster node's shutdown gives its rooms and its registration up before it
waits for its write-behind archive, and that wait is bounded: a slow or stalled
disk must not keep other nodes from taking the rooms (they are all in Redis)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tests.cluster_support import RedisProcess, wait_until
from tickcast.client import Client
from tickcast.cluster import ClusterService
from tickcast.config import Config
from tickcast.server import Server
from tickcast.store.log import Cycle, MemoryTickLog
from tickcast.store.recorder import MatchArchive

pytestmark = pytest.mark.timeout(60)


class _StalledDisk(MemoryTickLog):
    """Writes block until the test lets them go (a disk stalled in fsync)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def write_cycle(self, cycle: Cycle) -> None:
        self.go.wait(30)
        super().write_cycle(cycle)


async def test_shutdown_releases_the_rooms_before_waiting_for_a_stalled_archive(
    tmp_path: Path,
) -> None:
    redis_proc = RedisProcess(tmp_path / "redis")
    await redis_proc.start()
    r = redis_proc.client()
    disk = _StalledDisk()
    try:
        config = Config(
            host="127.0.0.1", port=0, http=False, cluster=redis_proc.url, lease_seconds=3.0,
            shutdown_timeout=10.0, server_id="n1",
        )
        archive = MatchArchive(config, lambda: disk)
        archive.open()
        node = ClusterService(config, archive=archive)
        server = Server(config, [node])
        await server.start()
        player = Client("127.0.0.1", server.port, player_id="ada", room="r", reconnect=False)
        await player.start()
        await wait_until(lambda: archive.backlog > 0, 10, "cycles queued for the archive")
        assert await r.get("tickcast:{r}:lease") is not None
        server.close()
        closing = asyncio.create_task(server.wait_closed())

        async def released() -> bool:
            lease = await r.get("tickcast:{r}:lease")
            return lease is None and await r.zscore("tickcast:nodes", node.address) is None

        # the archive is still stalled: the lease and the registration must go anyway
        await wait_until(released, 10, "the lease and the registration released")
        assert not closing.done() and archive.backlog > 0
        disk.go.set()  # the disk comes back: the archive finishes what it had
        await asyncio.wait_for(closing, 20)
        assert archive.backlog == 0
        await player.close(leave=False)
    finally:
        disk.go.set()
        await r.aclose()
        await redis_proc.stop()
