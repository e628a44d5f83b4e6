"""TCP transport: an asyncio Protocol that feeds bytes into a Session.

Thin by design: all protocol rules live in the sans-I/O session and room.
The transport itself is the outbox's sink (one C-level `write` per frame, no
awaits), sets TCP_NODELAY and a fixed kernel send buffer (so a stalled reader
fills our counted buffer quickly instead of hiding megabytes in the kernel),
and turns "the sink drained" into catch-up pumping.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, cast

from tickcast.outbox import CATCHUP_CHUNK_BYTES
from tickcast.proto import pb
from tickcast.session import Session, SessionState

if TYPE_CHECKING:
    from tickcast.server import Server

log = logging.getLogger("tickcast.tcp")


def format_peer(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)


class TcpConnection(asyncio.Protocol):
    """One TCP client connection."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._abort_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ Sink

    def write(self, data: bytes) -> None:  # replaced by transport.write in connection_made
        raise RuntimeError("not connected")

    def get_write_buffer_size(self) -> int:  # replaced likewise
        return 0

    def close(self) -> None:
        """Flush then close; cut it if the peer does not read within the timeout.

        A lingering close: flush, send FIN (`write_eof`) and keep reading (the
        session ignores it) until the peer closes too. Closing the socket while
        client bytes sit unread in it (inputs in flight, a Hello on its way)
        makes the kernel send a reset instead, which drops our queued output,
        and so the Kick the spec promises as the last frame.
        """
        t = self.transport
        if t is None or t.is_closing() or self._abort_timer is not None:
            return
        if t.can_write_eof():
            t.write_eof()
        else:
            t.close()
        self._abort_timer = self.loop.call_later(self.server.config.shutdown_timeout, t.abort)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------ Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is not an asyncio.Transport subclass, only alike
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.write = transport.write  # type: ignore[method-assign]
        self.get_write_buffer_size = transport.get_write_buffer_size  # type: ignore[method-assign]
        sock = transport.get_extra_info("socket")
        cfg = self.server.config
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if cfg.send_buffer_bytes:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, cfg.send_buffer_bytes)
            except OSError:  # not every socket family has these options
                pass
        # resume_writing() fires once the buffer drains below a quarter of this
        transport.set_write_buffer_limits(high=CATCHUP_CHUNK_BYTES)
        peer = format_peer(transport.get_extra_info("peername"))
        log.info("accepted tcp:%s", peer)
        now = self.loop.time()
        self.server.connection_opened(self)
        self.session = session = self.server.relay.open_session(self, now, peer, "tcp")
        if session.state is SessionState.AWAITING_HELLO:
            self._timer = self.loop.call_at(session.handshake_deadline, self._handshake_timer)

    def _handshake_timer(self) -> None:
        self._timer = None
        if self.session is not None:
            self.session.handle_timer(self.loop.time())

    def data_received(self, data: bytes) -> None:
        session = self.session
        assert session is not None
        session.data_received(data, self.loop.time())
        if self._timer is not None and session.state is not SessionState.AWAITING_HELLO:
            self._timer.cancel()
            self._timer = None

    def eof_received(self) -> bool:
        return False  # close our side too

    def resume_writing(self) -> None:
        session = self.session
        if session is not None and session.state is SessionState.JOINED:
            if not session.outbox.pump():
                session.evict(
                    pb.REASON_SLOW_CONSUMER, "fell behind the kept history while catching up"
                )

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._timer, self._abort_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._abort_timer = None
        if self.session is not None:
            self.session.connection_lost()
        self.server.connection_closed(self)
