"""Helpers for testing code that uses tickcast (and for tickcast's own tests).

The core is sans-I/O: a `Relay`, its `Session`s and `Room`s take bytes and a
time and write to `Sink`s. With the fakes below a test drives a whole relay
with no sockets, no event loop and no sleeps, so it is fast and deterministic:

    clock = FakeClock()
    relay = Relay(Config(server_id="test"))
    sink = MemorySink()
    session = relay.open_session(sink, clock.now())
    hello = pb.ClientMessage(hello=pb.Hello(protocol_version=1, player_id="p"))
    session.data_received(wire.frame(hello.SerializeToString()), clock.now())
    clock.advance(relay.config.tick_interval)
    relay.tick(clock.now())
    welcome, tick = sink.take()

For code that uses the client SDK, `running_server` starts a real server in
the test's event loop on a free loopback port, `connected_clients` joins N
players to it, and `ChaosProxy` cuts connections at random moments to
exercise resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

from tickcast.client import Client
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.server import Server
from tickcast.wire import Framer, decode_server_frame_body, decode_varint

# ---- sans-I/O fakes ----

_NO_LIMIT = 1 << 62


class FakeClock:
    """A clock that moves only when told to: `now()` for the core, `advance(dt)` for the test."""

    def __init__(self, start: float = 1000.0) -> None:
        # not 0.0: a bug that confuses "no time yet" (0.0) with a real time shows up
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, dt: float) -> float:
        """Move time forward by `dt` seconds; returns the new time."""
        if dt < 0:
            raise ValueError("a clock does not go backwards")
        self._now += dt
        return self._now


class MemorySink:
    """An in-memory `tickcast.outbox.Sink` (what an asyncio transport offers to an outbox).

    Bytes written are *delivered* (as if the kernel took them) unless the sink
    is `paused`; then they wait, unsent, until `drain(n)` or `resume()`. That
    models a receiver that stopped reading. Independently, `unsent` is a
    settable figure added to `get_write_buffer_size()`, for tests that need a
    backlog of an exact size without writing it.

    `close()` and `abort()` are recorded. Like an asyncio transport, a closed
    sink drops later writes, but it counts them in `writes_after_close`, since
    the core should never write after closing. `abort()` also drops what was
    still unsent, as a transport's abort does.
    """

    def __init__(self, *, paused: bool = False) -> None:
        self.paused = paused
        self.unsent = 0
        self.delivered = bytearray()
        self._pending = bytearray()
        self.closed = False
        self.aborted = False
        self.writes = 0
        self.writes_after_close = 0
        self._taken = 0

    # ------------------------------------------------------------ Sink protocol

    def write(self, data: bytes) -> None:
        if self.closed:
            self.writes_after_close += 1
            return
        self.writes += 1
        if self.paused or self._pending:
            self._pending += data
        else:
            self.delivered += data

    def get_write_buffer_size(self) -> int:
        return len(self._pending) + self.unsent

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True
        self.aborted = True
        self._pending.clear()

    # ------------------------------------------------------------ the test's side

    @property
    def pending(self) -> int:
        """Bytes written but not delivered yet (paused)."""
        return len(self._pending)

    def drain(self, n: int | None = None) -> int:
        """Deliver up to `n` waiting bytes (all if None); returns how many moved."""
        if n is None:
            n = len(self._pending)
        moved = bytes(self._pending[:n])
        del self._pending[:n]
        self.delivered += moved
        return len(moved)

    def drain_frames(self, count: int) -> int:
        """Deliver exactly the next `count` whole frames waiting; returns the bytes moved."""
        end = 0
        try:
            for _ in range(count):
                length, body_start = decode_varint(self._pending, end)
                end = body_start + length
        except IndexError:
            end = len(self._pending) + 1
        if end > len(self._pending):
            raise ValueError(f"fewer than {count} whole frames are waiting")
        return self.drain(end)

    def resume(self) -> None:
        """Stop pausing and deliver everything waiting."""
        self.paused = False
        self.drain()

    def frame_bodies(self) -> list[bytes]:
        """Every complete frame delivered so far (bodies without the length prefix)."""
        return decode_frame_bodies(bytes(self.delivered), allow_partial=True)

    def messages(self) -> list[pb.ServerMessage]:
        """Every complete ServerMessage delivered so far, in order."""
        return [decode_server_frame_body(b) for b in self.frame_bodies()]

    def take(self, count: int | None = None) -> list[pb.ServerMessage]:
        """The messages delivered since the last `take()` (all of them on the first
        call); at most `count` of them if given, leaving the rest for the next take."""
        msgs = self.messages()
        stop = len(msgs) if count is None else min(len(msgs), self._taken + count)
        new = msgs[self._taken : stop]
        self._taken = stop
        return new


def decode_frame_bodies(data: bytes, *, allow_partial: bool = False) -> list[bytes]:
    """Split a TCP byte stream into frame bodies.

    A trailing incomplete frame raises ValueError unless `allow_partial` (then it is ignored).
    """
    framer = Framer(_NO_LIMIT)
    bodies = framer.feed(data)
    if framer.buffered and not allow_partial:
        raise ValueError(f"{framer.buffered} bytes of an incomplete frame at the end")
    return bodies


def decode_frames(data: bytes, *, allow_partial: bool = False) -> list[pb.ServerMessage]:
    """Decode a server's TCP byte stream into its ServerMessages, in order."""
    bodies = decode_frame_bodies(data, allow_partial=allow_partial)
    return [decode_server_frame_body(b) for b in bodies]


# ---- servers and clients ----


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
    seconds, then both sides are reset at once (or, with probability `eof`,
    closed cleanly: each peer reads an EOF). Bytes are forwarded in
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
        eof: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.target = (target_host, target_port)
        self.min_life = min_life
        self.max_life = max_life
        self.stall = stall
        self.stall_for = stall_for
        self.eof = eof
        self.random = random.Random(seed)
        self.cuts = 0
        self.eofs = 0
        """Cuts that were clean closes (a subset of `cuts`)."""
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
                    if self.random.random() < self.eof:
                        self.eofs += 1
                        for p in pumps:
                            p.cancel()
                        await asyncio.gather(*pumps, return_exceptions=True)
                        for w in (c_writer, s_writer):
                            w.close()  # FIN after what is already written: an EOF
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(
                                asyncio.gather(
                                    c_writer.wait_closed(),
                                    s_writer.wait_closed(),
                                    return_exceptions=True,
                                ),
                                5,
                            )
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
