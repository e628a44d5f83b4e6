"""Shared test helpers: a raw protocol client over real sockets, and a server runner.

`RawClient` speaks protocol v1 directly (no SDK), so tests of the server see
exactly the bytes on the wire. Every wait is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tickcast import wire
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.server import Server

DEFAULT_TIMEOUT = 5.0


def hello_frame(player_id: str, room: str = "r", **fields: Any) -> bytes:
    fields.setdefault("protocol_version", 1)
    return client_frame(hello=pb.Hello(player_id=player_id, room=room, **fields))


def client_frame(**body: Any) -> bytes:
    """A framed ClientMessage, e.g. client_frame(input=pb.Input(seq=1, payload=b"x"))."""
    return wire.frame(pb.ClientMessage(**body).SerializeToString())


def input_frame(seq: int, payload: bytes = b"") -> bytes:
    return client_frame(input=pb.Input(seq=seq, payload=payload))


class RawClient:
    """A protocol v1 client over TCP that keeps every server frame, raw and parsed."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = wire.Framer(1 << 26)
        self.raw: list[bytes] = []  # every frame body received, in order
        self._pending: list[bytes] = []
        self.eof = False

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RawClient:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), DEFAULT_TIMEOUT
        )
        return cls(reader, writer)

    @classmethod
    async def join(
        cls, port: int, player_id: str, room: str = "r", **hello: Any
    ) -> tuple[RawClient, pb.Welcome]:
        """Connect, send Hello, and wait for the Welcome (fails on a Kick)."""
        c = await cls.connect(port)
        c.send(hello_frame(player_id, room, **hello))
        msg = await c.next_message()
        assert msg.HasField("welcome"), f"expected Welcome, got {msg}"
        return c, msg.welcome

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def send_input(self, seq: int, payload: bytes = b"") -> None:
        self.writer.write(input_frame(seq, payload))

    async def next_body(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """The next raw server frame body; raises EOFError at end of stream."""
        async def read() -> bytes:
            while not self._pending:
                data = await self.reader.read(65536)
                if not data:
                    self.eof = True
                    raise EOFError("server closed the connection")
                self._pending.extend(self.framer.feed(data))
            body = self._pending.pop(0)
            self.raw.append(body)
            return body

        return await asyncio.wait_for(read(), timeout)

    async def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> pb.ServerMessage:
        return wire.decode_server_frame_body(await self.next_body(timeout))

    async def next_tick(self, timeout: float = DEFAULT_TIMEOUT) -> pb.Tick:
        """The next Tick, skipping Pongs; fails on a Kick."""
        while True:
            msg = await self.next_message(timeout)
            if msg.HasField("tick"):
                return msg.tick
            assert not msg.HasField("kick"), f"unexpected kick: {msg.kick}"

    async def ticks_until(self, number: int, timeout: float = DEFAULT_TIMEOUT) -> list[pb.Tick]:
        """Every Tick up to and including `number`."""
        out: list[pb.Tick] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not out or out[-1].number < number:
            out.append(await self.next_tick(max(0.01, end - loop.time())))
        return out

    async def expect_kick(self, timeout: float = DEFAULT_TIMEOUT) -> pb.Kick:
        """Read until a Kick arrives (skipping ticks), then expect the close."""
        while True:
            msg = await self.next_message(timeout)
            if msg.HasField("kick"):
                with contextlib.suppress(EOFError, ConnectionError, asyncio.TimeoutError):
                    await self.next_body(timeout)
                    raise AssertionError("a frame came after the Kick")
                return msg.kick

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


def test_config(**overrides: Any) -> Config:
    """A config for tests: a free port, fast ticks, quiet logs."""
    overrides.setdefault("port", 0)
    overrides.setdefault("tick_rate", 50)
    overrides.setdefault("server_id", "test")
    overrides.setdefault("shutdown_timeout", 1.0)
    overrides.setdefault("http_port", 0)  # never the default 8080, if a test starts HTTP
    return Config(**overrides)


@contextlib.asynccontextmanager
async def running_server(
    services: list[Any] | None = None, **overrides: Any
) -> AsyncIterator[Server]:
    """A started Server on a free port; closed (and awaited) afterwards.

    Tests do not record matches unless they pass a recorder in `services`
    (`tickcast.store.Recorder`, with `data_dir` under tmp_path)."""
    server = Server(test_config(**overrides), services)
    await server.start()
    try:
        yield server
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)


def tick_content(tick: pb.Tick) -> bytes:
    """The spec's chain input for `tick` (the Tick without chain and desyncs,
    canonically encoded), computed with the generated code, independently of
    the hand encoders in tickcast.wire."""
    bare = pb.Tick()
    bare.CopyFrom(tick)
    bare.ClearField("chain")
    del bare.desyncs[:]
    return bare.SerializeToString()
