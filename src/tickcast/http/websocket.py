"""WebSocket transport at `/ws`: one binary message = one protocol message.

aiohttp does the upgrade and the reading side (frame parsing, the size limit,
pings, the close handshake); `transports.base.Connection` does what every
transport shares (admission, socket options, the handshake timer, catch-up
pumping, the end). Each message goes straight to `Session.message_received`.
The writing side does not go through aiohttp:
its `send_bytes` is a coroutine, and the room's fan-out must never await. So
`WsConnection` is the outbox's sink: it builds the (unmasked, binary, final)
server-to-client frame header itself and writes header and body to the
underlying transport in one synchronous call, exactly like the TCP sink. The
same tick frame reaches every member; its WebSocket encoding is made once and
shared (`encode_frame` keeps the last result).

No extension is negotiated (`compress=False`), so permessage-deflate never
runs: a client frame with the RSV1 bit set is a protocol error, and a
compression bomb cannot exist. The size limit (`max_frame`) is checked by
aiohttp from the frame header, before the payload is buffered. What aiohttp
does not check, `wsguard.FrameGuard` does, in front of its reader: every byte
read counts against `--recv-bytes-per-second` (pings too), and a client frame
that is not masked fails the connection (close 1002).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import TYPE_CHECKING, Any, cast

from aiohttp import WSCloseCode, WSMsgType, web

from tickcast import wire
from tickcast.http import appkeys as keys
from tickcast.http.wsguard import UNMASKED, FrameGuard
from tickcast.logs import CONNECTIONS, fields
from tickcast.proto import pb
from tickcast.session import Session, SessionState
from tickcast.transports.base import Connection, format_peer

if TYPE_CHECKING:
    from tickcast.server import Server

log = logging.getLogger("tickcast.ws")
conn_log = logging.getLogger(CONNECTIONS)

CLOSE_CODES: dict[int, int] = {
    pb.REASON_UNSPECIFIED: WSCloseCode.OK,  # Leave, or kicked by an operator
    pb.REASON_PROTOCOL_ERROR: WSCloseCode.PROTOCOL_ERROR,
    pb.REASON_HANDSHAKE_TIMEOUT: WSCloseCode.POLICY_VIOLATION,
    pb.REASON_AUTH_FAILED: WSCloseCode.POLICY_VIOLATION,
    pb.REASON_REPLACED: WSCloseCode.POLICY_VIOLATION,
    pb.REASON_SLOW_CONSUMER: WSCloseCode.POLICY_VIOLATION,
    pb.REASON_RATE_LIMITED: WSCloseCode.POLICY_VIOLATION,
    pb.REASON_FRAME_TOO_LARGE: WSCloseCode.MESSAGE_TOO_BIG,
    pb.REASON_ROOM_FULL: WSCloseCode.TRY_AGAIN_LATER,
    pb.REASON_RESUME_UNAVAILABLE: WSCloseCode.POLICY_VIOLATION,
    pb.REASON_SERVER_SHUTDOWN: WSCloseCode.GOING_AWAY,
    pb.REASON_IDLE_TIMEOUT: WSCloseCode.POLICY_VIOLATION,
    pb.REASON_VERSION_MISMATCH: WSCloseCode.PROTOCOL_ERROR,
    pb.REASON_ROOM_CLOSED: WSCloseCode.OK,
    pb.REASON_REDIRECT: WSCloseCode.OK,
}
"""The close code sent after a Kick with each reason (1011 for anything else)."""

_OP_BINARY_FIN = 0x82


def frame_header(length: int) -> bytes:
    """The header of an unmasked, final, binary server-to-client frame (RFC 6455 5.2)."""
    if length < 126:
        return bytes((_OP_BINARY_FIN, length))
    if length < 1 << 16:
        return struct.pack("!BBH", _OP_BINARY_FIN, 126, length)
    return struct.pack("!BBQ", _OP_BINARY_FIN, 127, length)


_last: tuple[bytes, bytes] = (b"", b"")
"""The last (TCP frame, WebSocket frame) pair: one tuple, so that reading it is
atomic even if two servers ran on two threads."""


def encode_frame(tcp_frame: bytes) -> bytes:
    """A length-prefixed protocol frame as one WebSocket binary frame.

    The fan-out offers the very same bytes object to every member of a room,
    so the last conversion is kept and reused (compared by identity: the
    reference kept here means the object cannot be freed and its id reused).
    """
    global _last
    last = _last
    if last[0] is tcp_frame:
        return last[1]
    n = wire.prefix_length(tcp_frame)
    body = memoryview(tcp_frame)[n:]
    encoded = frame_header(len(body)) + body
    _last = (tcp_frame, encoded)
    return encoded


def close_code_for(reason: int) -> int:
    return int(CLOSE_CODES.get(reason, WSCloseCode.INTERNAL_ERROR))


class WsConnection(Connection):
    """One WebSocket client: the outbox's sink, and the server's handle on it.

    Made before the upgrade (admission counts it first, `admit`); `attach` gives
    it the upgraded connection, `run` serves it until it ends."""

    kind = "ws"

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self.ws: WsResponse | None = None
        self.ws_writer: Any = None  # aiohttp's payload writer: drain() waits for resume_writing
        self.transport: asyncio.Transport | None = None
        self.close_code: int | None = None  # overrides the reason's code (text message)
        self.close_started = False
        self._close_task: asyncio.Task[bool] | None = None
        self._pump_task: asyncio.Task[None] | None = None

    def attach(self, ws: WsResponse, transport: Any, writer: Any) -> None:
        """The upgrade is done: write to `transport` from now on."""
        self.ws = ws
        self.ws_writer = writer
        # uvloop's transports are not asyncio.Transport subclasses, only alike
        self.transport = cast(asyncio.Transport, transport)
        self.get_write_buffer_size = self.transport.get_write_buffer_size  # type: ignore[method-assign]

    # ------------------------------------------------------------ Sink

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(encode_frame(data))

    def get_write_buffer_size(self) -> int:  # replaced by the transport's in attach
        return 0

    def close(self) -> None:
        """The session ended after writing its Kick: send the close frame that goes
        with the reason the session ended with (`Session.end_reason`)."""
        ws = self.ws
        if ws is None or self.close_started or ws.closed:
            return
        self.close_started = True
        code = self.close_code
        if code is None:
            session = self.session
            code = close_code_for(session.end_reason if session is not None else -1)
        self._close_task = self.loop.create_task(ws.close(code=code))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------ reading

    async def run(self, peer: str) -> None:
        """Open the session and feed it every message until the connection ends."""
        assert self.transport is not None and self.ws is not None
        self.tune(self.transport)
        session = self.open_session(peer)
        guard = self.ws.guard
        if guard is not None:
            guard.attach(session)
        try:
            await self._read(session)
        finally:
            self.finish()

    async def _read(self, session: Session) -> None:
        ws = self.ws
        assert ws is not None
        counted = ws.guard is not None  # its bytes went through the receive budget
        while session.state is not SessionState.CLOSED:
            msg = await ws.receive()
            if msg.type is WSMsgType.BINARY:
                session.message_received(msg.data, self.loop.time(), counted)
                if self._handshake is not None and session.state is not SessionState.AWAITING_HELLO:
                    self.handshake_over()
                if session.outbox.catching_up and self._pump_task is None:
                    self._pump_task = self.loop.create_task(self._pump_catchup(session))
            elif msg.type is WSMsgType.TEXT:
                self.close_code = WSCloseCode.UNSUPPORTED_DATA
                session.kick(pb.REASON_PROTOCOL_ERROR, "text messages are not part of the protocol")
            else:  # CLOSE, CLOSING, CLOSED, ERROR: the connection is over
                break
        if self._pump_task is not None:
            self._pump_task.cancel()
        if self._close_task is not None:
            # aiohttp's close() waits (at most its timeout) for the peer's close frame
            await asyncio.shield(self._close_task)

    async def _pump_catchup(self, session: Session) -> None:
        """Send catch-up ticks whenever the transport has drained.

        TCP hears of that through its protocol's `resume_writing`; here the
        protocol is aiohttp's, so wait on aiohttp's drain instead. Live ticks
        pump too (`Outbox.offer`); this covers rooms that send no live ticks.
        """
        writer = self.ws_writer
        outbox = session.outbox
        try:
            while session.state is SessionState.JOINED and outbox.catching_up:
                await writer.drain()
                self.pump()
                await asyncio.sleep(0)  # let reads and ticks run between chunks
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._pump_task = None


class WsResponse(web.WebSocketResponse):
    """aiohttp's WebSocket response with two hooks into the tickcast session.

    When aiohttp's reader refuses a client frame (over `max_msg_size`, or a
    malformed frame) it closes the connection itself; `close` is overridden so
    that the session first sends its `Kick` (FRAME_TOO_LARGE or
    PROTOCOL_ERROR): the Kick must be the last message before the close frame.
    """

    connection: WsConnection | None = None
    guard: FrameGuard | None = None

    def _post_start(self, request: Any, protocol: Any, writer: Any) -> None:
        """aiohttp installs its frame reader here: put the `FrameGuard` in front of it
        (it takes over what arrived behind the upgrade request, too)."""
        handler = request.protocol
        early = getattr(handler, "_message_tail", None)
        if isinstance(early, bytes):
            handler._message_tail = b""
        super()._post_start(request, protocol, writer)
        reader = getattr(handler, "_payload_parser", None)
        if reader is None or not isinstance(early, bytes):
            log.warning("aiohttp's WebSocket reader cannot be guarded: masking unchecked")
            return
        assert self._loop is not None  # set by _pre_start
        guard = FrameGuard(reader, self._reader, self._loop.time)
        handler._payload_parser = self.guard = guard
        if early:
            guard.feed_data(early)  # held until the session exists (`FrameGuard.attach`)

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        conn = self.connection
        if conn is not None:
            conn.close_started = True  # this call sends the close frame, not conn.close()
            session = conn.session
            if session is not None and session.state is not SessionState.CLOSED:
                if code == WSCloseCode.MESSAGE_TOO_BIG:
                    limit = session.framer.max_frame
                    session.kick(pb.REASON_FRAME_TOO_LARGE, f"message over {limit} bytes")
                elif code in (WSCloseCode.PROTOCOL_ERROR, WSCloseCode.INVALID_TEXT):
                    unmasked = self.guard is not None and self.guard.unmasked
                    detail = UNMASKED if unmasked else "malformed WebSocket frame"
                    session.kick(pb.REASON_PROTOCOL_ERROR, detail)
        return await super().close(code=code, message=message, drain=drain)


def origin_allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    """Browsers always send Origin; other clients need not, and are let in.
    An empty allow-list lets every origin in."""
    if origin is None or not allowed:
        return True
    return origin.rstrip("/").lower() in allowed


def parse_origins(setting: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/").lower() for o in setting.split(",") if o.strip())


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    server = request.app[keys.SERVER]
    allowed = request.app[keys.WS_ORIGINS]
    if not origin_allowed(request.headers.get("Origin"), allowed):
        conn_log.info(
            "refused ws: origin not allowed %s",
            fields(peer=request.remote, origin=request.headers.get("Origin")),
        )
        raise web.HTTPForbidden(text="origin not allowed\n")
    # --max-connections and --max-connections-per-host count WebSocket connections
    # too, before a session exists: a refusal is TCP's Kick, then a close frame
    conn = WsConnection(server)
    refusal = conn.admit(request.remote or "")
    if refusal is not None:
        return await refuse(request, refusal)
    try:
        return await serve_websocket(request, conn)
    finally:
        conn.finish()


async def refuse(request: web.Request, kick: bytes) -> web.WebSocketResponse:
    """Upgrade only to say no: the Kick (a length-prefixed frame) and a close frame."""
    ws = web.WebSocketResponse(compress=False, timeout=1.0)
    await ws.prepare(request)
    await ws.send_bytes(kick[wire.prefix_length(kick) :])
    await ws.close(code=CLOSE_CODES[pb.REASON_RATE_LIMITED])
    return ws


async def serve_websocket(request: web.Request, conn: WsConnection) -> web.StreamResponse:
    server = conn.server
    ws = WsResponse(
        # aiohttp refuses a message of max_msg_size bytes or more; TCP takes a frame
        # of exactly max_frame bytes, and so must we
        max_msg_size=server.config.max_frame + 1,
        compress=False,
        autoping=True,
        autoclose=True,
        timeout=server.config.shutdown_timeout or 1.0,
    )
    await ws.prepare(request)
    transport = request.transport
    if transport is None:  # the client went away during the upgrade
        return ws
    conn.attach(ws, transport, request.writer)
    ws.connection = conn
    await conn.run(format_peer(transport.get_extra_info("peername")))
    return ws
