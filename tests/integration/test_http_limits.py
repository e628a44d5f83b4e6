"""The HTTP listener's limits (issue 15, item 1): request heads and bodies are timed,
plain HTTP connections count in the connection limits, keep-alive is bounded, and
the dashboard has a viewer cap. Each refusal is a counted metric and a log line,
and the honest client next to it is served."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
from typing import Any

import aiohttp
import pytest
from support import RawClient, wait_for
from ws_support import WsClient, http_server

from tickcast.http import HttpService
from tickcast.http.dashboard import FEED
from tickcast.proto import pb


class RawHttp:
    """A plain socket to the HTTP port, to send exactly the bytes a test wants."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, http: HttpService) -> RawHttp:
        reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def until_closed(self, timeout: float = 10.0) -> bytes:
        """Everything the server sends until it closes the connection."""
        data = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await asyncio.wait_for(self.reader.read(65536), timeout):
                data += chunk
        return data

    async def response(self, timeout: float = 10.0) -> tuple[int, bytes]:
        """One response's status and head (the connection stays open)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        if length:
            await asyncio.wait_for(self.reader.readexactly(int(length.group(1))), timeout)
        return int(head.split()[1]), head

    def close(self) -> None:
        self.writer.close()


async def get(http: HttpService, path: str, **headers: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(http.address + path, headers=headers) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


async def refused(http: HttpService, reason: str) -> int:
    """`tickcast_http_refused_total{reason=...}` as /metrics shows it."""
    status, text = await get(http, "/metrics")
    assert status == 200
    match = re.search(rf'tickcast_http_refused_total{{reason="{reason}"}} (\S+)', text)
    assert match, f"no tickcast_http_refused_total for {reason}"
    return int(float(match.group(1)))


def logged(caplog: pytest.LogCaptureFixture, reason: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"reason={reason} " in r.getMessage()]


async def test_a_slow_request_head_is_cut_and_the_honest_request_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "tickcast.http")
    async with http_server(http_header_timeout=1.0) as (_, http):
        slow = await RawHttp.connect(http)
        slow.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")  # and never the end
        silent = await RawHttp.connect(http)  # not a byte
        assert await get(http, "/healthz") == (200, {"status": "ok"})
        answer = await slow.until_closed()
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert await silent.until_closed() == b""  # closed without a word
        assert await refused(http, "header_timeout") == 2
        assert logged(caplog, "header_timeout")


async def test_trickling_header_lines_do_not_extend_the_deadline() -> None:
    async with http_server(http_header_timeout=1.0) as (_, http):
        slow = await RawHttp.connect(http)
        slow.send(b"GET / HTTP/1.1\r\n")

        async def trickle() -> None:  # a header line every 0.2 s: slowloris
            with contextlib.suppress(ConnectionError):
                for i in range(100):
                    slow.send(b"X-Slow-%d: 1\r\n" % i)
                    await asyncio.sleep(0.2)

        task = asyncio.create_task(trickle())
        answer = await slow.until_closed()
        task.cancel()
        assert answer.startswith(b"HTTP/1.1 408 ")


async def test_a_request_head_over_the_size_limit_is_refused() -> None:
    async with http_server() as (_, http):
        big = await RawHttp.connect(http)
        big.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        for i in range(12):  # 12 x 8 KiB header lines: over 64 KiB
            big.send(b"X-Big-%d: %s\r\n" % (i, b"x" * 8000))
        assert (await big.until_closed()).startswith(b"HTTP/1.1 431 ")
        assert await refused(http, "header_too_large") == 1


async def test_keep_alive_serves_several_requests_then_idles_out() -> None:
    async with http_server(http_keepalive_timeout=2.0) as (_, http):
        c = await RawHttp.connect(http)
        for _ in range(3):  # one connection, three requests
            c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status, head = await c.response()
            assert status == 200 and b"connection: close" not in head.lower()
        assert await c.until_closed() == b""  # then, idle, it is closed


async def test_a_slow_body_is_cut() -> None:
    async with http_server(http_body_timeout=0.5) as (server, http):
        player, _ = await RawClient.join(server.port, "ada", "r")
        c = await RawHttp.connect(http)
        c.send(
            b"POST /api/rooms/r/players/ada/kick HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        answer = await c.until_closed()
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert await refused(http, "body_timeout") == 1
        assert server.relay.rooms["r"].members == 1  # the request was not acted on
        await player.close()


async def test_http_connections_count_in_the_connection_limits() -> None:
    async with http_server(max_connections_per_host=3) as (server, http):
        server.admission.exempt_loopback = False  # the test's peers are all loopback
        idle = [await RawHttp.connect(http) for _ in range(2)]
        await wait_for(lambda: server.admission.total == 2)
        ws, _ = await WsClient.join(http, "ws-player")  # a WebSocket: counted once
        await wait_for(lambda: server.admission.total == 3)
        await asyncio.sleep(0.1)
        assert server.admission.total == 3
        # the fourth connection, of any kind, is over the limit
        kick = await (await RawClient.connect(server.port)).expect_kick()
        assert kick.reason == pb.REASON_RATE_LIMITED
        over = await RawHttp.connect(http)
        over.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = await over.until_closed()
        assert answer.startswith(b"HTTP/1.1 503 ") and b"too many connections" in answer
        ws_kick, code = await (await WsClient.connect(http)).expect_kick()
        assert ws_kick.reason == pb.REASON_RATE_LIMITED and code == 1008
        for c in idle:
            c.close()
        await ws.close()
        await wait_for(lambda: server.admission.total == 0)
        assert await get(http, "/healthz") == (200, {"status": "ok"})


async def test_a_full_listener_closes_the_longest_waiting_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "tickcast.http")
    async with http_server(max_http_connections=8) as (server, http):
        slow = []
        for _ in range(8):
            c = await RawHttp.connect(http)
            c.send(b"GET / HTTP/1.1\r\n")
            slow.append(c)
        await wait_for(lambda: http.connections.held == 8)
        honest = []
        for _ in range(5):  # each honest connection makes room for itself
            c = await RawHttp.connect(http)
            c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert (await c.response())[0] == 200
            honest.append(c)  # and stays open, idle
        closed = [await c.until_closed() for c in slow[:5]]
        assert closed == [b""] * 5  # the oldest slow ones
        assert http.connections.held == 8
        assert await refused(http, "http_connections") >= 5
        assert logged(caplog, "http_connections")
        # a WebSocket player is not plain HTTP: it joins whatever HTTP holds
        ws, w = await WsClient.join(http, "player")
        assert w.slot == 1
        await ws.close()
        for c in slow + honest:
            c.close()


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_dashboard_viewer_cap(caplog: pytest.LogCaptureFixture) -> None:
    async with http_server(max_dashboard_viewers=2) as (_, http):
        async with aiohttp.ClientSession() as s:
            url = http.address + "/dashboard/events"
            viewers = [await s.get(url) for _ in range(2)]
            assert [v.status for v in viewers] == [200, 200]
            await wait_for(lambda: len(http._runner.app[FEED].viewers) == 2)  # type: ignore[union-attr]
            async with s.get(url) as third:
                assert third.status == 503 and third.headers["Retry-After"]
                assert "2 dashboard viewers" in (await third.json())["error"]
            viewers[0].close()
            await wait_for(lambda: len(http._runner.app[FEED].viewers) == 1)  # type: ignore[union-attr]
            async with s.get(url) as again:  # a place came back
                assert again.status == 200
            viewers[1].close()
        assert await refused(http, "dashboard_viewers") == 1
    assert errors(caplog) == []  # viewers that leave are no server error


async def test_a_dashboard_viewer_that_does_not_read_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with http_server(http_request_timeout=1.0) as (server, http):
        feed = http._runner.app[FEED]  # type: ignore[union-attr]
        feed.interval = 0.005
        players = [await RawClient.join(server.port, f"p{i}", f"room-{i:03}") for i in range(150)]
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", http.port))
        sock.sendall(b"GET /dashboard/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await wait_for(lambda: len(feed.viewers) == 1)
        # it never reads: its writes stall, and after the request timeout it is gone
        await wait_for(lambda: not feed.viewers, timeout=30)
        assert await refused(http, "request_timeout") == 1
        sock.close()
        assert (await events_hello(http))["admin"] is True  # the next viewer is served
        for c, _ in players:
            await c.close()
    assert errors(caplog) == []


async def events_hello(http: HttpService) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(http.address + "/dashboard/events") as r:
        assert r.status == 200
        async for raw in r.content:
            line = raw.decode()
            if line.startswith("data: "):
                return dict(json.loads(line.removeprefix("data: ")))
    raise AssertionError("no hello")


async def test_the_limit_is_held_to_a_quarter_of_the_descriptors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tickcast.http import connections

    monkeypatch.setattr(connections, "fd_limit", lambda: 300)
    async with http_server() as (_, http):
        assert http.connections.limit == 75
        status, text = await get(http, "/metrics")
        assert "tickcast_http_connections_limit 75.0" in text

