"""Helpers for tests of the HTTP side: a server with its HTTP service, and a
protocol v1 client over WebSocket (the websockets library) that keeps every
server message, raw and parsed. Every wait is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from support import DEFAULT_TIMEOUT, test_config
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tickcast.http import HttpService
from tickcast.proto import pb
from tickcast.server import Server


@contextlib.asynccontextmanager
async def http_server(**overrides: Any) -> AsyncIterator[tuple[Server, HttpService]]:
    """A started Server with its HTTP service, both on free ports."""
    http = HttpService()
    server = Server(test_config(**overrides), [http])
    await server.start()
    try:
        yield server, http
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 15)


def ws_url(http: HttpService) -> str:
    return http.address.replace("http://", "ws://") + "/ws"


def message(**body: Any) -> bytes:
    """One ClientMessage as a WebSocket message body (no length prefix)."""
    return pb.ClientMessage(**body).SerializeToString()


def hello(player_id: str, room: str = "r", **fields: Any) -> bytes:
    fields.setdefault("protocol_version", 1)
    return message(hello=pb.Hello(player_id=player_id, room=room, **fields))


class WsClient:
    """A protocol v1 client over WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.raw: list[bytes] = []

    @classmethod
    async def connect(cls, http: HttpService, **kwargs: Any) -> WsClient:
        kwargs.setdefault("compression", None)
        ws = await asyncio.wait_for(connect(ws_url(http), **kwargs), DEFAULT_TIMEOUT)
        return cls(ws)

    @classmethod
    async def join(
        cls, http: HttpService, player_id: str, room: str = "r", **fields: Any
    ) -> tuple[WsClient, pb.Welcome]:
        c = await cls.connect(http)
        await c.ws.send(hello(player_id, room, **fields))
        msg = await c.next_message()
        assert msg.HasField("welcome"), f"expected Welcome, got {msg}"
        return c, msg.welcome

    async def send_input(self, seq: int, payload: bytes = b"") -> None:
        await self.ws.send(message(input=pb.Input(seq=seq, payload=payload)))

    async def next_body(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(data, bytes), f"the server sent a text message: {data!r}"
        self.raw.append(data)
        return data

    async def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> pb.ServerMessage:
        return pb.ServerMessage.FromString(await self.next_body(timeout))

    async def next_tick(self, timeout: float = DEFAULT_TIMEOUT) -> pb.Tick:
        while True:
            msg = await self.next_message(timeout)
            if msg.HasField("tick"):
                return msg.tick
            assert not msg.HasField("kick"), f"unexpected kick: {msg.kick}"

    async def ticks_until(self, number: int, timeout: float = DEFAULT_TIMEOUT) -> list[pb.Tick]:
        out: list[pb.Tick] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not out or out[-1].number < number:
            out.append(await self.next_tick(max(0.01, end - loop.time())))
        return out

    async def expect_kick(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[pb.Kick, int | None]:
        """Read until a Kick (skipping ticks); then expect the close. Returns the
        Kick and the close code the server sent."""
        while True:
            msg = await self.next_message(timeout)
            if msg.HasField("kick"):
                with contextlib.suppress(ConnectionClosed):
                    await asyncio.wait_for(self.ws.recv(), timeout)
                    raise AssertionError("a message came after the Kick")
                await asyncio.wait_for(self.ws.wait_closed(), timeout)
                return msg.kick, self.ws.close_code

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2.0)
