"""The server: lifecycle, the ticker and the housekeeping timer, over a Relay.

Shutdown order (uvicorn's): stop accepting, tell every connection
(`Kick{SERVER_SHUTDOWN}`, those in their handshake too), let them flush within
`shutdown_timeout`, then cut what is left. A connection whose Kick has reached
its peer (`Connection.kick_delivered`) is cut at once, so the process exits as
soon as every peer has its Kick, not after the whole timeout.

The ticker is one loop timer for the whole process (every room ticks at the
server's tick rate) scheduled at absolute deadlines, so ticks do not drift;
it stops when no room has members, and the housekeeping timer (idle
timeouts) stops when there are no connections: an idle server has no timers
at all and makes no wakeups.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Protocol

from tickcast.config import Config
from tickcast.errors import UsageError
from tickcast.logs import fields
from tickcast.relay import Relay
from tickcast.security import Admission
from tickcast.stats import Histogram
from tickcast.transports.tcp import TcpConnection, TcpListener

log = logging.getLogger("tickcast.server")

HOUSEKEEPING_INTERVAL = 1.0
MAX_TICK_LAG = 5
"""Ticks the ticker may fall behind before it gives up catching up and resets its phase."""


class Service(Protocol):
    """Something that runs beside the TCP listener on the same loop (the HTTP
    side, the tick log writer, ...): started after the listener, closed with it."""

    async def start(self, server: Server) -> None: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


class Connection(Protocol):
    """What the server tracks of a client connection of any transport (TCP, WebSocket)."""

    def abort(self) -> None: ...

    def kick_delivered(self, now: float) -> bool: ...


class Server:
    """A tickcast server on one event loop: `async with Server(config) as s: ...`."""

    def __init__(self, config: Config | None = None, services: list[Service] | None = None) -> None:
        self.config = config or Config()
        self.services: list[Service] = list(services or [])
        self.relay = Relay(self.config, on_ticking=self._start_ticker)
        self.admission = Admission(self.config)  # connection limits, before any allocation
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tcp: TcpListener | None = None
        self._connections: set[Connection] = set()
        self._tick_handle: asyncio.TimerHandle | None = None
        self._tick_deadline = 0.0
        self._tick_phase = 0
        self._housekeeping: asyncio.TimerHandle | None = None
        self._closing = False
        self._closed: asyncio.Event | None = None
        self._close_task: asyncio.Task[None] | None = None
        self.ticks_late = 0
        self.wakeups = 0

    @property
    def tick_seconds(self) -> Histogram:
        """One tick cycle's duration: sequencing, encoding and fan-out (`Relay.deliver`
        observes it, after a tick log's commit too, without the wait for the disk)."""
        return self.relay.tick_seconds

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise UsageError("the server is not started")
        return self._loop

    @property
    def port(self) -> int:
        """The TCP port actually listened on (useful with port 0)."""
        if self._tcp is None or not self._tcp.sockets:
            raise UsageError("the server is not listening")
        return int(self._tcp.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def address(self) -> str:
        host = self.config.host
        return f"tcp://[{host}]:{self.port}" if ":" in host else f"tcp://{host}:{self.port}"

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen. Returns once the socket accepts connections."""
        if self._tcp is not None:
            raise UsageError("server already started")
        self._loop = asyncio.get_running_loop()
        self._closed = asyncio.Event()
        self._closing = False
        self.relay = Relay(self.config, on_ticking=self._start_ticker, auth=self.relay.auth)
        # not loop.create_server: it accepts one connection per loop iteration (see TcpListener)
        self._tcp = await TcpListener.listen(
            self._loop, lambda: TcpConnection(self), self.config.host, self.config.port, 4096
        )
        for service in self.services:
            await service.start(self)
        log.info(
            "listening %s",
            fields(address=self.address, tick_rate=self.config.tick_rate,
                   server_id=self.config.server_id),
        )

    async def serve_forever(self) -> None:
        """Run until `close()` (or a signal handler calling it) has finished."""
        if self._tcp is None:
            await self.start()
        assert self._closed is not None
        await self._closed.wait()

    def close(self) -> None:
        """Begin shutdown (idempotent); `wait_closed()` waits for the end."""
        if self._closing or self._loop is None:
            return
        self._closing = True
        if self._tcp is not None:
            self._tcp.close()
        self._cancel_timers()
        self.relay.shutdown()
        for service in self.services:
            service.close()
        self._close_task = self._loop.create_task(self._finish_close())

    async def _finish_close(self) -> None:
        # every connection has its Kick{SERVER_SHUTDOWN} queued: cut each as soon as
        # the Kick has reached its peer (a peer that keeps its socket open must not
        # hold the shutdown), and the rest, which do not read it, at the timeout
        loop = self.loop
        deadline = loop.time() + self.config.shutdown_timeout
        while self._connections and loop.time() < deadline:
            now = loop.time()
            for conn in list(self._connections):
                if conn.kick_delivered(now):
                    conn.abort()
            await asyncio.sleep(0.02)
        if self._connections:
            log.info(
                "connections cut at the shutdown timeout: their Kick was not taken %s",
                fields(connections=len(self._connections),
                       timeout_seconds=self.config.shutdown_timeout),
            )
        for conn in list(self._connections):
            conn.abort()
        # give aborted transports their connection_lost callback
        for _ in range(10):
            if not self._connections:
                break
            await asyncio.sleep(0.01)
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None
        for service in self.services:
            await service.wait_closed()
        self._cancel_timers()
        assert self._closed is not None
        self._closed.set()
        log.info("closed")

    async def wait_closed(self) -> None:
        """Wait until `close()` has finished (every connection gone)."""
        if self._close_task is not None:
            await asyncio.shield(self._close_task)

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()

    # ------------------------------------------------------------ connections

    @property
    def listening(self) -> bool:
        """True while the TCP listener accepts connections (for /readyz)."""
        return self._tcp is not None and not self._closing

    def connection_opened(self, conn: Connection) -> None:
        self._connections.add(conn)
        if self._housekeeping is None and not self._closing:
            self._housekeeping = self.loop.call_later(HOUSEKEEPING_INTERVAL, self._housekeep)

    def connection_closed(self, conn: Connection) -> None:
        self._connections.discard(conn)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    # ------------------------------------------------------------ timers

    def _cancel_timers(self) -> None:
        for h in (self._tick_handle, self._housekeeping):
            if h is not None:
                h.cancel()
        self._tick_handle = self._housekeeping = None

    def _housekeep(self) -> None:
        self.wakeups += 1
        self._housekeeping = None
        self.relay.sweep(self.loop.time())
        if self._connections and not self._closing:
            self._housekeeping = self.loop.call_later(HOUSEKEEPING_INTERVAL, self._housekeep)

    def _start_ticker(self) -> None:
        if self._tick_handle is not None or self._closing or self._loop is None:
            return
        self._tick_deadline = self._loop.time() + self._tick_step
        self._tick_handle = self._loop.call_at(self._tick_deadline, self._on_tick)

    @property
    def _tick_step(self) -> float:
        """Time between two firings of the ticker: one interval, or one phase of it."""
        return self.config.tick_interval / self.config.tick_phases

    def _on_tick(self) -> None:
        self.wakeups += 1
        loop = self.loop
        now = loop.time()
        phases = self.config.tick_phases
        steps = 1
        if phases > 1:
            # each firing ticks one phase's rooms: every room once per interval;
            # phases without rooms are skipped (the deadlines stay on the grid)
            self.relay.tick(now, self._tick_phase)
            steps = self.relay.steps_to_next_phase(self._tick_phase, phases)
            self._tick_phase = (self._tick_phase + steps) % phases
        else:
            self.relay.tick(now)
        if not self.relay.ticking or self._closing:
            self._tick_handle = None
            return
        step = self._tick_step
        deadline = self._tick_deadline + step * steps
        if deadline < now - MAX_TICK_LAG * step:
            # too far behind to catch up tick by tick: start a fresh phase
            self.ticks_late += 1
            deadline = now + step * steps
        self._tick_deadline = deadline
        self._tick_handle = loop.call_at(deadline, self._on_tick)
