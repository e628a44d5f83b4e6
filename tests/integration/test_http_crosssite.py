"""Cross-site requests and DNS rebinding against the admin API and the dashboard
(issue 15, item 2), over real HTTP: a foreign `Host` is refused, a state change
from another origin or as a plain form/`no-cors` request is refused, and the
dashboard's own requests still work."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from support import RawClient
from ws_support import WsClient, http_server

from tickcast.http import HttpService

TOKEN = "crosssite-admin-token"


async def call(
    http: HttpService, method: str, path: str, headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(
        method, http.address + path, headers=headers or {}, data=data
    ) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


def own_host(http: HttpService) -> str:
    return http.address.removeprefix("http://")


@pytest.mark.parametrize(
    "path", ["/api/server", "/api/rooms", "/dashboard/events", "/api/openapi.json"]
)
async def test_a_foreign_host_is_refused(path: str) -> None:
    """A DNS-rebinding page's requests carry its own name in Host."""
    async with http_server() as (_, http):
        status, body = await call(http, "GET", path, {"Host": "attacker.example:8080"})
        assert status == 403 and "attacker.example" in body["error"]
        assert "config" not in body


async def test_the_names_of_this_server_are_accepted() -> None:
    async with http_server(http_allowed_hosts="admin.example.com, .games.example") as (_, http):
        port = http.port
        for host in (
            own_host(http), f"localhost:{port}", f"LOCALHOST.:{port}", f"dash.localhost:{port}",
            f"[::1]:{port}", f"10.1.2.3:{port}", "127.0.0.1", "admin.example.com",
            f"admin.example.com:{port}", "games.example", "eu.games.example:443",
        ):
            status, _ = await call(http, "GET", "/api/rooms", {"Host": host})
            assert status == 200, host
        for host in ("example.com", "admin.example.com.evil", "xgames.example", "evil.example"):
            status, _ = await call(http, "GET", "/api/rooms", {"Host": host})
            assert status == 403, host
    async with http_server(http_allowed_hosts="*") as (_, http):
        assert (await call(http, "GET", "/api/rooms", {"Host": "anything.example"}))[0] == 200


async def test_public_endpoints_answer_any_host() -> None:
    """Prometheus targets and probes use names this server cannot know."""
    async with http_server() as (_, http):
        for path in ("/metrics", "/healthz", "/readyz", "/", "/static/dashboard.js"):
            status, _ = await call(http, "GET", path, {"Host": "tickcast.monitoring.svc:8080"})
            assert status == 200, path


async def kick(http: HttpService, headers: dict[str, str], data: bytes | None = None) -> int:
    return (await call(http, "POST", "/api/rooms/r/players/ada/kick", headers, data))[0]


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        # a page on another origin: fetch(..., {method: "POST", mode: "no-cors"})
        ("no-cors fetch", {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site",
                           "Content-Type": "text/plain;charset=UTF-8"}),
        # the same from a browser that sends no Sec-Fetch-Site
        ("foreign Origin", {"Origin": "http://evil.example", "Content-Type": "text/plain"}),
        # a page of the same site on another port (127.0.0.1:9999)
        ("same-site", {"Sec-Fetch-Site": "same-site", "X-Tickcast-Admin": "1"}),
        ("sandboxed page", {"Origin": "null", "X-Tickcast-Admin": "1"}),
        # an HTML form: no Origin check can apply without Origin, but it is a simple request
        ("form post", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("bare post", {}),
    ],
)
async def test_cross_site_state_changes_are_refused(case: str, headers: dict[str, str]) -> None:
    async with http_server() as (server, http):
        player, _ = await RawClient.join(server.port, "ada", "r")
        assert await kick(http, headers, b"x=1") == 403, case
        await player.ticks_until(3)  # still connected, still ticking
        assert server.relay.rooms["r"].members == 1
        status, body = await call(http, "DELETE", "/api/rooms/r", headers)
        assert status == 403 and "r" in server.relay.rooms, case
        await player.close()


async def test_the_dashboards_own_requests_change_state() -> None:
    async with http_server() as (server, http):
        a, _ = await RawClient.join(server.port, "ada", "r")
        b, _ = await WsClient.join(http, "bob", "r")
        same = {"Origin": f"http://{own_host(http)}", "Sec-Fetch-Site": "same-origin"}
        # what dashboard.js sends: a header no form can, from its own origin
        assert await kick(http, {**same, "X-Tickcast-Admin": "1"}) == 200
        await a.expect_kick()
        # a JSON request (curl, a script) with no Origin at all
        status, body = await call(
            http, "DELETE", "/api/rooms/r", {"Content-Type": "application/json"}, b"{}"
        )
        assert status == 200 and body["closed"] is True
        await b.expect_kick()


async def test_with_a_token_the_bearer_header_is_enough() -> None:
    """`curl -X DELETE -H "Authorization: Bearer ..."` keeps working: a page cannot
    send that header without a CORS preflight, which is never granted."""
    async with http_server(admin_token=TOKEN) as (server, http):
        player, _ = await RawClient.join(server.port, "ada", "r")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert (await call(http, "DELETE", "/api/rooms/r", auth))[0] == 200
        await player.expect_kick()
        status, _ = await call(http, "OPTIONS", "/api/rooms/r", {
            "Origin": "http://evil.example", "Access-Control-Request-Method": "DELETE",
        })
        assert status >= 400  # no preflight is granted


async def test_refusals_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with http_server() as (_, http):
        for _ in range(3):
            await call(http, "GET", "/api/server", {"Host": "attacker.example"})
        await call(http, "POST", "/api/rooms/r/players/p/kick", {"Origin": "http://evil.example"})
        await call(http, "POST", "/api/rooms/r/players/p/kick", {"Content-Type": "text/plain"})
        _, text = await call(http, "GET", "/metrics")
        counts = dict(re.findall(r'tickcast_http_refused_total\{reason="(\w+)"\} (\S+)', text))
        assert float(counts["host"]) == 3
        assert float(counts["origin"]) == 1 and float(counts["simple_request"]) == 1
        host_lines = [r for r in caplog.records if "reason=host " in r.getMessage()]
        assert len(host_lines) == 1  # a flood of one reason: one line per 10 s
        assert host_lines[0].levelname == "WARNING"
        assert "attacker.example" in host_lines[0].getMessage()


async def test_dashboard_js_sends_the_admin_header() -> None:
    """The dashboard's buttons make non-simple requests (checked in a real browser by
    tests/browser; here: the header is in the script the server serves)."""
    async with http_server() as (_, http):
        status, js = await call(http, "GET", "/static/dashboard.js")
        assert status == 200 and '"X-Tickcast-Admin": "1"' in js
