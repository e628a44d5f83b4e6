"""What every transport shares, so that each one (TCP, WebSocket, UDP) is thin.

A transport adapts one kind of connection to a sans-I/O `Session` and is the
session's `Sink`. Everything that is not about its own bytes lives here:

- admission: the connection counts against `--max-connections` and
  `--max-connections-per-host` before anything is allocated for it, and a
  refusal is a ready-made Kick to send before closing;
- socket options: no Nagle delay, and a fixed kernel send buffer, so a stalled
  reader fills the buffer the outbox counts (SLOW_CONSUMER) instead of hiding
  megabytes in the kernel; the write-buffer mark at which catch-up resumes;
- the session, opened through the relay, and its handshake deadline (a timer
  at the exact deadline, besides the once-a-second sweep);
- catch-up pumping when the sink has drained, and the eviction of a reader that
  fell behind the kept history (`Session.fell_behind`);
- the end: the session learns its connection is gone, the limits stop counting
  it, the server forgets it. `finish` may be called at any point of the setup;
- at shutdown, `kick_delivered`: the session's Kick has reached the peer (the
  transport's buffer is empty and the kernel's send queue too, which on Linux
  means the peer acknowledged every byte: `SIOCOUTQ`; elsewhere after a short
  linger once the buffer is empty), so the server can cut the connection
  without waiting for a peer that keeps its socket open.

A byte-stream transport feeds `Session.data_received`; a message transport
(WebSocket, datagrams) feeds `Session.message_received`, with no framing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import TYPE_CHECKING, Any

from tickcast.logs import CONNECTIONS, fields
from tickcast.outbox import CATCHUP_CHUNK_BYTES
from tickcast.session import Session, SessionState

if TYPE_CHECKING:
    from tickcast.server import Server

log = logging.getLogger("tickcast.transport")
conn_log = logging.getLogger(CONNECTIONS)

SHUTDOWN_LINGER = 0.25
"""Where the kernel's send queue cannot be read: seconds a connection's buffer must
have been empty before its Kick counts as delivered (`Connection.kick_delivered`)."""

try:
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ  # SIOCOUTQ on a TCP socket: bytes not acknowledged
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    _OUTQ = None


def unacknowledged(transport: Any) -> int | None:
    """Bytes in the kernel's send queue of `transport`'s socket that the peer has not
    acknowledged yet (sent or not), a FIN included; None where it cannot be read."""
    sock = transport.get_extra_info("socket")
    if sock is None or _OUTQ is None:
        return None
    try:
        answer = fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0")
    except (OSError, ValueError):
        return None
    return int.from_bytes(answer, sys.byteorder, signed=True)


def format_peer(addr: object) -> str:
    """A peer address for logs: `host:port`, `[v6host]:port`."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)


class Connection:
    """One client connection of any transport: the shared part. Subclasses are
    the session's sink (`write`, `get_write_buffer_size`, `close`, `abort`)."""

    kind = "?"
    """The transport's name in logs and metrics ("tcp", "ws")."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = server.loop
        self.session: Session | None = None
        self._handshake: asyncio.TimerHandle | None = None
        self._admitted: str | None = None  # the source address counted by server.admission
        self._opened = False
        self._finished = False
        self._drained_at: float | None = None  # see kick_delivered

    # ------------------------------------------------------------ set-up

    def admit(self, host: str) -> bytes | None:
        """Count this connection against the connection limits: None if it may go
        on, else the Kick frame to send before closing (nothing else is created)."""
        refusal = self.server.admission.admit(host)
        if refusal is None:
            self._admitted = host
        return refusal

    def tune(self, transport: Any) -> None:
        """Socket options and the write-buffer mark (see the module docstring)."""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                size = self.server.config.send_buffer_bytes
                if size:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
            except OSError:  # not every socket family has these options
                pass
        # the transport reports having drained (resume_writing) below a quarter of this
        transport.set_write_buffer_limits(high=CATCHUP_CHUNK_BYTES)

    def open_session(self, peer: str) -> Session:
        """Register the connection and open its session (a Kick at once if the
        server is shutting down), with a timer at its handshake deadline."""
        conn_log.info("accepted %s", fields(conn=f"{self.kind}:{peer}"))
        self.server.connection_opened(self)
        self._opened = True
        self.session = session = self.server.relay.open_session(
            self, self.loop.time(), peer, self.kind
        )
        if session.state is SessionState.AWAITING_HELLO:
            self._handshake = self.loop.call_at(session.handshake_deadline, self._handshake_due)
        return session

    def _handshake_due(self) -> None:
        self._handshake = None
        if self.session is not None:
            self.session.handle_timer(self.loop.time())

    def handshake_over(self) -> None:
        """The session has left its handshake: its deadline timer goes."""
        if self._handshake is not None:
            self._handshake.cancel()
            self._handshake = None

    # ------------------------------------------------------------ running

    def pump(self) -> None:
        """The sink has drained: send the next chunk of a catch-up; a reader whose
        next tick has left the history is evicted (SLOW_CONSUMER)."""
        session = self.session
        if session is not None and session.state is SessionState.JOINED:
            if not session.outbox.pump():
                session.fell_behind()

    def finish(self) -> None:
        """The connection is gone (or never got going): idempotent."""
        if self._finished:
            return
        self._finished = True
        self.handshake_over()
        if self.session is not None:
            self.session.connection_lost()
        if self._admitted is not None:
            self.server.admission.release(self._admitted)
            self._admitted = None
        if self._opened:
            self.server.connection_closed(self)

    def kick_delivered(self, now: float) -> bool:
        """At shutdown: the session has ended (its Kick, the last thing written) and
        everything written has reached the peer; then the connection can be cut
        without waiting for the peer to close its side. False while the transport
        still holds bytes, or the peer has not acknowledged them all."""
        session = self.session
        transport = self.stream()
        if session is None or not session.closed or transport is None:
            return False
        if transport.get_write_buffer_size():
            self._drained_at = None
            return False
        unacked = unacknowledged(transport)
        if unacked is not None:
            return unacked <= 0
        if self._drained_at is None:  # no way to ask the kernel: a short linger
            self._drained_at = now
        return now - self._drained_at >= SHUTDOWN_LINGER

    def stream(self) -> Any:
        """The connection's transport (None before it has one)."""
        return getattr(self, "transport", None)

    # ------------------------------------------------------------ Sink

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def get_write_buffer_size(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError
