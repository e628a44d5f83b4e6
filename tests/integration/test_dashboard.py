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


async def test_player_ids_only_for_admins() -> None:
    async with http_server(admin_token=TOKEN) as (_, http):
        feed_of(http).interval = 0.05
        player, _ = await WsClient.join(http, "secret-name", room="r1")
        public = events(http)
        assert (await anext(public))[1]["admin"] is False
        _, sample = await anext(public)
        assert sample["rooms"][0]["name"] == "r1"
        assert "players" not in sample["rooms"][0]
        assert "secret-name" not in json.dumps(sample)
        admin = events(http, TOKEN)
        assert (await anext(admin))[1]["admin"] is True
        _, sample = await anext(admin)
        assert sample["rooms"][0]["players"][0]["player_id"] == "secret-name"
        await public.aclose()
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
