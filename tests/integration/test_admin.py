"""Health checks and the admin API over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client.core import GaugeMetricFamily, Metric
from support import RawClient
from support import test_config as make_config  # not test_*: pytest would collect it
from ws_support import WsClient, http_server

import tickcast
from tickcast.errors import ConfigError
from tickcast.http import HttpService, admin
from tickcast.proto import pb
from tickcast.server import Server

TOKEN = "test-admin-token"


async def call(
    http: HttpService, method: str, path: str, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as s, s.request(
        method, http.address + path, headers=headers
    ) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


async def test_health_and_readiness() -> None:
    async with http_server() as (server, http):
        assert await call(http, "GET", "/healthz") == (200, {"status": "ok"})
        assert await call(http, "GET", "/readyz") == (200, {"status": "ready"})
        http.readiness_checks.append(lambda: "tick log not writable")
        status, body = await call(http, "GET", "/readyz")
        assert status == 503
        assert body["problems"] == ["tick log not writable"]
        http.readiness_checks.clear()
        assert server.listening
    # once the server closes, the listener is gone (the HTTP side stops last)
    assert not server.listening
    response = await http.readyz(None)  # type: ignore[arg-type]
    assert response.status == 503
    assert response.text is not None and "TCP listener" in response.text


async def test_loopback_without_token_is_allowed() -> None:
    async with http_server() as (_, http):
        status, body = await call(http, "GET", "/api/rooms")
        assert (status, body) == (200, {"rooms": []})
        status, info = await call(http, "GET", "/api/server")
        assert status == 200
        assert info["version"] == tickcast.__version__
        assert info["uptime_seconds"] >= 0
        await asyncio.sleep(0.05)
        later = (await call(http, "GET", "/api/server"))[1]
        assert later["uptime_seconds"] > info["uptime_seconds"]
        assert info["config"]["server_id"] == "test"
        assert info["config"]["tick_rate"] == 50
        assert info["http"] == http.address


async def test_token_is_required_when_configured() -> None:
    async with http_server(admin_token=TOKEN) as (_, http):
        status, body = await call(http, "GET", "/api/rooms")
        assert status == 401 and "token" in body["error"]
        assert (await call(http, "GET", "/api/rooms", token="wrong"))[0] == 401
        assert (await call(http, "DELETE", "/api/rooms/r", token="wrong"))[0] == 401
        assert (await call(http, "GET", "/api/rooms", token=TOKEN))[0] == 200
        status, info = await call(http, "GET", "/api/server", token=TOKEN)
        assert info["config"]["admin_token"] == "<redacted>"
        assert TOKEN not in repr(info)
        # the description of the API is public
        status, doc = await call(http, "GET", "/api/openapi.json")
        assert status == 200 and doc["openapi"].startswith("3.")


async def test_token_from_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    async with http_server(admin_token_file=str(path)) as (_, http):
        assert (await call(http, "GET", "/api/rooms"))[0] == 401
        assert (await call(http, "GET", "/api/rooms", token=TOKEN))[0] == 200


async def test_unreadable_token_file_fails_start(tmp_path: Path) -> None:
    server = Server(make_config(admin_token_file=str(tmp_path / "missing")), [HttpService()])
    with pytest.raises(ConfigError):
        await server.start()
    server.close()
    await server.wait_closed()


async def test_rooms_detail_close_and_kick() -> None:
    async with http_server(admin_token=TOKEN) as (server, http):
        tcp, _ = await RawClient.join(server.port, "ada", room="arena")
        ws, _ = await WsClient.join(http, "bob", room="arena")
        watcher, _ = await WsClient.join(http, "eve", room="arena", spectator=True)
        other, _ = await WsClient.join(http, "cy", room="other")
        await ws.ticks_until(3)

        status, body = await call(http, "GET", "/api/rooms", token=TOKEN)
        assert status == 200
        rooms = {r["name"]: r for r in body["rooms"]}
        assert set(rooms) == {"arena", "other"}
        arena = rooms["arena"]
        assert arena["members"] == 2 and arena["spectators"] == 1
        assert arena["tick"] >= 3 and arena["tick_rate"] == 50
        assert arena["age_seconds"] >= 0 and arena["queue_max_bytes"] >= 0

        status, detail = await call(http, "GET", "/api/rooms/arena", token=TOKEN)
        assert status == 200
        players = {p["player_id"]: p for p in detail["players"]}
        assert players["ada"]["slot"] == 1 and players["ada"]["connection"]["transport"] == "tcp"
        assert players["bob"]["connection"]["transport"] == "ws"
        assert len(detail["spectator_connections"]) == 1

        assert (await call(http, "GET", "/api/rooms/nope", token=TOKEN))[0] == 404
        kick_path = "/api/rooms/arena/players/nobody/kick"
        assert (await call(http, "POST", kick_path, token=TOKEN))[0] == 404

        # kick one player: Kick, then a normal close; the room goes on
        status, body = await call(http, "POST", "/api/rooms/arena/players/bob/kick", token=TOKEN)
        assert status == 200 and body["kicked"] is True
        kick, code = await ws.expect_kick()
        assert kick.reason == pb.REASON_UNSPECIFIED and "operator" in kick.detail
        assert code == 1000

        # close the room: every connection in it gets Kick{ROOM_CLOSED}
        status, body = await call(http, "DELETE", "/api/rooms/arena", token=TOKEN)
        assert status == 200 and body["kicked"] == 2
        assert (await tcp.expect_kick()).reason == pb.REASON_ROOM_CLOSED
        kick, code = await watcher.expect_kick()
        assert kick.reason == pb.REASON_ROOM_CLOSED and code == 1000
        assert (await call(http, "GET", "/api/rooms/arena", token=TOKEN))[0] == 404
        assert "other" in server.relay.rooms
        await other.close()


def from_peer(http: HttpService, peer: str, **headers: str) -> web.Request:
    """A request to `GET /api/rooms` of the running app as if it came from `peer`
    (tests reach the server over loopback only): aiohttp takes `request.remote`
    from the transport's peer address, as for a real connection."""
    assert http._runner is not None
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    return make_mocked_request(
        "GET", "/api/rooms", headers=headers, app=http._runner.app, transport=transport
    )


async def guarded(request: web.Request) -> tuple[int, Any]:
    """The admin API's answer to `request`: its access check, then its handler."""
    response = await admin.admin_guard(request, admin.list_rooms)
    assert isinstance(response, web.Response) and response.text is not None
    return response.status, json.loads(response.text)


async def test_access_from_a_non_loopback_peer() -> None:
    async with http_server() as (_, http):  # no token: loopback only
        status, body = await guarded(from_peer(http, "203.0.113.5"))
        assert status == 403 and "loopback" in body["error"]
        # a proxy header cannot make a remote peer look local
        spoofed = from_peer(http, "203.0.113.5", **{"X-Forwarded-For": "127.0.0.1"})
        assert (await guarded(spoofed))[0] == 403
        assert (await guarded(from_peer(http, "2001:db8::7")))[0] == 403
        assert await guarded(from_peer(http, "127.0.0.1")) == (200, {"rooms": []})
    async with http_server(admin_token=TOKEN) as (_, http):  # a token: any peer with it
        remote = "198.51.100.20"
        assert (await guarded(from_peer(http, remote)))[0] == 401
        wrong = from_peer(http, remote, Authorization="Bearer nope")
        assert (await guarded(wrong))[0] == 401
        right = from_peer(http, remote, Authorization=f"Bearer {TOKEN}")
        assert await guarded(right) == (200, {"rooms": []})


class FakeLogWriter:
    """A service like the tick log writer: not ready, and with a metric of its own."""

    def __init__(self) -> None:
        self.problem: str | None = "tick log not writable: disk full"

    async def start(self, server: Server) -> None: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...

    def readiness_problem(self) -> str | None:
        return self.problem

    def metrics(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("tickcast_log_writer_lag_seconds", "test", value=0.25)


async def test_other_services_join_readiness_and_metrics() -> None:
    writer, http = FakeLogWriter(), HttpService()
    server = Server(make_config(), [writer, http])
    await server.start()
    try:
        status, body = await call(http, "GET", "/readyz")
        assert status == 503 and body["problems"] == [writer.problem]
        writer.problem = None
        assert (await call(http, "GET", "/readyz"))[0] == 200
        status, text = await call(http, "GET", "/metrics")
        assert "tickcast_log_writer_lag_seconds 0.25" in text
    finally:
        server.close()
        await server.wait_closed()
