"""A cluster node's HTTP side: cluster metrics on /metrics, and /readyz says
when Redis is unreachable (a load balancer stops sending clients)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cluster_support import RedisProcess, wait_until
from tests.support import RawClient, running_server
from tickcast.cluster import ClusterService
from tickcast.http import HttpService

pytestmark = pytest.mark.timeout(30)


async def test_metrics_and_readiness(tmp_path: Path) -> None:
    redis_proc = RedisProcess(tmp_path / "redis")
    await redis_proc.start()
    http = HttpService()
    try:
        async with running_server(
            cluster=redis_proc.url, lease_seconds=0.4, tick_rate=30
        ) as server:
            cluster = ClusterService(server.config)
            server.services[:] = [cluster, http]
            await cluster.start(server)
            await http.start(server)
            c, _ = await RawClient.join(server.port, "p1", room="m")
            await c.ticks_until(3, timeout=10)
            async with aiohttp.ClientSession() as s:
                async with s.get(http.address + "/metrics") as r:
                    text = await r.text()
                assert "tickcast_cluster_rooms_owned 1.0" in text
                assert "tickcast_cluster_ticks_appended_total" in text
                assert_tick_duration_covers_the_fanout(text)
                async with s.get(http.address + "/readyz") as r:
                    assert r.status == 200
                await redis_proc.stop()

                async def not_ready() -> bool:
                    async with s.get(http.address + "/readyz") as r:
                        return r.status == 503 and "Redis unreachable" in await r.text()

                await wait_until(not_ready, 10, "/readyz to report the outage")
                assert cluster.redis_errors > 0
                # cycles produced during the outage are not fanned out: no tick duration yet
                async with s.get(http.address + "/metrics") as r:
                    assert_tick_duration_covers_the_fanout(await r.text())
            await c.close()
    finally:
        await redis_proc.stop()


def assert_tick_duration_covers_the_fanout(text: str) -> None:
    """A cycle's tick duration is observed once Redis has it and it is fanned out:
    production + fan-out (one observation of each per delivered cycle)."""
    samples = {
        smp.name: smp.value for fam in text_string_to_metric_families(text) for smp in fam.samples
    }
    count = samples["tickcast_tick_duration_seconds_count"]
    assert count > 0 and count == samples["tickcast_fanout_duration_seconds_count"]
    assert (
        samples["tickcast_tick_duration_seconds_sum"]
        > samples["tickcast_fanout_duration_seconds_sum"]
    )
