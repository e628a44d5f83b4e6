"""The dashboard, the demo page and the live feed over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from ws_support import WsClient, http_server

from tickcast.http import HttpService
from tickcast.http.dashboard import FEED, DashboardFeed

TOKEN = "dash-token"
REPO = Path(__file__).resolve().parents[2]


def feed_of(http: HttpService) -> DashboardFeed:
    assert http._runner is not None
    return http._runner.app[FEED]


async def events(
    http: HttpService, token: str | None = None
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The feed's events, parsed, until the stream ends."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(
        http.address + "/dashboard/events", headers=headers
    ) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        event = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                yield event, json.loads(line.removeprefix("data: "))


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_pages_and_the_bundle_are_served() -> None:
    async with http_server() as (_, http), aiohttp.ClientSession() as s:
        for path, kind, text in (
            ("/", "text/html", "tickcast dashboard"),
            ("/demo", "text/html", "arena demo"),
            ("/static/tickcast-client.js", "application/javascript", "tickcast-client"),
            ("/static/dashboard.js", "application/javascript", "/dashboard/events"),
        ):
            async with s.get(http.address + path) as r:
                assert r.status == 200, path
                assert r.content_type == kind, path
                assert text in await r.text()
        async with s.get(http.address + "/static/../dashboard.py") as r:
            assert r.status in (403, 404)
        async with s.get(http.address + "/favicon.ico") as r:  # browsers ask on every page
            assert r.status == 200 and r.content_type == "image/svg+xml"
            assert (await r.text()).startswith("<svg")


async def test_the_feed_samples_only_while_watched() -> None:
    async with http_server() as (_, http):
        feed = feed_of(http)
        feed.interval = 0.05
        player, _ = await WsClient.join(http, "ada", room="watched")
        await asyncio.sleep(0.3)  # the server runs; nobody looks
        assert feed.samples == 0 and feed._task is None
        stream = events(http)
        kind, hello = await anext(stream)
        assert kind == "hello" and hello["admin"] is True  # loopback, no token configured
        seen = []
        for seq in range(1, 200):
            await player.send_input(seq, b"U")
            kind, sample = await anext(stream)
            assert kind == "sample"
            seen.append(sample)
            rooms = {r["name"]: r for r in sample["rooms"]}
            if rooms.get("watched", {}).get("inputs_per_s", 0) > 0 and len(seen) > 2:
                break
        last = seen[-1]
        assert last["point"]["connections"] == 1
        assert last["point"]["inputs_per_s"] > 0
        assert last["point"]["bytes_out_per_s"] > 0
        room = {r["name"]: r for r in last["rooms"]}["watched"]
        assert room["members"] == 1
        assert [p["player_id"] for p in room["players"]] == ["ada"]
        await stream.aclose()
        # the last viewer gone, sampling stops
        await wait_for(lambda: feed._task is None)
        taken = feed.samples
        await asyncio.sleep(0.3)
        assert feed.samples == taken
        await player.close()


async def test_the_feed_needs_the_admin_token_when_one_is_set() -> None:
    """Room names can be private join codes: with a token configured, the feed
    answers only with it, as /api/rooms does (issue 15: it listed every room)."""
    async with http_server(admin_token=TOKEN) as (_, http):
        feed_of(http).interval = 0.05
        player, _ = await WsClient.join(http, "secret-name", room="private-code")
        async with aiohttp.ClientSession() as s:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                async with s.get(http.address + "/dashboard/events", headers=headers) as r:
                    body = await r.text()
                    assert r.status == 401, headers
                    assert "private-code" not in body and "secret-name" not in body
                    assert r.headers["WWW-Authenticate"].startswith("Bearer")
            async with s.get(http.address + "/api/rooms") as r:
                assert r.status == 401  # the same rule as the admin API
        admin = events(http, TOKEN)
        assert (await anext(admin))[1]["admin"] is True
        _, sample = await anext(admin)
        assert sample["rooms"][0]["name"] == "private-code"
        assert sample["rooms"][0]["players"][0]["player_id"] == "secret-name"
        await admin.aclose()
        await player.close()


async def test_health_shows_what_readyz_reports() -> None:
    async with http_server() as (_, http):
        feed_of(http).interval = 0.05
        stream = events(http)
        await anext(stream)  # hello
        _, sample = await anext(stream)
        assert sample["health"]["status"] == "ok" and sample["health"]["problems"] == []
        http.readiness_checks.append(lambda: "the tick log is not writable: disk full")
        for _ in range(100):  # the next sample shows it
            _, sample = await anext(stream)
            if sample["health"]["status"] != "ok":
                break
        assert sample["health"] == {
            **sample["health"],
            "status": "not ready",
            "problems": ["the tick log is not writable: disk full"],
        }
        await stream.aclose()


async def test_kicks_by_reason() -> None:
    async with http_server() as (_, http):
        feed_of(http).interval = 0.05
        stream = events(http)
        await anext(stream)  # hello
        _, sample = await anext(stream)
        assert sample["kicks"] == {}
        rude, _ = await WsClient.join(http, "rude")
        await rude.ws.send("text")  # PROTOCOL_ERROR
        await rude.expect_kick()
        first, _ = await WsClient.join(http, "ada")
        second, _ = await WsClient.join(http, "ada")  # the first one is REPLACED
        await first.expect_kick()
        for _ in range(100):  # samples taken before both kicks may still be queued
            _, sample = await anext(stream)
            if len(sample["kicks"]) == 2:
                break
        assert sample["kicks"] == {"PROTOCOL_ERROR": 1, "REPLACED": 1}
        await second.close()
        await stream.aclose()


async def test_open_streams_end_at_shutdown() -> None:
    got: list[str] = []

    async def read(http: HttpService) -> None:
        async for kind, _ in events(http):
            got.append(kind)

    async with http_server(shutdown_timeout=30.0) as (_, http):
        reader = asyncio.create_task(read(http))
        await wait_for(lambda: got)
    # the server closed well before its 30 s shutdown timeout, and the stream ended
    await asyncio.wait_for(reader, 5)
    assert got[0] == "hello"


async def test_serve_tells_a_newcomer_what_to_open() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickcast", "serve", "--port", "0", "--http-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [await asyncio.wait_for(proc.stdout.readline(), 20) for _ in range(3)]
        http = lines[1].decode().split()[-1]
        assert lines[2].decode().strip() == (
            f"open {http}/ for the dashboard, {http}/demo to play the demo"
        )
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


async def test_the_feed_forgets_closed_rooms() -> None:
    """While a viewer watches, rooms open and close under ever new names (issue 15:
    the feed kept ~330 bytes of every name it had seen): it keeps counters of the
    open rooms only."""
    import tracemalloc

    async with http_server() as (server, http):
        feed = feed_of(http)
        feed.interval = 0.01
        stream = events(http)
        await anext(stream)  # hello
        async with aiohttp.ClientSession() as s:

            async def cycle(names: range) -> None:
                for i in names:
                    c, _ = await WsClient.join(http, "p", f"code-{i:05}")
                    await wait_for(lambda: feed.tracked_rooms >= 1)
                    async with s.delete(
                        f"{http.address}/api/rooms/code-{i:05}",
                        headers={"X-Tickcast-Admin": "1"},
                    ) as r:
                        assert r.status == 200
                    await c.close()
                    await anext(stream)

            await cycle(range(50))  # warm up: first samples, first allocations
            tracemalloc.start()
            await cycle(range(50, 350))
            await wait_for(lambda: not server.relay.rooms)
            await wait_for(lambda: feed.tracked_rooms == 0)  # the next sample forgot it
            held = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(True, "*/tickcast/http/dashboard.py")]
            )
            grown = sum(t.size for t in held.traces)  # allocated by the feed, still held
            tracemalloc.stop()
        print(
            f"\nFIGURE dashboard feed, 300 room names cycled: rooms tracked "
            f"{feed.tracked_rooms}; the feed holds {grown / 1024:.0f} KiB allocated meanwhile, "
            f"its chart history of {len(feed.history)} points included"
        )
        await stream.aclose()
