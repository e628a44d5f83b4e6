"""Helpers for tests of the HTTP side: a server with its HTTP service, a
protocol v1 client over WebSocket (the websockets library) that keeps every
server message, raw and parsed, and a WebSocket client on a raw socket that
can send what no library sends. Every wait is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from support import DEFAULT_TIMEOUT, RawClient, test_config
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tickcast.http import HttpService
from tickcast.proto import pb
from tickcast.server import Server


@contextlib.asynccontextmanager
async def http_server(
    services: list[Any] | None = None, **overrides: Any
) -> AsyncIterator[tuple[Server, HttpService]]:
    """A started Server with its HTTP service (after `services`), both on free ports."""
    http = HttpService()
    server = Server(test_config(**overrides), [*(services or []), http])
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


class WsClient(RawClient):
    """A protocol v1 client over WebSocket: `RawClient`'s reading helpers
    (next_message, next_tick, ticks_until) over WebSocket messages."""

    def __init__(self, ws: ClientConnection) -> None:  # no stream reader/writer here
        self.ws = ws
        self.raw: list[bytes] = []

    @classmethod
    async def connect(cls, http: HttpService, **kwargs: Any) -> WsClient:  # type: ignore[override]
        kwargs.setdefault("compression", None)
        ws = await asyncio.wait_for(connect(ws_url(http), **kwargs), DEFAULT_TIMEOUT)
        return cls(ws)

    @classmethod
    async def join(  # type: ignore[override]
        cls, http: HttpService, player_id: str, room: str = "r", **fields: Any
    ) -> tuple[WsClient, pb.Welcome]:
        c = await cls.connect(http)
        await c.ws.send(hello(player_id, room, **fields))
        msg = await c.next_message()
        assert msg.HasField("welcome"), f"expected Welcome, got {msg}"
        return c, msg.welcome

    async def send_input(self, seq: int, payload: bytes = b"") -> None:  # type: ignore[override]
        await self.ws.send(message(input=pb.Input(seq=seq, payload=payload)))

    async def next_body(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(data, bytes), f"the server sent a text message: {data!r}"
        self.raw.append(data)
        return data

    async def expect_kick(  # type: ignore[override]
        self, timeout: float = DEFAULT_TIMEOUT
    ) -> tuple[pb.Kick, int | None]:
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


def client_frame(opcode: Opcode, data: bytes, *, mask: bool = True) -> bytes:
    return Frame(opcode, data).serialize(mask=mask, extensions=[])


class RawWs:
    """A WebSocket client on a raw socket: it sends bytes as given, and parses
    what the server sends with the websockets library's frame parser."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = StreamReader()

    @classmethod
    async def connect(cls, http: HttpService | int, then: bytes = b"") -> RawWs:
        """Upgrade (`http`: the service, or its port); `then` is sent in the same
        write as the request, before the 101."""
        port = http if isinstance(http, int) else int(http.address.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode() + then
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def next_frame(self, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        """The next frame the server sends (EOFError if the connection ends first)."""
        gen = Frame.parse(self.parser.read_exact, mask=False)
        while True:
            try:
                next(gen)
            except StopIteration as done:
                frame: Frame = done.value
                return frame
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise EOFError("the connection ended")
            self.parser.feed_data(data)

    async def frames_until_close(self, timeout: float = 10.0) -> list[Frame]:
        """Every frame the server sends, up to and including its close frame."""
        frames: list[Frame] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not frames or frames[-1].opcode is not Opcode.CLOSE:
            try:
                frames.append(await self.next_frame(end - loop.time()))
            except EOFError:
                raise AssertionError(f"ended without a close frame: {frames}") from None
        return frames

    async def close(self) -> None:
        self.writer.close()


def ticks_by_number(bodies: list[bytes]) -> dict[int, bytes]:
    """The raw ServerMessage bodies that are ticks, by tick number."""
    out = {}
    for body in bodies:
        msg = pb.ServerMessage.FromString(body)
        if msg.HasField("tick"):
            out[msg.tick.number] = body
    return out
