"""Helpers for testing games and tools built on tickcast (and for tickcast's own tests).

Import them from your test suite: they need nothing but asyncio and loopback.
"""

from __future__ import annotations

# ---- servers and clients ----
import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

from tickcast.client import Client
from tickcast.config import Config
from tickcast.server import Server


@contextlib.asynccontextmanager
async def running_server(**config: Any) -> AsyncIterator[Server]:
    """A tickcast server in this process on a free loopback port, closed on exit.

        async with running_server(tick_rate=60) as server:
            async with connected_clients(server.port, 4) as clients: ...

    Keyword arguments are `Config` fields; `port` defaults to 0 (a free one)
    and `host` to 127.0.0.1.
    """
    config.setdefault("port", 0)
    config.setdefault("host", "127.0.0.1")
    config.setdefault("shutdown_timeout", 1.0)
    server = Server(Config(**config))
    await server.start()
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def connected_clients(
    port: int,
    n: int,
    *,
    room: str = "test",
    prefix: str = "player",
    host: str = "127.0.0.1",
    **options: Any,
) -> AsyncIterator[list[Client]]:
    """`n` players `prefix`1..`prefix`n joined to `room`, in slot order; they leave on exit.

    `options` go to `tickcast.connect` (token, spectator, reconnect timeouts, ...).
    """
    clients: list[Client] = []
    try:
        for i in range(1, n + 1):
            c = Client(host, port, player_id=f"{prefix}{i}", room=room, **options)
            await c.start()
            clients.append(c)
        yield clients
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


class ChaosProxy:
    """A TCP proxy on loopback that cuts every connection at a random moment.

    Each connection lives for a random time in [`min_life`, `max_life`]
    seconds, then both sides are reset at once. Bytes are forwarded in
    randomly sized pieces, so a cut often falls inside a frame (the client
    gets half a tick, the server half an input). With probability `stall`, a
    connection instead goes silent (nothing forwarded, nothing closed), which
    only a client-side timeout can detect; stalled sockets are reset after
    `stall_for` seconds.

        async with ChaosProxy(server.port, seed=7) as proxy:
            client = tickcast.connect("127.0.0.1", proxy.port, ...)
    """

    def __init__(
        self,
        target_port: int,
        *,
        target_host: str = "127.0.0.1",
        min_life: float = 0.05,
        max_life: float = 1.5,
        stall: float = 0.0,
        stall_for: float = 5.0,
        seed: int | None = None,
    ) -> None:
        self.target = (target_host, target_port)
        self.min_life = min_life
        self.max_life = max_life
        self.stall = stall
        self.stall_for = stall_for
        self.random = random.Random(seed)
        self.cuts = 0
        self.stalls = 0
        self.connections = 0
        self.cutting = True
        """While False, new connections are forwarded and never cut (to let things settle)."""
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> ChaosProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            try:
                s_reader, s_writer = await asyncio.open_connection(*self.target)
            except OSError:
                c_writer.transport.abort()
                return
            stalled = asyncio.Event()
            pumps = [
                asyncio.ensure_future(self._pump(c_reader, s_writer, stalled)),
                asyncio.ensure_future(self._pump(s_reader, c_writer, stalled)),
            ]
            cut = self.cutting
            life = self.random.uniform(self.min_life, self.max_life)
            try:
                done, _ = await asyncio.wait(
                    pumps, timeout=life if cut else None, return_when=asyncio.FIRST_COMPLETED
                )
                if not done and self.random.random() < self.stall:
                    self.stalls += 1
                    stalled.set()  # both directions stop forwarding; sockets stay open
                    await asyncio.sleep(self.stall_for)
                elif not done:
                    self.cuts += 1
            finally:
                for p in pumps:
                    p.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
                c_writer.transport.abort()
                s_writer.transport.abort()
        finally:
            self._tasks.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stalled: asyncio.Event
    ) -> None:
        rnd = self.random
        while True:
            data = await reader.read(65536)
            if not data:
                writer.transport.abort()
                return
            pos = 0
            while pos < len(data):
                if stalled.is_set():
                    await asyncio.Event().wait()  # forever (until cancelled)
                step = rnd.randint(1, max(1, len(data) - pos))
                writer.write(data[pos : pos + step])
                pos += step
                await asyncio.sleep(0)  # a cut may land between two pieces
            await writer.drain()
