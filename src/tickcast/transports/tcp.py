"""TCP transport: an asyncio Protocol that feeds bytes into a Session.

Thin by design: all protocol rules live in the sans-I/O session and room, and
what every transport shares (admission, socket options, the handshake timer,
catch-up pumping, the end) in `transports.base.Connection`. What is TCP's own:
the transport itself is the outbox's sink (one C-level `write` per frame, no
awaits), bytes go to `Session.data_received` (a byte stream, framed), "the
sink drained" is `resume_writing`, and a close lingers until the peer's FIN.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from tickcast.errors import ListenError, UsageError
from tickcast.logs import CONNECTIONS, fields
from tickcast.session import SessionState
from tickcast.transports.base import Connection, format_peer

if TYPE_CHECKING:
    from tickcast.server import Server

log = logging.getLogger("tickcast.tcp")

ACCEPT_BATCH = 256
"""Connections accepted per readiness callback of the listening socket."""

_ACCEPT_RETRY_LATER = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

__all__ = ["ACCEPT_BATCH", "TcpConnection", "TcpListener", "format_peer"]


class TcpConnection(Connection, asyncio.Protocol):
    """One TCP client connection."""

    kind = "tcp"

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self.transport: asyncio.Transport | None = None
        self._abort_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ Sink

    def write(self, data: bytes) -> None:  # replaced by transport.write in connection_made
        raise UsageError("not connected")

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
            try:
                t.write_eof()
            except OSError:  # the peer is gone already (ENOTCONN): nothing left to flush
                t.abort()
                return
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
        peername = transport.get_extra_info("peername")
        host = str(peername[0]) if isinstance(peername, tuple) else str(peername)
        refusal = self.admit(host)
        if refusal is not None:  # over a connection limit: refused before any allocation
            transport.write(refusal)
            transport.close()
            return
        self.write = transport.write  # type: ignore[method-assign]
        self.get_write_buffer_size = transport.get_write_buffer_size  # type: ignore[method-assign]
        self.tune(transport)
        self.open_session(format_peer(peername))

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None:
            return  # a refused connection: its bytes are ignored until it closes
        session.data_received(data, self.loop.time())
        if self._handshake is not None and session.state is not SessionState.AWAITING_HELLO:
            self.handshake_over()

    def eof_received(self) -> bool:
        return False  # close our side too

    def resume_writing(self) -> None:
        self.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        self.finish()


class TcpListener:
    """Listening sockets that accept connections in batches.

    Why not `loop.create_server`: libuv (and so uvloop) accepts ONE connection
    per event-loop iteration since libuv 1.45. A loaded relay's iteration is
    dominated by its tick callback (thousands of writes, tens of ms), so new
    clients were accepted at about the tick rate (~30/s): at 5,000 idle clients
    half the loadgen's clients timed out waiting for their Welcome. Here the
    readiness callback accepts up to `ACCEPT_BATCH` connections at once and
    hands each to the loop as an accepted socket (same transport, same
    protocol callbacks as before). Works on plain asyncio too.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.Protocol],
        sockets: list[socket.socket],
    ) -> None:
        self.loop = loop
        self.protocol_factory = protocol_factory
        self.sockets = sockets
        self._pending: set[asyncio.Task[object]] = set()
        self._serving = True
        for sock in sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    @classmethod
    async def listen(
        cls,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.Protocol],
        host: str,
        port: int,
        backlog: int = 4096,
    ) -> TcpListener:
        """Bind and listen on every address of `host` (like `create_server`)."""
        infos = await loop.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        sockets: list[socket.socket] = []
        seen = set()
        try:
            for family, kind, proto, _, addr in infos:
                if (family, addr) in seen:
                    continue
                seen.add((family, addr))
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind(addr)
                except OSError as exc:
                    raise ListenError.from_os_error(
                        exc, "tcp", str(addr[0]), int(addr[1]), "--host", "--port"
                    ) from exc
                sock.listen(backlog)
                sock.setblocking(False)
        except OSError:
            for sock in sockets:
                sock.close()
            raise
        return cls(loop, protocol_factory, sockets)

    def _accept(self, sock: socket.socket) -> None:
        loop = self.loop
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in _ACCEPT_RETRY_LATER:
                    # out of descriptors or memory: stop watching for a moment
                    # (the connections wait in the backlog) instead of spinning
                    log.error("accept failed; retrying in 1 s %s", fields(error=exc))
                    loop.remove_reader(sock.fileno())
                    loop.call_later(1.0, self._resume, sock)
                    return
                raise
            conn.setblocking(False)
            task = loop.create_task(loop.connect_accepted_socket(self.protocol_factory, conn))
            self._pending.add(task)
            task.add_done_callback(self._connected)

    def _resume(self, sock: socket.socket) -> None:
        if self._serving:
            self.loop.add_reader(sock.fileno(), self._accept, sock)

    def _connected(self, task: asyncio.Task[object]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logging.getLogger(CONNECTIONS).info(
                "accepted connection failed %s", fields(error=task.exception())
            )

    def close(self) -> None:
        """Stop accepting (idempotent); accepted connections stay open."""
        if not self._serving:
            return
        self._serving = False
        for sock in self.sockets:
            self.loop.remove_reader(sock.fileno())
            sock.close()

    async def wait_closed(self) -> None:
        """Wait for connections accepted before `close()` to finish their setup."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
