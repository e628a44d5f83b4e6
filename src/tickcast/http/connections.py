"""The HTTP listener's connections: counted, timed and bounded before aiohttp sees a byte.

aiohttp (3.14 here) has no timeout of its own for reading a request head or
body: its one timer is the keep-alive one, 3630 s by default since 3.10 (it
was 75 s), which in 3.14 also runs from the connection's start but is one
value for the idle pause and the head together. It does not count
connections either. So a slow-header client ("slowloris") held a socket and a
file descriptor for as long as it liked, and enough of them starved the TCP
listener of descriptors: honest players could no longer connect (issue 15).

`HttpGate` is a small asyncio protocol in front of aiohttp's `RequestHandler`
(one per connection, made by `GatedSite`): it sees every connection before
aiohttp does, forwards every callback to it unchanged, and keeps this state:

    WAITING --head complete--> BUSY --response written--> IDLE --first byte--> WAITING
       |                        |  \\--dashboard feed--> STREAM
       |                        \\--/ws upgrade--> WEBSOCKET (counted by websocket.py)
       \\--over a limit--> PROBATION (answered 503, or a WebSocket Kick, at its head)

- WAITING: the request head must be complete within `--http-header-timeout`
  of the connection (or of its first byte after a keep-alive pause), and at
  most `MAX_HEAD_BYTES` long; else 408 (or 431) and close.
- BUSY: the body must arrive within `--http-body-timeout` (read by
  `connection_middleware`), and the response be taken by the client within
  `--http-request-timeout`; else the connection is cut.
- IDLE: keep-alive, at most `--http-keepalive-timeout`.
- Every connection is counted in `server.admission` (`--max-connections`,
  `--max-connections-per-host`, shared with TCP and WebSocket) and in
  `--max-http-connections`, which is also held to a quarter of the process's
  file descriptor limit so that HTTP can never take the descriptors players
  need. When that is full, the connection that has waited longest for its
  request head (WAITING or IDLE: a slowloris socket first) is closed to make
  room, so a flood of slow sockets cannot lock out an honest request.
- A `/ws` upgrade leaves this accounting at its head: `websocket.py` counts
  WebSocket connections itself (one connection is never counted twice).

Why a protocol in front rather than a `RequestHandler` subclass (or aiohttp's
keep-alive timer alone): the gate decides before aiohttp allocates anything
for a connection (like the TCP transport's admission), keeps the head, body,
idle and response limits apart, and uses only the public asyncio protocol
interface and `web.BaseSite`, so it does not depend on aiohttp's private
state, which changes between releases. aiohttp's keep-alive timer stays on as
a backstop, longer than the gate's.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from aiohttp.typedefs import Middleware

from tickcast.http.refusals import Refusals

if TYPE_CHECKING:
    from tickcast.config import Config
    from tickcast.security import Admission

log = logging.getLogger("tickcast.http")

MAX_HEAD_BYTES = 64 * 1024
"""Bytes a request head may have (nginx allows 4 x 8 KiB, Apache 8 KiB a line)."""
PROBATION_MAX = 16
"""Connections over a limit held at once to answer them properly (503, or a
WebSocket Kick at their upgrade); beyond that the oldest is closed unanswered."""
PROBATION_SECONDS = 2.0
"""How long a connection over a limit may take to send its request head."""
CLOSE_GRACE = 1.0
"""Seconds a closed connection may take to flush its last bytes before it is cut."""
FD_SHARE = 4
"""Plain HTTP may hold at most 1/FD_SHARE of the process's file descriptors."""


def fd_limit() -> int | None:
    """The process's soft RLIMIT_NOFILE (None: unlimited or unknown)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else int(soft)


def http_connection_limit(configured: int, descriptors: int | None) -> int:
    """`--max-http-connections`, held to a quarter of the descriptors (at least 8)."""
    if descriptors is None:
        return configured
    return max(8, min(configured, descriptors // FD_SHARE))


class State(enum.Enum):
    WAITING = "waiting"  # for a request head (new, or after a keep-alive pause)
    IDLE = "idle"  # keep-alive between two requests
    BUSY = "busy"  # a request is being read or answered
    STREAM = "stream"  # a long response (the dashboard feed)
    WEBSOCKET = "websocket"  # upgraded; websocket.py owns it
    PROBATION = "probation"  # over a limit: to be refused at its head
    CLOSED = "closed"


class HttpConnections:
    """Every connection of one HTTP listener, and its limits."""

    def __init__(self, config: Config, admission: Admission, refusals: Refusals) -> None:
        self.config = config
        self.admission = admission
        self.refusals = refusals
        self.descriptors = fd_limit()
        self.limit = http_connection_limit(config.max_http_connections, self.descriptors)
        self.held = 0  # plain HTTP connections counted against `limit`
        self.peak = 0
        # WAITING and IDLE gates, the longest waiting first (dicts keep insertion order)
        self.waiting: dict[HttpGate, None] = {}
        self.probation: dict[HttpGate, None] = {}
        self.by_state: dict[State, int] = dict.fromkeys(State, 0)

    def protocol_factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], HttpGate]:
        return lambda: HttpGate(self, inner())

    # ------------------------------------------------------------ accounting

    def take_place(self) -> bool:
        """One more plain HTTP connection, closing the longest-waiting one if full;
        False: full of connections that are all busy."""
        if self.held >= self.limit:
            oldest = next(iter(self.waiting), None)
            if oldest is None:
                return False
            oldest.evict()
        self.held += 1
        self.peak = max(self.peak, self.held)
        return True

    def hold_probation(self, gate: HttpGate) -> None:
        if len(self.probation) >= PROBATION_MAX:
            next(iter(self.probation)).close()
        self.probation[gate] = None


class HttpGate(asyncio.Protocol):
    """One HTTP connection: accounting and timers in front of aiohttp's handler."""

    def __init__(self, conns: HttpConnections, inner: asyncio.Protocol) -> None:
        self.conns = conns
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.peer = ""
        self.host = ""
        self.state = State.CLOSED
        self.admitted = False  # counted in server.admission
        self.counted = False  # counted in conns.held
        self.refusal: tuple[str, bytes | None] | None = None  # PROBATION: reason, Kick
        self.head_bytes = 0
        self.write_paused = False
        self.responded = False  # the response of the current request is written
        self._timer: asyncio.TimerHandle | None = None
        self._abort: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peername = transport.get_extra_info("peername")
        if isinstance(peername, tuple):
            self.host = str(peername[0])
            self.peer = f"[{peername[0]}]:{peername[1]}" if ":" in self.host else (
                f"{peername[0]}:{peername[1]}"
            )
        conns = self.conns
        kick = conns.admission.admit(self.host)
        if kick is not None:
            full = bool(conns.admission.max_total) and (
                conns.admission.total >= conns.admission.max_total
            )
            self._enter_probation("connections" if full else "connections_per_host", kick)
        else:
            self.admitted = True
            if conns.take_place():
                self.counted = True
                self._set_state(State.WAITING, conns.config.http_header_timeout)
            else:
                self._release()
                self._enter_probation("http_connections", None)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state is State.CLOSED:
            return
        if state is State.IDLE:  # the next request begins: it has the header timeout
            self._set_state(State.WAITING, self.conns.config.http_header_timeout)
            state = State.WAITING
        if state is State.WAITING or state is State.PROBATION:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self._refuse_head(
                    "header_too_large", f"request head over {MAX_HEAD_BYTES} bytes",
                    b"431 Request Header Fields Too Large",
                )
                return
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.inner.resume_writing()
        if self.state is State.BUSY and self.responded:
            self._idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        self._set_state(State.CLOSED)
        if self._abort is not None:
            self._abort.cancel()
            self._abort = None
        self.inner.connection_lost(exc)

    # ------------------------------------------------------------ request phases
    # (called by connection_middleware, which sees every request aiohttp routes)

    def request_started(self) -> None:
        self.head_bytes = 0
        self.responded = False
        if self.state in (State.WAITING, State.IDLE):
            self._set_state(State.BUSY, self.conns.config.http_request_timeout)

    def request_finished(self) -> None:
        """The response is written into the transport; idle once the client took it."""
        self.responded = True
        if self.state is State.BUSY and not self.write_paused:
            self._idle()

    def stream_started(self) -> None:
        """A long response (the dashboard feed): no deadline; its writes have one."""
        if self.state is State.BUSY:
            self._set_state(State.STREAM)

    def stream_finished(self) -> None:
        if self.state is State.STREAM:
            self._set_state(State.BUSY, self.conns.config.http_request_timeout)

    def to_websocket(self) -> None:
        """A `/ws` upgrade: websocket.py counts it from here on."""
        self._release()
        self._set_state(State.WEBSOCKET)

    # ------------------------------------------------------------ closing

    def evict(self) -> None:
        """Closed to make room at --max-http-connections (WAITING or IDLE only)."""
        what = (
            f"waited longest for its request head ({self.head_bytes} bytes)"
            if self.state is State.WAITING
            else "idle keep-alive connection"
        )
        self.conns.refusals.refuse(
            "http_connections", self.peer,
            f"closed to make room for a new connection at --max-http-connections "
            f"({self.conns.limit}): {what}",
        )
        self.close()

    def close(self, last_words: bytes = b"") -> None:
        """Write `last_words` (a whole response, or nothing), then close; cut it if
        the client does not take them within CLOSE_GRACE."""
        transport = self.transport
        self._release()
        self._set_state(State.CLOSED)
        if transport is None or transport.is_closing():
            return
        if last_words:
            transport.write(last_words)
        transport.close()
        self._abort = self.loop.call_later(CLOSE_GRACE, transport.abort)

    # ------------------------------------------------------------ internals

    def _enter_probation(self, reason: str, kick: bytes | None) -> None:
        self.refusal = (reason, kick)
        conns = self.conns
        detail = {
            "connections": f"at --max-connections ({conns.admission.max_total})",
            "connections_per_host": "at --max-connections-per-host "
            f"({conns.admission.max_per_host}) for this address",
            "http_connections": f"at --max-http-connections ({conns.limit}), every one busy",
        }[reason]
        conns.refusals.refuse(reason, self.peer, detail)
        conns.hold_probation(self)
        self._set_state(State.PROBATION, min(PROBATION_SECONDS, conns.config.http_header_timeout))

    def _refuse_head(self, reason: str, detail: str, status: bytes) -> None:
        self.conns.refusals.refuse(reason, self.peer, detail)
        body = detail.encode() + b"\n"
        self.close(
            b"HTTP/1.1 " + status + b"\r\nConnection: close\r\nContent-Type: text/plain\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )

    def _idle(self) -> None:
        self._set_state(State.IDLE, self.conns.config.http_keepalive_timeout)

    def _release(self) -> None:
        if self.counted:
            self.counted = False
            self.conns.held -= 1
        if self.admitted:
            self.admitted = False
            self.conns.admission.release(self.host)
        self.conns.probation.pop(self, None)

    def _set_state(self, state: State, timeout: float | None = None) -> None:
        conns = self.conns
        if self.state is not State.CLOSED:
            conns.by_state[self.state] -= 1
        if state is not State.CLOSED:
            conns.by_state[state] += 1
        self.state = state
        conns.waiting.pop(self, None)
        if state is State.WAITING or state is State.IDLE:
            conns.waiting[self] = None  # the newest waiting
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if timeout is not None:
            self._timer = self.loop.call_later(timeout, self._expired)

    def _expired(self) -> None:
        self._timer = None
        state = self.state
        cfg = self.conns.config
        if state is State.WAITING:
            if self.head_bytes:
                self._refuse_head(
                    "header_timeout",
                    f"{self.head_bytes} bytes of a request head in {cfg.http_header_timeout:g} s",
                    b"408 Request Timeout",
                )
            else:  # never a byte: a silent socket (or a browser's unused preconnect)
                self.conns.refusals.refuse(
                    "header_timeout", self.peer,
                    f"no request within {cfg.http_header_timeout:g} s",
                )
                self.close()
        elif state is State.BUSY:
            self.conns.refusals.refuse(
                "request_timeout", self.peer,
                f"request not done within {cfg.http_request_timeout:g} s of its head",
            )
            self._release()
            self._set_state(State.CLOSED)
            if self.transport is not None:
                self.transport.abort()
        else:  # IDLE: keep-alive over; PROBATION: its head never came
            self.close()


def gate_of(request: web.BaseRequest) -> HttpGate | None:
    """The gate of the connection `request` came on (None: it is gone)."""
    transport = request.transport
    protocol: Any = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, HttpGate) else None


class GatedSite(web.BaseSite):
    """aiohttp's TCPSite, with an `HttpGate` in front of every connection."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, conns: HttpConnections,
        backlog: int = 1024,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self.host = host
        self.port = port
        self.conns = conns

    @property
    def name(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        handler_factory = self._runner.server
        assert handler_factory is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.conns.protocol_factory(handler_factory),
            self.host,
            self.port,
            reuse_address=True,
            backlog=self._backlog,
        )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def connection_middleware(conns: HttpConnections) -> Middleware:
    """The outermost middleware: tells each request's gate where the request is,
    reads the body within --http-body-timeout, answers connections over a limit,
    and hands `/ws` upgrades over to websocket.py's own accounting."""
    from tickcast.http.websocket import refuse as refuse_websocket

    body_timeout = conns.config.http_body_timeout

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        gate = gate_of(request)
        if gate is None:  # the client is gone already
            return await handler(request)
        if gate.state is State.PROBATION:
            assert gate.refusal is not None
            reason, kick = gate.refusal
            if request.path == "/ws" and kick is not None:
                return await refuse_websocket(request, kick)  # Kick{RATE_LIMITED}, 1008
            if request.path != "/ws":
                return _over_limit(reason)
            # over --max-http-connections only: a WebSocket is not plain HTTP
        if request.path == "/ws":
            gate.to_websocket()
            return await _upgrade(request, handler)
        gate.request_started()
        try:
            if request.body_exists:
                try:
                    async with asyncio.timeout(body_timeout):
                        await request.read()  # kept by aiohttp for the handler
                except TimeoutError:
                    conns.refusals.refuse(
                        "body_timeout", gate.peer,
                        f"{request.method} {request.path}: body not received within "
                        f"{body_timeout:g} s",
                    )
                    late = web.json_response(
                        {"error": "request body not received in time"}, status=408
                    )
                    late.force_close()
                    return _when_written(late, gate)
            response = await handler(request)
        except web.HTTPException as exc:
            _when_written(exc, gate)
            raise
        except BaseException:
            gate.request_finished()  # aiohttp answers 500 (or the client is gone)
            raise
        return _when_written(response, gate)

    return middleware


def _when_written(response: web.StreamResponse, gate: HttpGate) -> web.StreamResponse:
    """Tell the gate when aiohttp has sent the whole response (it does so after the
    middlewares, with `write_eof` last): only then is the connection idle, and a
    file still being sent is never taken for an idle connection."""
    write_eof = response.write_eof

    async def written(data: bytes = b"") -> None:
        try:
            await write_eof(data)
        finally:
            gate.request_finished()

    response.write_eof = written  # type: ignore[method-assign]
    return response


async def _upgrade(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The WebSocket handler; a connection that it did not upgrade is closed after
    its answer (it is no longer counted as plain HTTP)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.force_close()
        raise
    if response.status != 101:
        response.force_close()
    return response


def _over_limit(reason: str) -> web.Response:
    error = {
        "connections": "the server is at its connection limit",
        "connections_per_host": "too many connections from this address",
        "http_connections": "the server is at its HTTP connection limit",
    }[reason]
    response = web.json_response({"error": error}, status=503, headers={"Retry-After": "1"})
    response.force_close()
    return response
