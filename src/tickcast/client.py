"""The asyncio client SDK: join a room, send inputs, iterate over ticks.

    async with tickcast.connect("127.0.0.1", 7777, player_id="ada", room="r1") as c:
        c.send(b"jump")
        async for tick in c.ticks():
            for inp in tick.inputs:
                print(tick.number, inp.player_id, inp.payload)

Two layers, like the server:

- `ClientCore` is sans-I/O: it builds the Hello for the next connection, turns
  Welcome and Tick messages into typed `Tick` objects, and keeps what must
  survive a reconnect (the resume point, the unconfirmed inputs, slot names).
- `Client` owns the sockets: it connects, pings, notices a dead connection,
  reconnects with exponential backoff and jitter, and resumes, so the
  application's tick stream goes on with no gap and no duplicate, and every
  input is applied exactly once (the server drops a resent input whose seq it
  has already sequenced).

The application never touches protobuf: ticks, inputs and members are frozen
dataclasses. A kick after which resuming makes no sense (auth, a full room, a
replaced connection, ...) ends `ticks()` with a typed exception.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from tickcast import wire
from tickcast.errors import (
    AuthFailed,
    ConnectionClosedError,
    Kicked,
    RemoteProtocolError,
    ResumeUnavailable,
    TickcastError,
    TickGap,
    UsageError,
)
from tickcast.logs import fields
from tickcast.proto import pb

log = logging.getLogger("tickcast.client")

PROTOCOL_VERSION = 1
MAX_SERVER_FRAME = 64 << 20
"""A client accepts server frames up to this size (a tick of a very busy room)."""

RETRIED_KICKS = frozenset(
    {
        pb.REASON_SLOW_CONSUMER,  # we fell behind: a resume catches up from history
        pb.REASON_SERVER_SHUTDOWN,  # a restart or a rolling deploy: come back
        pb.REASON_IDLE_TIMEOUT,  # our pings did not get through in time
        pb.REASON_HANDSHAKE_TIMEOUT,  # our Hello did not get through in time
        pb.REASON_RATE_LIMITED,  # back off, then go on
    }
)
"""Kick reasons after which the client reconnects and resumes; every other reason
(but REDIRECT, which is followed at once) ends the tick stream with `Kicked`."""


# ---------------------------------------------------------------- typed messages


@dataclass(frozen=True, slots=True)
class Member:
    """A player in a room: its slot (stable for the room's lifetime) and id."""

    slot: int
    player_id: str


@dataclass(frozen=True, slots=True)
class Input:
    """One sequenced input, as every member of the room receives it."""

    slot: int
    seq: int
    payload: bytes
    player_id: str
    """The sender's id (from presence); "" if the client never saw that slot join."""


@dataclass(frozen=True, slots=True)
class Desync:
    """At tick `tick` the members in `slots` reported a state hash unlike the majority's."""

    tick: int
    slots: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Tick:
    """One tick of the room's lockstep clock: identical for every member.

    Presence applies in this order: `joined` take effect at this tick (their
    inputs may already be in it), then `inputs` in sequencing order, then `left`.
    """

    number: int
    inputs: tuple[Input, ...] = ()
    joined: tuple[Member, ...] = ()
    left: tuple[Member, ...] = ()
    desyncs: tuple[Desync, ...] = ()
    chain: bytes = b""
    """BLAKE2b-256 hash chain over the room's ticks, if the server records it."""
    raw: bytes = field(default=b"", compare=False, repr=False)
    """The tick's protobuf encoding as received (for logs and verification)."""

    @property
    def empty(self) -> bool:
        """No inputs, no presence change and no desync report."""
        return not (self.inputs or self.joined or self.left or self.desyncs)


# The client builds one Input per input of every tick (hundreds of thousands a
# second in `tickcast bots`). A frozen dataclass's generated __init__ goes
# through object.__setattr__ per field; the slots' own descriptors set the same
# fields in about half the time. Same objects, equal to Input(...) and Tick(...).
_new_object = object.__new__
_set_input_slot = Input.__dict__["slot"].__set__
_set_input_seq = Input.__dict__["seq"].__set__
_set_input_payload = Input.__dict__["payload"].__set__
_set_input_player_id = Input.__dict__["player_id"].__set__
(
    _set_tick_number,
    _set_tick_inputs,
    _set_tick_joined,
    _set_tick_left,
    _set_tick_desyncs,
    _set_tick_chain,
    _set_tick_raw,
) = (
    Tick.__dict__[name].__set__
    for name in ("number", "inputs", "joined", "left", "desyncs", "chain", "raw")
)


def _new_input(slot: int, seq: int, payload: bytes, player_id: str) -> Input:
    """`Input(slot, seq, payload, player_id)`, fast (see above)."""
    i = _new_object(Input)
    _set_input_slot(i, slot)
    _set_input_seq(i, seq)
    _set_input_payload(i, payload)
    _set_input_player_id(i, player_id)
    return i


def _new_tick(
    number: int,
    inputs: tuple[Input, ...],
    joined: tuple[Member, ...],
    left: tuple[Member, ...],
    desyncs: tuple[Desync, ...],
    chain: bytes,
    raw: bytes,
) -> Tick:
    """`Tick(number, inputs, joined, left, desyncs, chain, raw)`, fast (see above)."""
    t = _new_object(Tick)
    _set_tick_number(t, number)
    _set_tick_inputs(t, inputs)
    _set_tick_joined(t, joined)
    _set_tick_left(t, left)
    _set_tick_desyncs(t, desyncs)
    _set_tick_chain(t, chain)
    _set_tick_raw(t, raw)
    return t


# ---------------------------------------------------------------- sans-I/O core


def _client_frame(msg: pb.ClientMessage) -> bytes:
    return wire.frame(msg.SerializeToString())


def input_frame(seq: int, payload: bytes) -> bytes:
    """A framed `ClientMessage{input}` (built by hand: it is the hot path of a sender)."""
    body = b"\x08" + wire.encode_varint(seq)
    if payload:
        body += b"\x12" + wire.encode_varint(len(payload)) + payload
    inner = b"\x12" + wire.encode_varint(len(body)) + body
    return wire.encode_varint(len(inner)) + inner


def _tick_body(body: bytes) -> bytes:
    """The encoded Tick inside a `ServerMessage{tick}` frame body."""
    _, pos = wire.decode_varint(body, 1)  # skip the tag byte and the length
    return body[pos:]


class ClientCore:
    """Sans-I/O state of one logical client across all of its connections.

    Invariants:
    - `received` is the number of the newest tick handed to the application
      queue; every tick 1..received after the client's first one was handed
      over exactly once, in order. It is the resume point.
    - `unacked` holds, in seq order, every input the application sent that has
      not been seen sequenced yet; after a reconnect those with
      seq > Welcome.last_seq are sent again (the server drops the others).
    - `names` maps every slot ever seen in the room to its player id (slots are
      never reused within a room, so entries never go stale).
    """

    def __init__(
        self,
        player_id: str,
        room: str = "",
        token: str = "",
        *,
        spectator: bool = False,
        full_history: bool = False,
        skip_empty_ticks: bool = False,
    ) -> None:
        self.player_id = player_id
        self.room = room
        self.token = token
        self.spectator = spectator
        self.full_history = full_history
        self.skip_empty_ticks = skip_empty_ticks
        self.welcomed = False
        self.slot = 0
        self.tick_rate = 0
        self.server_id = ""
        self.first_tick = 0
        self.initial_members: list[Member] = []
        self.received = 0
        self.next_seq = 1
        self.unacked: deque[tuple[int, bytes]] = deque()
        self.names: dict[int, str] = {}
        self.duplicate_ticks = 0
        self.resent_inputs = 0

    # ------------------------------------------------------------ to the server

    def hello_frame(self) -> bytes:
        """The Hello for the next connection: a fresh join first, then resumes."""
        hello = pb.Hello(
            protocol_version=PROTOCOL_VERSION,
            player_id=self.player_id,
            token=self.token,
            room=self.room,
            spectator=self.spectator,
        )
        if not self.welcomed:
            hello.full_history = self.full_history
        elif self.received > 0:
            hello.resume_after = self.received
        else:
            # welcomed at tick 1 of a new room but dropped before it came:
            # "every tick since the room began" is exactly what we miss
            hello.full_history = True
        return _client_frame(pb.ClientMessage(hello=hello))

    def next_input(self, payload: bytes) -> tuple[int, bytes]:
        """Number a new input and remember it until it is seen sequenced: (seq, frame)."""
        if self.spectator:
            raise UsageError("spectators send no inputs")
        seq = self.next_seq
        self.next_seq = seq + 1
        self.unacked.append((seq, payload))
        return seq, input_frame(seq, payload)

    # ------------------------------------------------------------ from the server

    def on_welcome(self, welcome: pb.Welcome) -> list[bytes]:
        """Take a Welcome; returns the input frames to send again (seq > last_seq)."""
        self.slot = welcome.slot
        self.tick_rate = welcome.tick_rate
        self.server_id = welcome.server_id
        self.room = welcome.room
        if not self.welcomed:
            self.welcomed = True
            self.first_tick = welcome.first_tick
            self.received = welcome.first_tick - 1
            self.initial_members = [Member(m.slot, m.player_id) for m in welcome.members]
            for m in welcome.members:
                self.names[m.slot] = m.player_id
        elif welcome.first_tick != self.received + 1:
            raise RemoteProtocolError(
                f"resume after tick {self.received} got first_tick {welcome.first_tick}"
            )
        last_seq = welcome.last_seq
        if last_seq >= self.next_seq:
            self.next_seq = last_seq + 1  # our seqs must stay above what was sequenced
        unacked = self.unacked
        while unacked and unacked[0][0] <= last_seq:
            unacked.popleft()
        self.resent_inputs += len(unacked)
        return [input_frame(seq, payload) for seq, payload in unacked]

    def on_tick_frame(self, body: bytes, tick: pb.Tick, raw: bytes | None = None) -> list[Tick]:
        """Turn one received Tick into the typed ticks the application gets next.

        A tick already handed over is dropped (and counted); a missing number
        is an empty tick when the room skips empty ticks, else `TickGap`.
        `raw` is the encoded Tick inside `body` if the caller already cut it out.
        """
        n = tick.number
        received = self.received
        if n <= received:
            self.duplicate_ticks += 1
            return []
        out: list[Tick] = []
        if n != received + 1:
            if not self.skip_empty_ticks:
                raise TickGap(received + 1, n)
            out.extend(_empty_tick(k) for k in range(received + 1, n))
        names = self.names
        joined: tuple[Member, ...] = ()
        if tick.joined:
            joined = tuple(Member(m.slot, m.player_id) for m in tick.joined)
            for m in joined:
                names[m.slot] = m.player_id
        inputs: tuple[Input, ...] = ()
        if tick.inputs:
            inputs = tuple(
                [_new_input(i.slot, i.seq, i.payload, names.get(i.slot, "")) for i in tick.inputs]
            )
            unacked = self.unacked
            if unacked:
                slot = self.slot
                mine = [i.seq for i in inputs if i.slot == slot]
                if mine:
                    top = mine[-1]
                    while unacked and unacked[0][0] <= top:
                        unacked.popleft()
        left: tuple[Member, ...] = ()
        if tick.left:
            left = tuple(Member(s, names.get(s, "")) for s in tick.left)
        desyncs: tuple[Desync, ...] = ()
        if tick.desyncs:
            desyncs = tuple(Desync(d.tick, tuple(d.slots)) for d in tick.desyncs)
        if raw is None:
            raw = _tick_body(body)
        out.append(_new_tick(n, inputs, joined, left, desyncs, tick.chain, raw))
        self.received = n
        return out


def _empty_tick(number: int) -> Tick:
    return Tick(number, raw=pb.Tick(number=number).SerializeToString())


# ---------------------------------------------------------------- asyncio layer


class _Connection(asyncio.Protocol):
    """One TCP connection of a Client: frames in, `Client` callbacks out."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.framer = wire.Framer(MAX_SERVER_FRAME)
        self.transport: asyncio.Transport | None = None
        self.welcome: asyncio.Future[pb.Welcome] = client._loop.create_future()
        # a connection that fails after its handshake gave up waiting: no "never retrieved" noise
        self.welcome.add_done_callback(_retrieve)
        self.closed: asyncio.Future[None] = client._loop.create_future()
        self.kick: pb.Kick | None = None
        self.error: BaseException | None = None
        self.last_receive = client._loop.time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def write(self, data: bytes) -> None:
        """Send one whole length-prefixed frame from the core."""
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        """Bytes of the TCP stream: split into frames, each handled in order."""
        try:
            bodies = self.framer.feed(data)
        except RemoteProtocolError as exc:  # a length prefix over the limit
            bodies, self.error = [], exc
            self.abort()
        self.messages_received(bodies)

    def messages_received(self, bodies: list[bytes]) -> None:
        """Whole server messages (frame bodies), in order; none after a Kick."""
        client = self.client
        self.last_receive = client._loop.time()
        try:
            for body in bodies:
                if body[:1] == b"\x12":  # ServerMessage.tick: the common case
                    raw = _tick_body(body)
                    msg = pb.Tick()
                    msg.ParseFromString(raw)
                    client._on_tick(self, body, msg, raw)
                    continue
                sm = wire.decode_server_frame_body(body)
                kind = sm.WhichOneof("body")
                if kind == "pong":
                    client.keepalive.pong(sm.pong)
                elif kind == "welcome":
                    # taken at once: ticks may follow in this same read
                    client._on_welcome(self, sm.welcome)
                    self.welcome.set_result(sm.welcome)
                elif kind == "kick":
                    self.kick = sm.kick
                    self.abort()
                    return
        except Exception as exc:  # a decode error, a gap: this connection is over
            self.error = exc
            self.abort()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None and exc is not None:
            self.error = exc
        if not self.welcome.done():
            self.welcome.set_exception(self.failure())
        if not self.closed.done():
            self.closed.set_result(None)

    def failure(self) -> BaseException:
        """Why this connection ended, as the exception a caller would see."""
        if self.kick is not None:
            return kick_error(self.kick)
        if self.error is not None:
            return self.error
        return ConnectionResetError("connection closed by the server")


class _WsConnection(_Connection):
    """A Client connection over WebSocket (the server's `/ws`): one binary
    message per protocol message, no length prefix.

    The WebSocket itself is websockets' sans-I/O `ClientProtocol`; everything
    above it is `_Connection`'s: each frame the core writes goes out as one
    message without its length prefix, and each message received goes
    straight to `_Connection.messages_received`, as TCP's frames do.
    """

    def __init__(self, client: Client, uri: str) -> None:
        super().__init__(client)
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.ws = ClientProtocol(parse_uri(uri), max_size=MAX_SERVER_FRAME)
        self._before_open: list[bytes] | None = []  # messages written before the upgrade

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.ws.send_request(self.ws.connect())
        self._flush()

    def _flush(self) -> None:
        t = self.transport
        for data in self.ws.data_to_send():
            if data and t is not None and not t.is_closing():
                t.write(data)

    def write(self, data: bytes) -> None:
        """`data` is one whole length-prefixed frame from the core: it goes out
        as one message, without the prefix. Once the WebSocket is closing,
        writes are dropped, as TCP's are."""
        from websockets.protocol import State

        if self.ws.state not in (State.CONNECTING, State.OPEN):
            return
        body = data[wire.prefix_length(data) :]
        if self._before_open is not None:
            self._before_open.append(body)
        else:
            self.ws.send_binary(body)
        self._flush()

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Response

        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Response):
                if ws.handshake_exc is not None:
                    self.error = ws.handshake_exc
                    self.abort()
                    return
                pending, self._before_open = self._before_open or [], None
                for body in pending:
                    ws.send_binary(body)
            elif isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                self.messages_received([bytes(event.data)])
                if self.kick is not None or self.error is not None:
                    return
        self._flush()


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def kick_error(kick: pb.Kick) -> Kicked:
    """The typed exception of a Kick."""
    if kick.reason == pb.REASON_AUTH_FAILED:
        return AuthFailed(kick.reason, kick.detail)
    if kick.reason == pb.REASON_RESUME_UNAVAILABLE:
        return ResumeUnavailable(kick.reason, kick.detail)
    return Kicked(kick.reason, kick.detail, kick.redirect)


def _terminal(exc: BaseException) -> bool:
    """Does this connection failure end the stream (instead of a reconnect)?"""
    if isinstance(exc, Kicked):
        return exc.reason not in RETRIED_KICKS and exc.reason != pb.REASON_REDIRECT
    return isinstance(exc, TickcastError)  # a gap, a protocol violation by the server


def _parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RemoteProtocolError(f"bad redirect address {address!r}")
    return host.strip("[]"), int(port)


class _Keepalive:
    """A client's ping timer: every `ping_interval` a Ping (it measures `rtt` and
    keeps the server's idle timeout away); a connection silent for `dead_after`
    seconds is cut, and the client resumes on a new one."""

    __slots__ = ("client", "_handle")

    def __init__(self, client: Client) -> None:
        self.client = client
        self._handle: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        client = self.client
        if self._handle is None and not client.closed:
            self._handle = client._loop.call_later(client.ping_interval, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def pong(self, pong: pb.Pong) -> None:
        client = self.client
        client.rtt = (time.perf_counter_ns() - pong.nonce) / 1e9
        client.server_tick = pong.tick

    def _fire(self) -> None:
        self._handle = None
        client = self.client
        if client.closed:
            return
        conn = client._conn
        if conn is not None and conn.welcome.done() and not conn.closed.done():
            if client._loop.time() - conn.last_receive > client.dead_after:
                log.info(
                    "nothing received; reconnecting %s",
                    fields(player=client.player_id, seconds=client.dead_after),
                )
                conn.error = TimeoutError(f"nothing received for {client.dead_after:g} s")
                conn.abort()
            else:
                nonce = time.perf_counter_ns()
                conn.write(_client_frame(pb.ClientMessage(ping=pb.Ping(nonce=nonce))))
        self.arm()


class _Connector:
    """How a client gets a welcomed connection: dial (TCP or WebSocket), Hello up
    to the Welcome, and on failure retry with exponential backoff and jitter,
    following redirects (and back to the entry address if a redirect target is gone)."""

    __slots__ = ("client",)

    def __init__(self, client: Client) -> None:
        self.client = client

    async def establish(self, failure: BaseException | None) -> _Connection:
        """A welcomed connection: the first one (`failure` None) or a reconnect
        after `failure`, with exponential backoff and jitter between attempts."""
        c = self.client
        first = failure is None
        attempt = 0
        redirects = 0
        while True:
            if isinstance(failure, Kicked) and failure.reason == pb.REASON_REDIRECT:
                if redirects >= c.max_redirects:
                    raise failure
                redirects += 1
                c.host, c.port = _parse_address(failure.redirect)
            elif failure is not None:
                if isinstance(failure, OSError) and (c.host, c.port) != c._entry:
                    # the node a redirect sent us to is gone: ask the entry point again
                    c.host, c.port = c._entry
                    redirects = 0
                if attempt >= c.max_attempts:
                    raise ConnectionClosedError(
                        f"gave up after {attempt} reconnect attempts: {failure}"
                    ) from failure
                delay = min(c.backoff_max, c.backoff_initial * 2**attempt)
                attempt += 1
                await asyncio.sleep(random.uniform(delay / 2, delay))  # jitter
            try:
                conn = await self._dial()
            except (TimeoutError, OSError) as exc:
                if first and (c.host, c.port) == c._entry:
                    raise  # nothing listens where we were told to connect: say so now
                failure = exc  # (a redirect target that is gone: back to the entry point)
                continue
            try:
                return await self._handshake(conn)
            except (TimeoutError, OSError, TickcastError) as exc:
                if isinstance(exc, Kicked):
                    c.kicks.append(exc)
                if _terminal(exc):
                    raise
                failure = exc

    async def _dial(self) -> _Connection:
        c = self.client
        path = c.websocket_path
        if path is None:
            factory: Callable[[], _Connection] = lambda: _Connection(c)  # noqa: E731
        else:
            host = f"[{c.host}]" if ":" in c.host else c.host
            uri = f"ws://{host}:{c.port}{path}"
            factory = lambda: _WsConnection(c, uri)  # noqa: E731
        _, conn = await asyncio.wait_for(
            c._loop.create_connection(factory, c.host, c.port), c.connect_timeout
        )
        return conn

    async def _handshake(self, conn: _Connection) -> _Connection:
        """Hello up to the Welcome (raises the Kick or error otherwise)."""
        c = self.client
        c._conn = conn
        conn.write(c.core.hello_frame())
        try:
            await asyncio.wait_for(asyncio.shield(conn.welcome), c.connect_timeout)
        except BaseException:
            conn.abort()
            c._conn = None
            raise
        c.keepalive.arm()
        return conn


def _from_core(name: str, doc: str) -> Any:
    """A read-only Client property that shows the sans-I/O core's attribute `name`."""
    return property(lambda self: getattr(self.core, name), doc=doc)


class Client:
    """A connection to one room that survives network drops. Use `connect()`.

    `send()` and `send_state_hash()` never block: while the client is
    reconnecting, inputs wait and are sent (or resent) after the next Welcome.
    `ticks()` yields every tick exactly once, in order, across reconnects; it
    ends when the client leaves or closes, or raises the reason it cannot go on
    (`Kicked`, `AuthFailed`, `ResumeUnavailable`, `TickGap`,
    `ConnectionClosedError` after the reconnect attempts ran out).

    With `on_tick`, ticks are pushed instead: `on_tick(tick)` runs for every
    tick (same guarantees) as soon as it is received, and `ticks()` only waits
    for the end of the stream. That costs no task and no wake-up per tick,
    which matters when one process runs hundreds of clients (`tickcast bots`).
    An exception from `on_tick` ends the stream with that error.

    With `websocket_path` (the server's is "/ws"), it connects over WebSocket to
    ws://host:port<path> (the server's HTTP port) instead of TCP.

    What it tells the application, besides the properties:
    - `members`: members as of `last_tick` (the last tick `ticks()` yielded), by slot;
    - `last_tick`: the number of that tick (0 before the first);
    - `rtt`: round-trip time of the last Ping/Pong, in seconds (None before the first);
    - `server_tick`: the room's newest tick according to the last Pong;
    - `reconnects`: connections after the first that were welcomed (resumes);
    - `kicks`: every Kick received, the retried ones too (diagnostics, bots).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        player_id: str,
        room: str = "",
        token: str = "",
        spectator: bool = False,
        full_history: bool = False,
        skip_empty_ticks: bool = False,
        reconnect: bool = True,
        connect_timeout: float = 5.0,
        dead_after: float = 10.0,
        ping_interval: float = 1.0,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        max_attempts: int = 12,
        max_redirects: int = 3,
        websocket_path: str | None = None,
        on_tick: Callable[[Tick], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.websocket_path = websocket_path
        # where we first connected (a load balancer, any cluster node): a redirect
        # moves host/port to the room's owner; if that node dies we come back here
        self._entry = (host, port)
        self.core = ClientCore(
            player_id,
            room,
            token,
            spectator=spectator,
            full_history=full_history,
            skip_empty_ticks=skip_empty_ticks,
        )
        self.reconnect = reconnect
        self.connect_timeout = connect_timeout
        self.dead_after = dead_after
        self.ping_interval = ping_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_attempts = max_attempts
        self.max_redirects = max_redirects
        self.members: dict[int, Member] = {}
        self.last_tick = 0
        self.rtt: float | None = None
        self.server_tick = 0
        self.reconnects = 0
        self.kicks: list[Kicked] = []
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._conn: _Connection | None = None
        self._on_tick_callback = on_tick
        self._queue: deque[Tick] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self.keepalive = _Keepalive(self)
        self._connector = _Connector(self)
        self._done = False
        self._error: BaseException | None = None
        self._leaving = False
        self._started = False

    # ------------------------------------------------------------ properties

    player_id = _from_core("player_id", "This client's player id.")
    room = _from_core("room", "The room's name as the server reported it in Welcome.")
    slot = _from_core("slot", "This player's slot (0 for a spectator).")
    tick_rate = _from_core("tick_rate", "Ticks per second of the room.")
    server_id = _from_core("server_id", "Welcome.server_id of the current server.")
    first_tick = _from_core("first_tick", "The number of the first tick this client receives.")

    @property
    def connected(self) -> bool:
        """True while a welcomed connection is open."""
        c = self._conn
        return c is not None and c.welcome.done() and not c.closed.done()

    @property
    def pending_inputs(self) -> int:
        """Inputs sent but not seen sequenced in a tick yet."""
        return len(self.core.unacked)

    @property
    def closed(self) -> bool:
        """The tick stream has ended (left, closed, or failed)."""
        return self._done

    @property
    def error(self) -> BaseException | None:
        """Why the stream ended, if it ended with an error."""
        return self._error

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> Client:
        """Connect and wait for the first Welcome (following redirects).

        If no TCP connection can be made at all, this raises at once (a wrong
        address should fail loudly); a connection lost before its Welcome is
        retried like any later drop."""
        if self._started:
            raise UsageError("client already started")
        self._started = True
        self._loop = asyncio.get_running_loop()
        conn = await self._connector.establish(None)
        self._runner = self._loop.create_task(self._run(conn))
        return self

    def __await__(self) -> Generator[Any, None, Client]:
        return self.start().__await__()

    async def __aenter__(self) -> Client:
        if not self._started:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self, leave: bool = True) -> None:
        """End the client. With `leave`, send Leave first so the slot is freed at
        once (otherwise the room keeps it for the reconnect grace)."""
        if leave and not self._done:
            await self.leave()
        self._finish(None)
        if self._runner is not None:
            self._runner.cancel()
            try:
                await self._runner
            except (asyncio.CancelledError, Exception):
                pass

    async def leave(self, timeout: float = 2.0) -> None:
        """Leave the room now: the server announces it in the next tick and
        closes the connection; `ticks()` ends after the ticks already received."""
        if self._done or self._leaving:
            return
        self._leaving = True
        conn = self._conn
        if conn is not None and self.connected:
            conn.write(_client_frame(pb.ClientMessage(leave=pb.Leave())))
            try:
                await asyncio.wait_for(asyncio.shield(conn.closed), timeout)
            except TimeoutError:
                conn.abort()
        self._finish(None)

    # ------------------------------------------------------------ application API

    def send(self, payload: bytes) -> int:
        """Send one input; returns its seq. Never blocks: while reconnecting the
        input waits, and it is applied exactly once (seqs survive reconnects)."""
        if self._done:
            raise ConnectionClosedError("the client is closed")
        seq, frame = self.core.next_input(payload)
        conn = self._conn
        if conn is not None and conn.welcome.done():
            conn.write(frame)
        return seq

    def send_state_hash(self, tick: int, digest: bytes) -> None:
        """Report the hash of the simulation state after `tick` (desync detection).
        Best effort: dropped while disconnected."""
        conn = self._conn
        if conn is not None and self.connected:
            msg = pb.ClientMessage(state_hash=pb.StateHash(tick=tick, hash=digest))
            conn.write(_client_frame(msg))

    def send_ack(self, tick: int) -> None:
        """Tell the server the highest tick fully processed (optional)."""
        conn = self._conn
        if conn is not None and self.connected:
            conn.write(_client_frame(pb.ClientMessage(ack=pb.Ack(tick=tick))))

    def ticks(self) -> Client:
        """The tick stream: `async for tick in client.ticks(): ...`."""
        return self

    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> Tick:
        queue = self._queue
        while not queue:
            if self._done:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        tick = queue.popleft()
        self._took(tick)
        return tick

    def ticks_nowait(self) -> list[Tick]:
        """Every tick received and not yet taken, without waiting (for a game's
        own frame loop). Raises the stream's error once it is drained."""
        out = list(self._queue)
        self._queue.clear()
        for tick in out:
            self._took(tick)
        if not out and self._done and self._error is not None:
            raise self._error
        return out

    def _took(self, tick: Tick) -> None:
        self.last_tick = tick.number
        if tick.joined or tick.left:
            members = self.members
            for m in tick.joined:
                members[m.slot] = m
            for m in tick.left:
                members.pop(m.slot, None)

    # ------------------------------------------------------------ connections

    async def _run(self, conn: _Connection) -> None:
        """Watch the connection; on a drop reconnect and resume until told to stop."""
        try:
            while True:
                await conn.closed
                self._conn = None
                if self._done:
                    return
                failure = conn.failure()
                if isinstance(failure, Kicked):
                    self.kicks.append(failure)
                if self._leaving:
                    self._finish(None)
                    return
                if _terminal(failure) or not self.reconnect:
                    self._finish(failure)
                    return
                log.info(
                    "connection lost; resuming %s", fields(player=self.player_id, error=failure)
                )
                conn = await self._connector.establish(failure)
                self.reconnects += 1
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._finish(exc)

    def _finish(self, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        self.keepalive.cancel()
        conn = self._conn
        if conn is not None:
            conn.abort()
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()  # e.g. leave() while reconnecting: stop trying
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # ------------------------------------------------------------ callbacks

    def _on_welcome(self, conn: _Connection, welcome: pb.Welcome) -> None:
        if conn is not self._conn or conn.welcome.done():
            raise RemoteProtocolError("unexpected Welcome")
        first = not self.core.welcomed
        for frame in self.core.on_welcome(welcome):
            conn.write(frame)
        if first:  # before any tick: with on_tick, ticks may follow in this same read
            self.members = {m.slot: m for m in self.core.initial_members}

    def _on_tick(self, conn: _Connection, body: bytes, tick: pb.Tick, raw: bytes) -> None:
        if conn is not self._conn or self._done:
            return
        ticks = self.core.on_tick_frame(body, tick, raw)
        if not ticks:
            return
        callback = self._on_tick_callback
        if callback is None:
            self._queue.extend(ticks)
            self._wake()
            return
        try:
            for t in ticks:
                self._took(t)
                callback(t)
        except Exception as exc:  # the application's error, not the connection's
            self._finish(exc)


connect = Client
"""`tickcast.connect(host, port, *, player_id, room="", token="", spectator=False,
full_history=False, **options)`: a client for one room; connect it with `async with`
(or `await`). The same as constructing `Client`, whose parameters it takes.
`room` "" is the server's default room ("lobby")."""
