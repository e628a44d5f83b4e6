"""A deterministic world for the UDP core's tests: one room, one UDP member on the
server, one SDK client core, a lossy datagram network and a reliable stream.

Nothing here sleeps or touches a socket: the clock is a number, the network is
two lists of datagrams in flight (the test chooses which to deliver, drop,
duplicate or reorder), and the stream is two FIFO queues (the test chooses when
they move, so the stream can lag like TCP stuck on a lost segment).

The room's rule for inputs is the real one (`Room.submit`): an input whose seq
is not above the player's last sequenced seq is dropped. Every tick frame is
built by `tickcast.wire`, as the server builds it, and kept, so a test can check
that the client got exactly those bytes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tickcast import wire
from tickcast.client import ClientCore, Tick
from tickcast.proto import pb
from tickcast.udp import (
    Refusal,
    UdpClientCore,
    UdpClientSettings,
    UdpEndpoint,
    UdpServerSettings,
)
from tickcast.udp.datagram import tick_of

SERVER_ADDR = ("192.0.2.1", 7777)
SLOT = 1  # the client's slot
OTHER = 2  # another player of the room, whose inputs only make ticks bigger


def counter_bytes(seed: int = 0) -> Any:
    """A deterministic stand-in for os.urandom (session ids, keys, challenges)."""
    state = {"n": seed}

    def random_bytes(n: int) -> bytes:
        state["n"] += 1
        return (state["n"].to_bytes(4, "big") * ((n + 3) // 4))[:n]

    return random_bytes


class FakeRoom:
    """A sequencer with Room's dedup rule; builds tick frames with tickcast.wire."""

    def __init__(self, skip_empty: bool = False) -> None:
        self.skip_empty = skip_empty
        self.next = 1
        self.last_seq = {SLOT: 0, OTHER: 0}
        self.sequenced: list[tuple[int, bytes]] = []  # our client's inputs, in order
        self._open: list[bytes] = []
        self.frames: dict[int, bytes | None] = {}  # number -> frame (None: skipped)

    def submit(self, slot: int, seq: int, payload: bytes) -> None:
        if seq <= self.last_seq[slot]:
            return
        self.last_seq[slot] = seq
        if slot == SLOT:
            self.sequenced.append((seq, payload))
        self._open.append(wire.encode_relayed_input(slot, seq, payload))

    def tick(self) -> tuple[int, bytes | None]:
        number = self.next
        self.next += 1
        inputs = b"".join(self._open)
        self._open = []
        frame: bytes | None
        if not inputs and self.skip_empty:
            frame = None
        else:
            frame = wire.encode_tick_frame(wire.encode_tick_content(number, inputs))
        self.frames[number] = frame
        return number, frame


@dataclass
class World:
    """Server member + client core + the network between them. See the module docstring."""

    skip_empty: bool = False
    history: int = 0
    """Ticks the room made before the client joined (with full history): the
    stream sends them first, as the outbox's catch-up does, then UDP takes over."""
    server_settings: UdpServerSettings = field(default_factory=UdpServerSettings)
    client_settings: UdpClientSettings = field(default_factory=UdpClientSettings)
    now: float = 100.0

    def __post_init__(self) -> None:
        self.room = FakeRoom(self.skip_empty)
        self.other_seq = 0
        for n in range(self.history):
            if n % 3 == 0:  # a frame now and then; the others are empty (or skipped)
                self.other_input(20)
            self.room.tick()
        self.endpoint = UdpEndpoint(self.server_settings, random_bytes=counter_bytes())
        self.member = self.endpoint.open(first_tick=1, tick_interval=1 / 30)
        history = [(n, f) for n, f in self.room.frames.items() if f is not None]
        if history:  # the catch-up: stream only until its last frame is sent
            self.member.stream_only = True
            self.s2c_stream.extend(f for _, f in history)
            self.member.stream_carried(history[-1][0])
            self.member.stream_only = False
        self.core = ClientCore("ada", "r", skip_empty_ticks=self.skip_empty)
        welcome = pb.Welcome(
            room="r", slot=SLOT, tick_rate=30, first_tick=1, udp=self.member.offer(7777)
        )
        for frame in self.core.on_welcome(welcome):  # nothing to resend on a fresh join
            self.c2s_stream.append(frame)
        udp = UdpClientCore.from_welcome(self.core, welcome, self.now, self.client_settings)
        assert udp is not None
        self.udp = udp
        self.client_addr: tuple[str, int] = ("198.51.100.7", 40000)
        self.sent: list[tuple[int, bytes]] = []  # every input the client sent, in order
        self.delivered: list[Tick] = []  # every tick the client's application got
        self.pump()

    # the network: datagrams in flight (data, source or destination address)
    c2s: list[tuple[bytes, Any]] = field(default_factory=list)
    s2c: list[tuple[bytes, Any]] = field(default_factory=list)
    c2s_stream: deque[bytes] = field(default_factory=deque)
    s2c_stream: deque[bytes] = field(default_factory=deque)

    # ------------------------------------------------------------ actions

    def pump(self) -> None:
        """Both sides put out what they have (as the asyncio layers do after any event)."""
        for data, addr in self.member.datagrams_to_send(self.now):
            self.s2c.append((data, addr))
        self.s2c_stream.extend(self.member.stream_frames())
        for data in self.udp.datagrams_to_send(self.now):
            self.c2s.append((data, self.client_addr))
        self.c2s_stream.extend(self.udp.stream_frames_to_send())

    def tick(self) -> int:
        number, frame = self.room.tick()
        self.member.push(number, frame, self.now)
        self.pump()
        return number

    def send_input(self, payload: bytes | None = None) -> int:
        seq = self.udp.core.next_seq
        payload = payload if payload is not None else b"in%d" % seq
        got = self.udp.send_input(payload, self.now)
        assert got == seq
        self.sent.append((seq, payload))
        self.pump()
        return seq

    def other_input(self, size: int) -> None:
        """Another player's input (only to vary tick sizes)."""
        self.other_seq += 1
        self.room.submit(OTHER, self.other_seq, bytes(size))

    def deliver_c2s(self, i: int, keep: bool = False) -> None:
        data, src = self.c2s[i] if keep else self.c2s.pop(i)
        got = self.endpoint.datagram_received(data, src, self.now)
        if got is not None:
            for seq, payload in got.inputs:
                self.room.submit(SLOT, seq, payload)
        self.pump()

    def deliver_s2c(self, i: int, keep: bool = False) -> None:
        data, dst = self.s2c[i] if keep else self.s2c.pop(i)
        if dst == self.client_addr:  # else the NAT has no mapping for it any more
            self.delivered.extend(self.udp.datagram_received(data, self.now))
        self.pump()

    def stream_to_client(self, k: int = 1) -> None:
        for _ in range(min(k, len(self.s2c_stream))):
            frame = self.s2c_stream.popleft()
            body = frame[wire.prefix_length(frame) :]
            raw = tick_of(body)
            tick = pb.Tick()
            tick.ParseFromString(raw)
            self.delivered.extend(self.udp.stream_tick(body, tick, raw))
        self.pump()

    def stream_to_server(self, k: int = 1) -> None:
        framer = wire.Framer(1 << 20)
        for _ in range(min(k, len(self.c2s_stream))):
            for body in framer.feed(self.c2s_stream.popleft()):
                msg = wire.decode_client_message(body)
                assert msg.WhichOneof("body") == "input"
                self.room.submit(SLOT, msg.input.seq, msg.input.payload)
        self.pump()

    def advance(self, dt: float) -> None:
        """Time passes; both sides' timers run if due."""
        self.now += dt
        t = self.member.get_timer()
        if t is not None and t <= self.now:
            self.member.handle_timer(self.now)
        t = self.udp.get_timer()
        if t is not None and t <= self.now:
            self.udp.handle_timer(self.now)
        self.pump()

    def rebind(self) -> None:
        """The client's NAT gives it a new source port."""
        host, port = self.client_addr
        self.client_addr = (host, port + 1)

    def handshake(self) -> None:
        """Datagrams in flight arrive until none are left (the stream stays as it is)."""
        while self.c2s or self.s2c:
            while self.c2s:
                self.deliver_c2s(0)
            while self.s2c:
                self.deliver_s2c(0)

    def deliver_all(self, udp: bool = True) -> None:
        """Everything in flight arrives, in order (datagrams dropped if not `udp`)."""
        while self.c2s or self.s2c or self.c2s_stream or self.s2c_stream:
            if udp:
                while self.c2s:
                    self.deliver_c2s(0)
                while self.s2c:
                    self.deliver_s2c(0)
            else:
                self.c2s.clear()
                self.s2c.clear()
            self.stream_to_server(len(self.c2s_stream))
            self.stream_to_client(len(self.s2c_stream))

    def settle(self, udp: bool = True, tick_every: float = 1 / 30, rounds: int = 400) -> None:
        """Calm weather: the room keeps ticking and everything in flight arrives,
        until the client has every tick and every input was sequenced."""
        for _ in range(rounds):
            self.deliver_all(udp)
            if self.done():
                return
            self.advance(tick_every)
            self.tick()
        raise AssertionError(
            f"not settled: client at {self.udp.merger.contiguous}, room at {self.room.next - 1}, "
            f"{len(self.room.sequenced)}/{len(self.sent)} inputs sequenced"
        )

    def done(self) -> bool:
        return (
            self.udp.merger.contiguous >= self._last_frame()
            and len(self.room.sequenced) == len(self.sent)
            and not self.core.unacked
            and self.delivered_through() == self._last_frame()
        )

    def _last_frame(self) -> int:
        return max((n for n, f in self.room.frames.items() if f is not None), default=0)

    def delivered_through(self) -> int:
        return self.delivered[-1].number if self.delivered else 0

    # ------------------------------------------------------------ the promise

    def check_promise(self) -> None:
        """Every tick once, in order, byte-identical; every input once, in order."""
        numbers = [t.number for t in self.delivered]
        assert numbers == list(range(1, len(numbers) + 1)), numbers
        assert len(numbers) == self._last_frame()
        for t in self.delivered:
            frame = self.room.frames[t.number]
            if frame is None:
                assert t.empty
            else:
                assert t.raw == tick_of(frame[wire.prefix_length(frame) :])
        assert self.room.sequenced == self.sent
        mine = [(i.seq, i.payload) for t in self.delivered for i in t.inputs if i.slot == SLOT]
        assert mine == self.sent
        assert self.core.duplicate_ticks == 0  # the merger hands on nothing twice
        # genuine peers only ever send well-formed, authentic datagrams
        for refused in (self.udp.refused, self.endpoint.refused):
            wrong = {r: n for r, n in refused.items() if r not in (Refusal.REPLAY, Refusal.TOO_OLD)}
            assert not wrong, wrong
