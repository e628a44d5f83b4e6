"""Sans-I/O: the client side of the UDP transport (the reference for other languages).

`UdpClientCore` sits beside the SDK's `ClientCore` for one stream connection
whose Welcome carried a `UdpOffer`. The asyncio layer feeds it every tick frame
read from the stream (`stream_tick`) and every datagram (`datagram_received`);
both return the typed ticks to hand to the application: strictly in order, each
exactly once, byte-identical to what the stream would have delivered (they come
out of `ClientCore.on_tick_frame`, which keeps the resume point). After any
call, the layer sends `datagrams_to_send(now)` to the server's UDP address and
writes `stream_frames_to_send()` on the stream.

Modes:

    PROBING --valid server datagram--> ACTIVE --silence--> FALLBACK
       |                                 ^                    |
       +--- probe_timeout ---> FALLBACK -+-- valid datagram --+

- PROBING: a probe (a ping) every `probe_interval`; inputs go by the stream.
- ACTIVE: ticks arrive by datagram (and any the server moved to the stream);
  every new input goes by datagram, which also carries every older unconfirmed
  one; a datagram acknowledges each advance of the received ticks; a ping at
  least every `keepalive`. No valid datagram for `silence`: FALLBACK.
- FALLBACK: the unconfirmed inputs are written on the stream, later inputs go by
  the stream, ticks come by the stream; a probe every `retry_interval`, and the
  first valid server datagram makes it ACTIVE again.

Inputs on two paths, and why none is lost or doubled: the server sequences an
input only if its seq is above the player's last one. So each path must carry
inputs in seq order with no gap: every datagram carries the oldest unconfirmed
inputs (a prefix of them, as many as fit), and the stream carries, in order,
every unconfirmed input above the last one it carried. An input whose
predecessors have not all fit in one datagram goes by the stream.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tickcast.client import ClientCore, Tick, input_frame
from tickcast.proto import pb
from tickcast.udp import datagram as dg
from tickcast.udp.datagram import Refusal, Refused, ReplayWindow

MAX_CLIENT_FIELDS = 1 + 10 + dg.CHALLENGE_BYTES + 10
"""Upper bound of a client body's bytes before its inputs (flags, received,
response, ping nonce)."""
INPUT_SPACE = dg.MAX_DATAGRAM - dg.HEADER_BYTES - dg.MAC_BYTES - MAX_CLIENT_FIELDS
"""Bytes of input frames one client datagram always has room for."""
MAX_BUFFERED = 4096
"""Most out-of-order tick frames a merger keeps (the server's window is far smaller)."""


@dataclass(frozen=True, slots=True)
class UdpClientSettings:
    """The client side's timers, in seconds (the defaults are docs/protocol.md's)."""

    probe_interval: float = 0.25
    """PROBING: time between probes."""
    probe_timeout: float = 2.0
    """PROBING: no answer for this long means UDP does not work: FALLBACK."""
    keepalive: float = 0.5
    """ACTIVE: a datagram (with a ping) at least this often."""
    silence: float = 2.0
    """ACTIVE: no valid server datagram for this long: FALLBACK."""
    retry_interval: float = 2.0
    """FALLBACK: time between probes that look for UDP working again."""


class ClientMode(enum.Enum):
    PROBING = "probing"
    ACTIVE = "active"
    FALLBACK = "fallback"


class TickMerger:
    """Puts tick frames from two paths back into one stream: each number once, in order.

    `next` is the number of the next tick to hand on. Above it the merger keeps
    the frames that arrived early, and the ranges of numbers it knows all about
    (a datagram's covered range: its numbers without a frame were skipped).
    The stream's own rule applies to a stream tick N: every missing number
    below N was skipped (the server sends the stream only gap-free runs).
    """

    __slots__ = ("next", "_frames", "_known")

    def __init__(self, next_number: int) -> None:
        self.next = next_number
        self._frames: dict[int, bytes] = {}
        self._known: list[tuple[int, int]] = []  # sorted, disjoint, above `next`

    @property
    def contiguous(self) -> int:
        """Every tick up to this number was handed on (or known to be skipped)."""
        return self.next - 1

    @property
    def buffered(self) -> int:
        return len(self._frames)

    def has(self, number: int) -> bool:
        """Whether the tick was handed on already or waits here."""
        return number < self.next or number in self._frames

    def add_stream(self, number: int, body: bytes) -> list[bytes]:
        """A tick frame from the stream; returns the frames to hand on, in order."""
        if number < self.next:
            return []
        frames = self._frames
        out = [frames.pop(k) for k in sorted(k for k in frames if k < number)]
        frames.pop(number, None)
        out.append(body)
        self.next = number + 1
        self._trim()
        out.extend(self._release())
        return out

    def add_datagram(
        self, first: int, last: int, frames: Sequence[tuple[int, bytes]]
    ) -> list[bytes]:
        """The tick frames of a datagram covering `first .. last`; returns the
        frames to hand on, in order."""
        if last < self.next:
            return []
        if len(self._frames) + len(frames) > MAX_BUFFERED:
            return []  # keep nothing of it rather than a range without its frames
        for number, body in frames:
            if number >= self.next:
                self._frames.setdefault(number, body)
        self._insert(max(first, self.next), last)
        return self._release()

    def _insert(self, a: int, b: int) -> None:
        iv = self._known
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(iv) and iv[i][1] + 1 < a:
            out.append(iv[i])
            i += 1
        while i < len(iv) and iv[i][0] <= b + 1:
            a = min(a, iv[i][0])
            b = max(b, iv[i][1])
            i += 1
        out.append((a, b))
        out.extend(iv[i:])
        self._known = out

    def _trim(self) -> None:
        n = self.next
        self._known = [(max(a, n), b) for a, b in self._known if b >= n]

    def _release(self) -> list[bytes]:
        out: list[bytes] = []
        known = self._known
        while known and known[0][0] <= self.next:
            _, b = known.pop(0)
            frames = self._frames
            out.extend(frames.pop(k) for k in sorted(k for k in frames if k <= b))
            self.next = b + 1
        return out


class UdpClientCore:
    """The UDP side of one welcomed stream connection. See the module docstring."""

    def __init__(
        self,
        core: ClientCore,
        offer: pb.UdpOffer,
        now: float,
        settings: UdpClientSettings | None = None,
    ) -> None:
        if offer.version != dg.VERSION:
            raise ValueError(f"UDP datagram version {offer.version} is not supported")
        if len(offer.session_id) != dg.SESSION_ID_BYTES or len(offer.key) != dg.KEY_BYTES:
            raise ValueError("a UdpOffer's session id is 8 bytes and its key 32")
        if not offer.port:
            raise ValueError("a UdpOffer without a port")
        self.core = core
        self.session_id = offer.session_id
        self.key = offer.key
        self._mac = dg.MacKey(offer.key)
        self.host = offer.host
        """Where to send datagrams: "" means the host the stream connected to."""
        self.port = offer.port
        self.settings = settings or UdpClientSettings()
        self.mode = ClientMode.PROBING
        self.merger = TickMerger(core.received + 1)
        self._replay = ReplayWindow()
        self._seq = 0
        self._challenge: bytes | None = None
        # every input numbered so far went (with the Welcome's resend) by the stream
        self._stream_sent = core.next_seq - 1
        self._stream_out: list[bytes] = []
        self._due = False
        self._started = now
        self._next_probe = now
        self._last_sent = now
        self._last_ping = float("-inf")
        self.last_received: float | None = None
        """When the last valid server datagram arrived."""
        self._nonce = 0
        self._pings: dict[int, float] = {}
        self.rtt: float | None = None
        """Round trip of the last ping answered by datagram, in seconds."""
        self.server_newest = 0
        """The newest tick the server reported having produced."""
        # counters
        self.refused: Counter[Refusal] = Counter()
        self.datagrams_in = 0
        self.bytes_in = 0
        self.datagrams_out = 0
        self.bytes_out = 0
        self.ticks_by_udp = 0
        """Ticks whose first copy came by datagram."""
        self.ticks_by_stream = 0
        self.repaired = 0
        """Ticks whose first copy came in a datagram where it was not the newest:
        its own datagram was lost (or late) and redundancy made up for it."""
        self.inputs_by_stream = 0
        self.fallbacks = 0

    @classmethod
    def from_welcome(
        cls,
        core: ClientCore,
        welcome: pb.Welcome,
        now: float,
        settings: UdpClientSettings | None = None,
    ) -> UdpClientCore | None:
        """The UDP side for this Welcome, or None if it offers no usable UDP (then
        the connection simply stays on the stream, as any v1 connection)."""
        if not welcome.HasField("udp"):
            return None
        try:
            return cls(core, welcome.udp, now, settings)
        except ValueError:
            return None

    # ------------------------------------------------------------ inputs

    def send_input(self, payload: bytes, now: float) -> int:
        """Number a new input (through `ClientCore.next_input`) and route it: by
        datagram when ACTIVE and every unconfirmed input fits one, else by the
        stream (see `stream_frames_to_send`). Returns its seq."""
        seq, _ = self.core.next_input(payload)
        if self.mode is ClientMode.ACTIVE and self._inputs_fit():
            self._due = True
        else:
            self._inputs_to_stream()
        return seq

    def _inputs_fit(self) -> bool:
        total = 0
        for seq, payload in self.core.unacked:
            total += len(input_frame(seq, payload))
            if total > INPUT_SPACE:
                return False
        return True

    def _inputs_to_stream(self) -> None:
        for seq, payload in self.core.unacked:
            if seq > self._stream_sent:
                self._stream_out.append(input_frame(seq, payload))
                self._stream_sent = seq
                self.inputs_by_stream += 1

    def stream_frames_to_send(self) -> list[bytes]:
        """Input frames to write on the stream now, in order (taken once)."""
        out, self._stream_out = self._stream_out, []
        return out

    # ------------------------------------------------------------ ticks

    def stream_tick(self, body: bytes, tick: pb.Tick, raw: bytes) -> list[Tick]:
        """A `ServerMessage{tick}` frame body read from the stream (parsed as `tick`,
        `raw` its Tick bytes): the ticks to hand to the application, in order."""
        before = self.merger.next
        if not self.merger.has(tick.number):
            self.ticks_by_stream += 1
        released = self.merger.add_stream(tick.number, body)
        if self.merger.next > before and self.mode is ClientMode.ACTIVE:
            self._due = True  # let the server free what the stream brought
        return self._hand_on(released, body, tick, raw)

    def datagram_received(self, data: bytes, now: float) -> list[Tick]:
        """One datagram from the server's UDP address: the ticks to hand to the
        application, in order. A refused datagram is counted and changes nothing."""
        try:
            seq, raw = dg.authenticate(
                data, dg.SERVER_KIND, self.session_id, self._mac, self._replay
            )
            body = dg.decode_server_body(raw)
        except Refused as exc:
            self.refused[exc.reason] += 1
            return []
        newest = seq > self._replay.top
        self._replay.record(seq)
        self.datagrams_in += 1
        self.bytes_in += len(data)
        self.last_received = now
        if newest:
            self._challenge = body.challenge
            if body.challenge is not None:
                self._due = True
        self.server_newest = max(self.server_newest, body.newest)
        if body.pong is not None:
            sent = self._pings.pop(body.pong, None)
            if sent is not None:
                self.rtt = now - sent
        if self.mode is not ClientMode.ACTIVE:
            self.mode = ClientMode.ACTIVE
            self._due = True  # tell the server at once that ticks may come this way
        if not body.span:
            return []
        merger = self.merger
        for i, (number, _) in enumerate(body.frames):
            if not merger.has(number):
                self.ticks_by_udp += 1
                if i:
                    self.repaired += 1
        before = merger.next
        released = merger.add_datagram(body.first, body.newest, body.frames)
        if merger.next > before:
            self._due = True
        return self._hand_on(released)

    def _hand_on(
        self,
        bodies: list[bytes],
        known_body: bytes | None = None,
        known: pb.Tick | None = None,
        known_raw: bytes = b"",
    ) -> list[Tick]:
        out: list[Tick] = []
        on_tick = self.core.on_tick_frame
        for body in bodies:
            if body is known_body and known is not None:
                out.extend(on_tick(body, known, known_raw))
                continue
            raw = dg.tick_of(body)
            tick = pb.Tick()
            tick.ParseFromString(raw)
            out.extend(on_tick(body, tick, raw))
        return out

    # ------------------------------------------------------------ sending

    def datagrams_to_send(self, now: float) -> list[bytes]:
        """The datagrams to send to the server's UDP address now (at most one)."""
        self._check(now)
        if self._seq >= dg.MAX_SEQ:
            return []
        s = self.settings
        mode = self.mode
        if mode is ClientMode.ACTIVE:
            if not self._due and now - self._last_sent < s.keepalive:
                return []
            ping = now - self._last_ping >= s.keepalive
        else:
            if now < self._next_probe:
                return []
            interval = s.probe_interval if mode is ClientMode.PROBING else s.retry_interval
            self._next_probe = now + interval
            ping = True
        nonce = None
        if ping:
            self._nonce += 1
            nonce = self._nonce
            self._pings[nonce] = now
            if len(self._pings) > 8:
                del self._pings[min(self._pings)]
            self._last_ping = now
        parts = [
            dg.client_fields(
                self.merger.contiguous,
                active=mode is ClientMode.ACTIVE,
                response=self._challenge,
                ping=nonce,
            )
        ]
        space = INPUT_SPACE
        for seq, payload in self.core.unacked:  # the oldest first, as many as fit
            f = input_frame(seq, payload)
            if len(f) > space:
                break
            space -= len(f)
            parts.append(f)
        self._seq += 1
        data = dg.seal(dg.CLIENT_KIND, self.session_id, self._seq, self._mac, parts)
        self.datagrams_out += 1
        self.bytes_out += len(data)
        self._due = False
        self._last_sent = now
        return [data]

    # ------------------------------------------------------------ timers

    def get_timer(self) -> float | None:
        """When `handle_timer` must run next."""
        s = self.settings
        if self._seq >= dg.MAX_SEQ:
            return None
        if self.mode is ClientMode.ACTIVE:
            assert self.last_received is not None
            return min(self._last_sent + s.keepalive, self.last_received + s.silence)
        if self.mode is ClientMode.PROBING:
            return min(self._next_probe, self._started + s.probe_timeout)
        return self._next_probe

    def handle_timer(self, now: float) -> None:
        """Mode changes that time decides (the datagrams are `datagrams_to_send`'s)."""
        self._check(now)

    def _check(self, now: float) -> None:
        s = self.settings
        if self._seq >= dg.MAX_SEQ and self.mode is not ClientMode.FALLBACK:
            self._fall_back(now)
        elif self.mode is ClientMode.ACTIVE:
            assert self.last_received is not None
            if now - self.last_received >= s.silence:
                self._fall_back(now)
        elif self.mode is ClientMode.PROBING and now - self._started >= s.probe_timeout:
            self._fall_back(now)

    def _fall_back(self, now: float) -> None:
        self.mode = ClientMode.FALLBACK
        self.fallbacks += 1
        self._next_probe = now + self.settings.retry_interval
        self._inputs_to_stream()
