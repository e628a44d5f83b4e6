"""/metrics: every metric is there before any traffic, and moves with it."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from support import RawClient, client_frame, expect_final_kick, hello_frame
from support import test_config as make_config  # not test_*: pytest would collect it
from test_store_server import FullDiskLog, GatedLog
from ws_support import WsClient, http_server

from tickcast.http import HttpService
from tickcast.proto import pb
from tickcast.server import Server
from tickcast.store import Recorder

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

FAMILIES = {
    "tickcast_build_info": "gauge",
    "tickcast_connections": "gauge",
    "tickcast_connections_opened": "counter",
    "tickcast_connections_closed": "counter",
    "tickcast_rooms": "gauge",
    "tickcast_rooms_opened": "counter",
    "tickcast_rooms_closed": "counter",
    "tickcast_members": "gauge",
    "tickcast_members_disconnected": "gauge",
    "tickcast_spectators": "gauge",
    "tickcast_ticks": "counter",
    "tickcast_inputs": "counter",
    "tickcast_received_bytes": "counter",
    "tickcast_sent_bytes": "counter",
    "tickcast_sent_frames": "counter",
    "tickcast_kicks": "counter",
    "tickcast_leaves": "counter",
    "tickcast_ticks_late": "counter",
    "tickcast_wakeups": "counter",
    "tickcast_tick_duration_seconds": "histogram",
    "tickcast_fanout_duration_seconds": "histogram",
    "tickcast_outbound_queue_max_bytes": "gauge",
    # a gauge histogram: the text format has no such type and says histogram
    # (with _gcount/_gsum); OpenMetrics says gaugehistogram (see below)
    "tickcast_outbound_queue_bytes": "histogram",
    "tickcast_http_requests": "counter",
    "tickcast_http_request_duration_seconds": "histogram",
    "process_cpu_seconds": "counter",
    "process_start_time_seconds": "gauge",  # the server's age (no tickcast_uptime_seconds)
}


async def scrape(http: HttpService) -> tuple[dict[str, str], Samples]:
    async with aiohttp.ClientSession() as s, s.get(http.address + "/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    types: dict[str, str] = {}
    samples: Samples = {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for smp in fam.samples:
            samples[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    return types, samples


def v(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def wait_for(cond: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_every_metric_appears_and_moves() -> None:
    async with http_server() as (server, http):
        types, before = await scrape(http)
        for name, kind in FAMILIES.items():
            assert types.get(name) == kind, f"{name}: {types.get(name)}"
        assert "tickcast_uptime_seconds" not in types  # process_start_time_seconds says it
        assert v(before, "tickcast_ticks_total") == 0
        assert v(before, "tickcast_connections", transport="ws", state="joined") == 0

        tcp, _ = await RawClient.join(server.port, "tcp-player")
        ws, _ = await WsClient.join(http, "ws-player")
        spec, _ = await WsClient.join(http, "watcher", spectator=True)
        tcp.send_input(1, b"a")
        await ws.send_input(1, b"b")
        await ws.ticks_until(5)
        await tcp.ticks_until(5)
        rude, _ = await WsClient.join(http, "rude")
        await rude.ws.send("text")
        await rude.expect_kick()

        async def counted() -> bool:
            _, s = await scrape(http)
            ws_joined = v(s, "tickcast_connections", transport="ws", state="joined")
            return v(s, "tickcast_inputs_total") >= 2 and ws_joined == 2

        await wait_for(counted)
        _, during = await scrape(http)
        assert v(during, "tickcast_connections", transport="tcp", state="joined") == 1
        assert v(during, "tickcast_rooms") == 1
        assert v(during, "tickcast_members") >= 2  # rude keeps its slot for the grace
        assert v(during, "tickcast_members_disconnected") == 1
        assert v(during, "tickcast_spectators") == 1
        assert v(during, "tickcast_outbound_queue_bytes_gcount") == 3
        assert v(during, "tickcast_outbound_queue_max_bytes") >= 0

        tcp.send(client_frame(leave=pb.Leave()))  # a Leave: counted apart from kicks
        await expect_final_kick(tcp)
        await tcp.close()
        await ws.close()
        await spec.close()

        async def all_gone() -> bool:
            _, s = await scrape(http)
            return sum(
                v(s, "tickcast_connections", transport=t, state=st)
                for t in ("tcp", "ws")
                for st in ("awaiting_hello", "joined")
            ) == 0

        await wait_for(all_gone)
        _, after = await scrape(http)

        for name in (
            "tickcast_ticks_total",
            "tickcast_inputs_total",
            "tickcast_wakeups_total",
            "tickcast_tick_duration_seconds_count",
            "tickcast_tick_duration_seconds_sum",
            "tickcast_fanout_duration_seconds_count",
        ):
            assert v(after, name) > v(before, name), name
        for t in ("tcp", "ws"):
            for name in (
                "tickcast_received_bytes_total",
                "tickcast_sent_bytes_total",
                "tickcast_sent_frames_total",
            ):
                assert v(after, name, transport=t) > v(before, name, transport=t), (name, t)
            # totals of closed connections are kept, not dropped with them
            assert v(after, "tickcast_sent_bytes_total", transport=t) >= v(
                during, "tickcast_sent_bytes_total", transport=t
            )
        assert v(after, "tickcast_inputs_total") >= 2
        assert v(after, "tickcast_kicks_total", reason="PROTOCOL_ERROR") == 1
        assert v(after, "tickcast_kicks_total", reason="SLOW_CONSUMER") == 0
        # the Leave is a leave, not a kick: a healthy server does not look like it kicks
        assert v(after, "tickcast_leaves_total") == 1
        assert v(after, "tickcast_kicks_total", reason="UNSPECIFIED") == 0
        for t, n in (("tcp", 1), ("ws", 3)):
            assert v(before, "tickcast_connections_opened_total", transport=t) == 0
            assert v(after, "tickcast_connections_opened_total", transport=t) == n, t
            assert v(after, "tickcast_connections_closed_total", transport=t) == n, t
        assert v(before, "tickcast_rooms_opened_total") == 0
        assert v(after, "tickcast_rooms_opened_total") == 1
        # the scrapes themselves, and the WebSockets once they ended (101)
        assert v(after, "tickcast_http_requests_total", route="/metrics", method="GET",
                 status="200") >= 3
        assert v(after, "tickcast_http_requests_total", route="/ws", method="GET",
                 status="101") == 3
        assert v(after, "tickcast_http_request_duration_seconds_count", route="/metrics") >= 2
        assert ("tickcast_http_request_duration_seconds_count", (("route", "/ws"),)) not in after
        assert v(after, "tickcast_tick_duration_seconds_bucket", le="+Inf") == v(
            after, "tickcast_tick_duration_seconds_count"
        )


async def test_http_request_labels_stay_bounded_whatever_the_paths() -> None:
    """Route templates, never the paths clients choose: 40 room names and 40 unknown
    paths make one series each, not 80."""
    async with http_server() as (server, http):
        headers = {"X-Tickcast-Admin": "1"}
        async with aiohttp.ClientSession() as s:
            for i in range(40):
                async with s.get(f"{http.address}/api/rooms/room-{i}") as r:
                    assert r.status == 404
                async with s.get(f"{http.address}/nothing/here/{i}") as r:
                    assert r.status == 404
                async with s.request("PROPFIND", f"{http.address}/dav-{i}") as r:
                    assert r.status in (404, 405)
            async with s.delete(f"{http.address}/api/rooms/none", headers=headers) as r:
                assert r.status == 404
        _, samples = await scrape(http)
    series = {labels for (name, labels) in samples if name == "tickcast_http_requests_total"}
    routes = {dict(labels)["route"] for labels in series}
    assert routes == {"/api/rooms/{room}", "unmatched"}, routes
    assert v(samples, "tickcast_http_requests_total", route="/api/rooms/{room}", method="GET",
             status="404") == 40
    assert v(samples, "tickcast_http_requests_total", route="/api/rooms/{room}",
             method="DELETE", status="404") == 1
    assert v(samples, "tickcast_http_requests_total", route="unmatched", method="GET",
             status="404") == 40
    other = {labels for labels in series if dict(labels)["method"] == "other"}
    assert len(other) == 1 and sum(samples[("tickcast_http_requests_total", o)]
                                   for o in other) == 40


async def test_outbound_queue_depth_moves_with_a_reader_that_stops() -> None:
    overrides = dict(send_buffer_bytes=4096, recv_bytes_per_second=0, input_rate=0.0)
    async with http_server(**overrides) as (server, http):
        _, before = await scrape(http)
        assert v(before, "tickcast_outbound_queue_max_bytes") == 0
        fast, _ = await RawClient.join(server.port, "fast")
        stalled = socket.socket()  # joins, then never reads: its backlog grows
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(stalled, ("127.0.0.1", server.port))
            stalled.send(hello_frame("stalled"))
            seq = 0

            async def backlogged() -> bool:
                nonlocal seq
                seq += 1
                fast.send_input(seq, b"q" * 20000)
                await fast.next_tick()  # one input a tick: under the per-tick byte budget
                _, s = await scrape(http)
                return v(s, "tickcast_outbound_queue_max_bytes") > 0

            await wait_for(backlogged)
            _, during = await scrape(http)
        finally:
            stalled.close()
        # the histogram counts every connection; the stalled one is over 0 bytes
        assert v(during, "tickcast_outbound_queue_bytes_gcount") == 2
        assert v(during, "tickcast_outbound_queue_bytes_bucket", le="0.0") <= 1
        assert v(during, "tickcast_outbound_queue_bytes_gsum") >= v(
            during, "tickcast_outbound_queue_max_bytes"
        )
        await fast.close()


async def test_openmetrics_when_asked() -> None:
    async with http_server() as (_, http):
        headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
        async with aiohttp.ClientSession() as s, s.get(
            http.address + "/metrics", headers=headers
        ) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("application/openmetrics-text")
            text = await r.text()
        assert "# TYPE tickcast_outbound_queue_bytes gaugehistogram" in text
        assert text.rstrip().endswith("# EOF")


class StallingDisk(GatedLog, FullDiskLog):
    """A tick log in memory whose commits stall while `gate` is clear, and fail
    once `full` is set."""


async def test_the_tick_log_writer_lag_and_writability() -> None:
    disk = StallingDisk()
    recorder, http = Recorder(make_config(), lambda: disk), HttpService()
    server = Server(make_config(), [recorder, http])
    await server.start()
    try:
        types, before = await scrape(http)
        assert types["tickcast_log_writer_lag_seconds"] == "gauge"
        assert v(before, "tickcast_log_writable") == 1
        async with aiohttp.ClientSession() as s, s.get(http.address + "/readyz") as r:
            assert r.status == 200
        player, _ = await RawClient.join(server.port, "ada")
        await player.ticks_until(3)

        disk.gate.clear()  # the disk stalls: cycles queue behind the writer

        async def lagging() -> bool:
            _, s = await scrape(http)
            return (
                v(s, "tickcast_log_writer_lag_seconds") > 0.2
                and v(s, "tickcast_log_writer_backlog_cycles") > 1
            )

        await wait_for(lagging)
        _, stalled = await scrape(http)
        disk.gate.set()

        async def caught_up() -> bool:
            _, s = await scrape(http)
            return v(s, "tickcast_log_writer_lag_seconds") < v(
                stalled, "tickcast_log_writer_lag_seconds"
            ) and v(s, "tickcast_log_commits_total") > v(stalled, "tickcast_log_commits_total")

        await wait_for(caught_up)

        disk.full = True  # the next commit fails: recording stops, the game goes on

        async def unready() -> tuple[int, dict[str, object]]:
            async with aiohttp.ClientSession() as s, s.get(http.address + "/readyz") as r:
                return r.status, await r.json()

        async def failed() -> bool:
            return (await unready())[0] == 503

        await wait_for(failed)
        _, body = await unready()
        assert body["problems"] == [
            "the tick log is not writable: database or disk is full"
        ]
        _, after = await scrape(http)
        assert v(after, "tickcast_log_writable") == 0
        assert v(after, "tickcast_log_cycles_committed_total") > v(
            before, "tickcast_log_cycles_committed_total"
        )
        # a cycle's tick duration is its production plus its fan-out after the commit
        count = v(after, "tickcast_tick_duration_seconds_count")
        assert count > 0 and count == v(after, "tickcast_fanout_duration_seconds_count")
        assert v(after, "tickcast_tick_duration_seconds_sum") > v(
            after, "tickcast_fanout_duration_seconds_sum"
        )
        await player.ticks_until((await player.next_tick()).number + 3)  # still relaying
        await player.close()
    finally:
        disk.gate.set()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 15)


async def test_the_operations_doc_lists_every_metric_and_no_other() -> None:
    """docs/operations.md's table names each `tickcast_*` family /metrics has (the
    tick log's and the cluster's, which need those parts running, excepted)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    table = doc.split("## Metrics", 1)[1].split("\n\n", 3)[2]
    documented = set()
    for row in table.splitlines():
        cell = row.split("|")[1] if row.startswith("| `") else ""
        documented |= {n.removesuffix("_total") for n in re.findall(r"`(tickcast_\w+)`", cell)}
    async with http_server() as (_, http):
        types, _ = await scrape(http)
    # (the text parser reads a gauge histogram's _gcount and _gsum as families of their own)
    exposed = {re.sub(r"_g(count|sum)$", "", n) for n in types if n.startswith("tickcast_")}
    assert exposed <= documented, exposed - documented
    elsewhere = {n for n in documented if n.startswith(("tickcast_log_", "tickcast_cluster_"))}
    assert documented - elsewhere <= exposed, (documented - elsewhere) - exposed
    assert "tickcast_uptime_seconds" not in documented
