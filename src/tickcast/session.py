"""Sans-I/O: one connection's state machine.

    AWAITING_HELLO --valid Hello--> JOINED (player or spectator) --> CLOSED
          |                                                          ^
          +--- timeout, bad frame, refused Hello (a Kick) -----------+

A `Session` takes bytes (`data_received`, TCP) or whole messages
(`message_received`, WebSocket) and the current time, and writes its output
to an `Outbox`; it never touches a socket or sleeps. Every rule of the spec's
Handshake, Identity, Spectators, Ping and Leave sections is enforced here;
joining, sequencing and presence are the room's (`room.Room`).

Nothing of a connection is registered anywhere before its Hello is valid:
until then the session lives only in the transport that owns it (and in the
relay's set of open sessions, which shutdown needs to reach them).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tickcast import wire
from tickcast.errors import KickError, RemoteProtocolError, SlowConsumer, reason_name
from tickcast.logs import CONNECTIONS, fields
from tickcast.outbox import Outbox
from tickcast.proto import pb
from tickcast.security import ReceiveGuard, check_name

if TYPE_CHECKING:
    from tickcast.room import Membership, Player, Room

log = logging.getLogger("tickcast.session")
conn_log = logging.getLogger(CONNECTIONS)

PROTOCOL_VERSION = 1
DEFAULT_ROOM = "lobby"
MAX_NAME_BYTES = 64
"""The spec's limit on a player id and a room name; `--max-name-bytes` may lower it."""
MAX_STATE_HASH_BYTES = 64


class SessionState(enum.Enum):
    AWAITING_HELLO = "awaiting_hello"
    JOINED = "joined"
    CLOSED = "closed"


_CLOSED: SessionState = SessionState.CLOSED  # (a frame's handler may close the session)


@dataclass(frozen=True, slots=True)
class HelloRequest:
    """A validated Hello."""

    player_id: str
    token: str = field(repr=False)  # a credential: never in a repr or a log line
    room: str
    resume_after: int
    full_history: bool
    spectator: bool


class SessionHost(Protocol):
    """What a session needs from the relay that owns the rooms."""

    def session_hello(self, session: Session, hello: HelloRequest, now: float) -> None: ...

    def session_closed(self, session: Session) -> None:
        """`session` ended (its `membership`, if any, says which room it was in)."""
        ...


class Session:
    """One connection, from its first byte to its close. See the module docstring."""

    __slots__ = (
        "host",
        "outbox",
        "framer",
        "state",
        "peer",
        "transport",
        "handshake_deadline",
        "last_receive",
        "membership",
        "player_id",
        "acked_tick",
        "bytes_received",
        "end_reason",
        "recv_guard",
        "max_name_bytes",
        "close_detail",
        "held",
        "left",
    )

    def __init__(
        self,
        host: SessionHost,
        outbox: Outbox,
        now: float,
        *,
        max_frame: int,
        handshake_timeout: float,
        max_name_bytes: int = MAX_NAME_BYTES,
        peer: str = "?",
        transport: str = "tcp",
    ) -> None:
        self.host = host
        self.outbox = outbox
        self.framer = wire.Framer(max_frame)
        self.state = SessionState.AWAITING_HELLO
        self.peer = peer
        self.transport = transport
        self.handshake_deadline = now + handshake_timeout
        self.last_receive = now
        # the room's record of this connection in it (`Room.join`); kept once it has
        # ended (`active` is False then), so it also says which room the session was in
        self.membership: Membership | None = None
        self.player_id = ""
        self.acked_tick = 0
        self.bytes_received = 0  # for /metrics
        self.end_reason = -1  # the Kick reason once ended by us (for /metrics)
        self.recv_guard: ReceiveGuard | None = None  # bytes/s limit, set by the relay
        self.max_name_bytes = max_name_bytes
        self.close_detail = ""  # with end_reason: why we ended it (a tick log records kicks)
        self.left = False  # the client sent Leave (its end_reason is UNSPECIFIED then)
        # frames that arrive while the host places the Hello elsewhere (a cluster
        # asks Redis who owns the room): None = not holding; see `hold`
        self.held: list[bytes] | None = None

    def __repr__(self) -> str:
        who = self.player_id or "-"
        room = self.room.name if self.room else "-"
        return f"<Session {self.transport}:{self.peer} player={who} room={room} {self.state.value}>"

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    @property
    def room(self) -> Room | None:
        """The room this session is in (None before its Welcome and once it has left)."""
        m = self.membership
        return m.room if m is not None and m.active else None

    @property
    def player(self) -> Player | None:
        """The player this session connects (None for a spectator, or not in a room)."""
        m = self.membership
        return m.player if m is not None and m.active else None

    @property
    def spectator(self) -> bool:
        m = self.membership
        return m is not None and m.player is None

    # ------------------------------------------------------------ input

    def data_received(self, data: bytes, now: float) -> None:
        """Bytes from a stream transport (TCP): split into frames and handle each."""
        if self.state is SessionState.CLOSED:
            return
        self.last_receive = now
        self.bytes_received += len(data)
        try:
            if self.recv_guard is not None:
                self.recv_guard.admit(len(data), now)
            for body in self.framer.feed(data):
                self._handle(body, now)
                if self.state is _CLOSED:  # a frame ended the session: ignore the rest
                    return
        except KickError as exc:
            self.kick(exc.reason, exc.detail)
        except Exception:
            self.internal_error()

    def count_received(self, size: int, now: float) -> bool:
        """`size` bytes a message transport read, its framing and control frames
        included (a WebSocket's headers, pings, pongs): counted for /metrics and
        against the receive budget, as `data_received` counts a stream's bytes.
        False if the connection is closed, or over the budget (kicked). The
        messages in them then come with `message_received(..., counted=True)`."""
        if self.state is SessionState.CLOSED:
            return False
        self.bytes_received += size
        if self.recv_guard is not None:
            try:
                self.recv_guard.admit(size, now)
            except KickError as exc:
                self.kick(exc.reason, exc.detail)
                return False
        return True

    def message_received(self, body: bytes, now: float, counted: bool = False) -> None:
        """One whole message from a message transport (WebSocket); `counted`: its
        bytes went through `count_received` already."""
        if self.state is SessionState.CLOSED:
            return
        self.last_receive = now
        if not counted:
            self.bytes_received += len(body)
        if len(body) > self.framer.max_frame:
            self.kick(
                pb.REASON_FRAME_TOO_LARGE,
                f"message of {len(body)} bytes is over the limit of {self.framer.max_frame}",
            )
            return
        try:
            if self.recv_guard is not None and not counted:
                self.recv_guard.admit(len(body), now)
            self._handle(body, now)
        except KickError as exc:
            self.kick(exc.reason, exc.detail)
        except Exception:
            self.internal_error()

    def internal_error(self) -> None:
        """A bug met while handling this connection's input: it ends this
        connection only, with a logged traceback (containment)."""
        log.exception(
            "internal error handling a connection %s",
            fields(conn=f"{self.transport}:{self.peer}", player=self.player_id or None),
        )
        self.kick(pb.REASON_UNSPECIFIED, "internal server error")

    def _handle(self, body: bytes, now: float) -> None:
        m = self.membership
        if self.state is SessionState.JOINED:
            assert m is not None
            player = m.player
            if player is not None:
                # the per-input hot path: no protobuf objects (see wire.decode_input_fast)
                fast = wire.decode_input_fast(body)
                if fast is not None:
                    m.room.submit(player, fast[0], fast[1])
                    return
        if self.held is not None:
            self.held.append(body)
            return
        msg = wire.decode_client_message(body)
        kind = msg.WhichOneof("body")
        if self.state is SessionState.JOINED:
            assert m is not None
            if kind == "input":
                if m.player is None:
                    raise RemoteProtocolError("spectators send no inputs")
                inp = msg.input
                m.room.submit(m.player, inp.seq, inp.payload)
            elif kind == "ping":
                pong = pb.Pong(nonce=msg.ping.nonce, tick=m.room.last_sent())
                self.outbox.send_now(wire.encode_server_message(pb.ServerMessage(pong=pong)))
                if self.outbox.over_bytes():  # pings whose Pongs are not read
                    self.fell_behind()
            elif kind == "state_hash":
                if len(msg.state_hash.hash) > MAX_STATE_HASH_BYTES:
                    raise RemoteProtocolError(f"state hash over {MAX_STATE_HASH_BYTES} bytes")
                if m.player is not None and m.active:
                    m.room.state_hash(m.player, msg.state_hash.tick, msg.state_hash.hash)
            elif kind == "ack":
                self.acked_tick = max(self.acked_tick, msg.ack.tick)
            elif kind == "leave":
                self.leave()
            elif kind == "hello":
                raise RemoteProtocolError("Hello after the handshake")
            else:
                raise RemoteProtocolError("empty ClientMessage")
        elif self.state is SessionState.AWAITING_HELLO:
            if kind != "hello":
                raise RemoteProtocolError(
                    f"the first frame must be Hello, got {kind or 'an empty message'}"
                )
            self.host.session_hello(self, validate_hello(msg.hello, self.max_name_bytes), now)

    # ------------------------------------------------------------ holding

    def hold(self) -> None:
        """Keep later frames (inputs may follow Hello at once) until `release`:
        the host answers this Hello asynchronously."""
        if self.held is None:
            self.held = []

    def release(self, now: float) -> None:
        """Handle the frames kept since `hold`, in order (after the Welcome or Kick)."""
        held, self.held = self.held, None
        if not held or self.closed:
            return
        try:
            for body in held:
                self._handle(body, now)
                if self.closed:
                    return
        except KickError as exc:
            self.kick(exc.reason, exc.detail)

    # ------------------------------------------------------------ timers

    def handle_timer(self, now: float, idle_timeout: float = 0.0) -> None:
        """Enforce the handshake timeout, and the idle timeout once joined."""
        if self.state is SessionState.AWAITING_HELLO:
            if now >= self.handshake_deadline:
                self.kick(pb.REASON_HANDSHAKE_TIMEOUT, "no Hello within the handshake timeout")
        elif self.state is SessionState.JOINED and idle_timeout > 0:
            if now - self.last_receive >= idle_timeout:
                self.kick(
                    pb.REASON_IDLE_TIMEOUT, f"nothing received for {idle_timeout:g} s"
                )

    # ------------------------------------------------------------ joined

    def joined(self, membership: Membership) -> None:
        """Called by the room once it has sent this session its Welcome."""
        self.state = SessionState.JOINED
        self.membership = membership
        player = membership.player
        place: dict[str, object] = {"slot": player.slot} if player else {"spectator": True}
        conn_log.info(
            "welcomed %s",
            fields(conn=f"{self.transport}:{self.peer}", player=self.player_id,
                   room=membership.room.name, **place),
        )

    def leave(self) -> None:
        """The client sent Leave: its membership ends at the open tick, then it is closed."""
        self.left = True  # counted as a leave, not as a kick (tickcast_leaves_total)
        m = self.membership
        if m is not None and m.active:
            m.room.leave(m)
        self._end(pb.REASON_UNSPECIFIED, "left the room", abort=False)

    # ------------------------------------------------------------ ending

    def kick(self, reason: int, detail: str, redirect: str = "") -> None:
        """Send `Kick{reason, detail}` after what is queued, then close."""
        self._end(reason, detail, abort=False, redirect=redirect)

    def evict(self, error: KickError) -> None:
        """Cut the connection now: queued output is dropped (a slow consumer's
        queue is the problem)."""
        unsent: dict[str, object] = {}
        if isinstance(error, SlowConsumer):
            stats = error.statistics
            unsent = {"unsent_bytes": stats.buffered_bytes, "unsent_frames": stats.frames_behind}
        self._end(error.reason, error.detail, abort=True, unsent=unsent)

    def fell_behind(self) -> None:
        """The outbox is over its budget, or its catch-up lost the ticks it needs:
        evict with a `SlowConsumer` that carries the outbox's counters."""
        outbox = self.outbox
        self.evict(SlowConsumer(outbox.statistics(), catching_up=outbox.catching_up))

    def _end(
        self,
        reason: int,
        detail: str,
        *,
        abort: bool,
        redirect: str = "",
        unsent: dict[str, object] | None = None,
    ) -> None:
        if self.state is SessionState.CLOSED:
            return
        self.state = SessionState.CLOSED
        self.end_reason = reason
        room = self.room
        if room is not None:
            assert self.membership is not None
            room.detach(self.membership)
        conn_log.info(
            "kicked %s",
            fields(conn=f"{self.transport}:{self.peer}", player=self.player_id or None,
                   room=self.membership.room.name if self.membership is not None else None,
                   reason=reason_name(reason), detail=detail, **(unsent or {})),
        )
        self.close_detail = detail
        frame = wire.kick_frame(reason, detail, redirect)
        try:
            if abort:
                self.outbox.abort(frame)
            else:
                self.outbox.close(frame)
        finally:  # even if the transport fails to close, the relay must forget us
            self.host.session_closed(self)

    def connection_lost(self) -> None:
        """The transport is gone (EOF, reset, or our own close completed)."""
        if self.state is not SessionState.CLOSED:
            self.state = SessionState.CLOSED
            room = self.room
            if room is not None:
                assert self.membership is not None
                room.detach(self.membership)
            self.host.session_closed(self)
        self.outbox.sink_lost()
        conn_log.info(
            "closed %s",
            fields(conn=f"{self.transport}:{self.peer}", player=self.player_id or None),
        )


def validate_hello(hello: pb.Hello, max_name_bytes: int = MAX_NAME_BYTES) -> HelloRequest:
    """Check a Hello against the spec and the name limit (`--max-name-bytes`, at most
    the spec's 64); raise RemoteProtocolError with the Kick reason."""
    if hello.protocol_version != PROTOCOL_VERSION:
        raise RemoteProtocolError(
            f"protocol version {hello.protocol_version} is not supported (this server speaks 1)",
            pb.REASON_VERSION_MISMATCH,
        )
    pid = hello.player_id
    if not pid:
        raise RemoteProtocolError("player_id must not be empty")
    room = hello.room or DEFAULT_ROOM
    for what, name in (("player_id", pid), ("room name", room)):
        if len(name.encode()) > max_name_bytes:
            raise RemoteProtocolError(f"{what} is longer than {max_name_bytes} bytes of UTF-8")
        check_name(what, name)
    return HelloRequest(
        player_id=pid,
        token=hello.token,
        room=room,
        resume_after=hello.resume_after,
        full_history=hello.full_history,
        spectator=hello.spectator,
    )
