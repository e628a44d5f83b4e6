"""Sans-I/O: the server side of the UDP transport.

`UdpEndpoint` is one UDP socket's session table: it hands out session ids and
keys (for `Welcome.udp`), routes each datagram to its `UdpMember` by the id in
its header, and counts what it refuses. Nothing it refuses is ever answered.

`UdpMember` is one member's UDP path beside its stream connection. The host
pushes every tick the member is due (`push`, in number order, skipped ones with
no frame); the member decides which path carries it:

- On UDP, each tick enters the *window* of ticks the client has not
  acknowledged. Every datagram carries the window newest first, as many frames
  as fit (the same bytes objects the stream would carry). A datagram the client
  acknowledges (`received`, its highest contiguous tick) frees the window up to
  there.
- A tick leaves the window for the stream when it is not acknowledged within
  the retransmission timeout (`rto`, from the acknowledgements' round trips), when
  it is too large for any datagram, or when the window holds `max_window` ticks;
  always together with every older tick of the window, so that the stream only
  ever carries a gap-free run (see "Invariants").
- UDP carries ticks only while the client says it receives them (the `active`
  flag of its newest datagram) and a valid datagram arrived within `silence`.
  Otherwise the member falls back: the whole window goes to the stream, and so
  does every later tick until UDP works again (it may come back at any time).

Address rules (RFC 9000 sections 8 and 9 in spirit): the member only ever sends
to the source address of an authentic datagram. The newest authentic datagram
(highest sequence number) from a new address moves the session there (NAT
rebinding). Until an address is validated (a datagram from it echoes the
challenge the server sent there), the server sends it at most `amplification`
times the bytes it received from it. Validated addresses are remembered, so
moving back to one costs nothing.

Invariants:
- Every pushed tick reaches exactly one of: the window, or `stream_frames()`.
- The stream only ever receives, in number order, a prefix of the window or (with
  the window empty) the pushed tick itself. So when the stream carries tick N,
  every earlier tick was either acknowledged over UDP or carried by the stream
  before N: a client may treat a number it is missing below a stream tick as an
  empty tick that was skipped, exactly as on a plain TCP connection.
- `lo` is one more than the last frame the stream carried (or the client's
  acknowledgement, or the first tick); every number from `lo` to `last` is in
  the window or was skipped. A datagram covers `newest - span + 1 .. newest`
  (a tail of `lo .. last`) and holds the frame of every non-skipped tick in it,
  so the client learns of skipped numbers from UDP too, also those that
  followed the stream's last frame before UDP came back.
"""

from __future__ import annotations

import hmac
import os
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from tickcast.proto import pb
from tickcast.udp import datagram as dg
from tickcast.udp.datagram import Refusal, Refused, ReplayWindow

Address = Hashable
"""A UDP peer address, as the socket layer reports it (asyncio: (host, port) or
(host, port, flowinfo, scope_id)); compared for equality only."""


@dataclass(frozen=True, slots=True)
class UdpServerSettings:
    """The server side's tunables (the defaults are what docs/protocol.md states)."""

    silence: float = 2.0
    """No authentic datagram from the client for this long: fall back to the stream."""
    max_window: int = 64
    """Most ticks the window holds; older ones go to the stream."""
    min_rto: float = 0.05
    """Floor of the round-trip part of the timeout after which an unacknowledged
    tick goes to the stream (see `UdpMember.rto`)."""
    initial_rto: float = 0.25
    """The round-trip part before the first round-trip sample."""
    max_rto: float = 1.0
    """Ceiling of the round-trip part."""
    repair_ticks: int = 2
    """Tick intervals added to the timeout: the datagrams of the next ticks that
    may still repair a loss before the stream has to."""
    amplification: int = 3
    """An unvalidated address gets at most this many times the bytes it sent."""
    validated_kept: int = 4
    """Validated addresses remembered per session (moving back to one is free)."""


class _Entry:
    """A tick in the window."""

    __slots__ = ("number", "frame", "pushed_at", "first_sent")

    def __init__(self, number: int, frame: bytes, pushed_at: float) -> None:
        self.number = number
        self.frame = frame
        self.pushed_at = pushed_at
        self.first_sent: float | None = None


class UdpMember:
    """One member's UDP path. See the module docstring for the rules and invariants.

    The host's calls, all with the current time:
    - `push(number, frame, now)` for every tick due to this member, in order
      (`frame` None for a tick the room skipped), then send `stream_frames()` on
      the stream and `datagrams_to_send(now)` on the UDP socket;
    - `datagram_received(data, addr, now)` (usually through `UdpEndpoint`):
      returns the new inputs to sequence, then send both outputs again;
    - `handle_timer(now)` once `get_timer()` is reached, then the outputs again.
    """

    def __init__(
        self,
        session_id: bytes,
        key: bytes,
        first_tick: int,
        *,
        tick_interval: float = 1 / 30,
        settings: UdpServerSettings | None = None,
        last_seq: int = 0,
        random_bytes: Callable[[int], bytes] = os.urandom,
        refused: Counter[Refusal] | None = None,
    ) -> None:
        if len(session_id) != dg.SESSION_ID_BYTES or len(key) != dg.KEY_BYTES:
            raise ValueError("a session id is 8 bytes and a key 32")
        if first_tick < 1:
            raise ValueError("ticks are numbered from 1")
        self.session_id = session_id
        self.key = key
        self._mac = dg.MacKey(key)
        self.tick_interval = tick_interval
        """Seconds between two ticks of the member's room (1 / tick_rate)."""
        self.settings = settings or UdpServerSettings()
        self._random = random_bytes
        self.refused: Counter[Refusal] = refused if refused is not None else Counter()
        # receiving
        self._replay = ReplayWindow()
        self.last_seq = last_seq
        """Highest input seq handed to the host (inputs at or below it are repeats)."""
        self.last_valid: float | None = None
        self.client_active = False
        # the path
        self.address: Address | None = None
        self.validated = False
        self._validated: deque[Address] = deque(maxlen=self.settings.validated_kept)
        self._challenge: bytes | None = None
        self._path_in = 0
        self._path_out = 0
        # sending
        self._seq = 0
        self._window: deque[_Entry] = deque()
        self.lo = first_tick
        """Lowest tick number this path still answers for: below it every tick was
        acknowledged or carried by the stream, up to a frame. Every number from `lo`
        to `last` is in the window or was skipped."""
        self.last = first_tick - 1
        """Highest tick number pushed (skipped ones too)."""
        self.acked = first_tick - 1
        """Highest tick the client acknowledged (its `received`), at most `last`."""
        self.on_udp = False
        self._stream_only = False
        self._stream: list[bytes] = []
        self._due = False
        self._pong: int | None = None
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.closed = False
        # counters (for /metrics)
        self.datagrams_in = 0
        self.bytes_in = 0
        self.datagrams_out = 0
        self.bytes_out = 0
        self.ticks_by_udp = 0
        """Ticks sent in at least one datagram."""
        self.redundant_copies = 0
        """Tick copies sent again in later datagrams (the redundancy that repairs loss)."""
        self.ticks_to_stream = 0
        """Ticks the stream carried (fallback, timeout, too large, window full)."""
        self.fallbacks = 0
        self.returns = 0
        """Times UDP came back after a fallback."""
        self.migrations = 0
        self.inputs_in = 0
        """New inputs received by datagram (repeats not counted)."""

    def __repr__(self) -> str:
        state = "udp" if self.on_udp else "stream"
        return f"<UdpMember {self.session_id.hex()} {state} addr={self.address!r}>"

    # ------------------------------------------------------------ the host's view

    @property
    def rto(self) -> float:
        """How long a tick may stay unacknowledged before the stream carries it:
        RFC 6298's timeout (smoothed round trip + 4 x its variation, within
        min_rto .. max_rto; initial_rto before a sample) plus `repair_ticks` tick
        intervals, in which the next ticks' datagrams repair a lost one."""
        s = self.settings
        if self.srtt is None:
            base = s.initial_rto
        else:
            base = min(s.max_rto, max(s.min_rto, self.srtt + 4 * self.rttvar))
        return base + s.repair_ticks * self.tick_interval

    @property
    def behind(self) -> int:
        """Ticks from the oldest unacknowledged one in the window to the newest."""
        w = self._window
        return self.last - w[0].number + 1 if w else 0

    @property
    def unacknowledged(self) -> int:
        """Ticks pushed since the client's acknowledgement (for the slow-consumer rule)."""
        return self.last - self.acked

    @property
    def stream_only(self) -> bool:
        """Set by the host while the stream must carry everything (a catch-up in
        progress); setting it moves the window to the stream at once."""
        return self._stream_only

    @stream_only.setter
    def stream_only(self, value: bool) -> None:
        self._stream_only = value
        if value and self.on_udp:
            self._fall_back()

    def offer(self, port: int, host: str = "") -> pb.UdpOffer:
        """The `Welcome.udp` that tells the client about this session."""
        return pb.UdpOffer(
            version=dg.VERSION, port=port, host=host, session_id=self.session_id, key=self.key
        )

    def close(self) -> None:
        """The stream connection ended: this path is over (nothing more is sent)."""
        self.closed = True
        self.on_udp = False
        self._window.clear()
        self._stream.clear()

    # ------------------------------------------------------------ ticks

    def push(self, number: int, frame: bytes | None, now: float) -> None:
        """Tick `number` is due to this member: `frame` is its encoded frame (the
        room's one bytes object), None if the room skipped it as empty."""
        if number <= self.last:
            raise ValueError(f"tick {number} pushed after tick {self.last}")
        self._update(now)  # before `last` moves: coming back starts at this tick
        self.last = number
        if self.closed:
            return
        if not self.on_udp:
            if frame is not None:
                self._stream.append(frame)
                self.ticks_to_stream += 1
                self.lo = number + 1
            # a skipped number after the stream's last frame stays ours to cover:
            # the stream would tell the client only with its next frame
            return
        if frame is None:
            return  # covered by the next datagram's range, no bytes needed
        w = self._window
        w.append(_Entry(number, frame, now))
        if len(frame) > dg.MAX_TICK_FRAME:
            self._flush(len(w))
        elif len(w) > self.settings.max_window:
            self._flush(len(w) - self.settings.max_window)
        self._due = True

    def stream_carried(self, number: int) -> None:
        """The stream carried tick frames up to `number` without this member (a
        catch-up the outbox read from the room's history): UDP answers only for
        later ticks. Call it, with `stream_only` still set, when the catch-up has
        sent its last frame, `number` being that frame's tick. (A skipped number
        works too, but then the skipped ticks just before it reach the client
        only with the next stream tick or after a timeout.)"""
        if number > self.last:
            self.last = number
        if number >= self.lo:
            self.lo = number + 1

    def stream_frames(self) -> list[bytes]:
        """The tick frames the stream must send now, in order (taken once)."""
        out, self._stream = self._stream, []
        return out

    def _flush(self, k: int) -> None:
        """The oldest `k` ticks of the window go to the stream."""
        w = self._window
        for _ in range(k):
            e = w.popleft()
            self._stream.append(e.frame)
            self.lo = e.number + 1
        self.ticks_to_stream += k

    def _update(self, now: float) -> None:
        """Put the member on UDP or back on the stream, as the rules say now."""
        ok = (
            self.client_active
            and not self._stream_only
            and not self.closed
            and self.last_valid is not None
            and now - self.last_valid < self.settings.silence
            and self._seq < dg.MAX_SEQ
        )
        if ok and not self.on_udp:
            self.on_udp = True  # lo .. last are skipped numbers: the next datagram covers them
            if self.fallbacks:
                self.returns += 1
        elif not ok and self.on_udp:
            self._fall_back()

    def _fall_back(self) -> None:
        self._flush(len(self._window))
        self.on_udp = False
        self.fallbacks += 1

    # ------------------------------------------------------------ receiving

    def datagram_received(
        self, data: bytes, addr: Address, now: float
    ) -> list[tuple[int, bytes]] | None:
        """Take one client datagram: the new inputs (seq, payload) to sequence, in
        order (repeats already removed), or None if it was refused (and counted)."""
        try:
            if self.closed:
                raise Refused(Refusal.UNKNOWN_SESSION, "session closed")
            seq, raw = dg.authenticate(
                data, dg.CLIENT_KIND, self.session_id, self._mac, self._replay
            )
            body = dg.decode_client_body(raw)
        except Refused as exc:
            self.refused[exc.reason] += 1
            return None
        newest = seq > self._replay.top
        self._replay.record(seq)
        self.datagrams_in += 1
        self.bytes_in += len(data)
        self.last_valid = now
        if newest:
            if addr != self.address:
                self._move_to(addr)
            self.client_active = body.active
        if addr == self.address and not self.validated:
            self._path_in += len(data)
            if body.response is not None and hmac.compare_digest(
                body.response, self._challenge or b""
            ):
                self.validated = True
                self._challenge = None
                self._validated.append(addr)
            self._due = True  # the challenge, or the window at full size, must reach it
        self._ack(body.received, now)
        if body.ping is not None:
            self._pong = body.ping
            self._due = True
        self._update(now)
        fresh = [i for i in body.inputs if i[0] > self.last_seq]
        if fresh:
            self.last_seq = fresh[-1][0]
            self.inputs_in += len(fresh)
        return fresh

    def _move_to(self, addr: Address) -> None:
        if self.address is not None:
            self.migrations += 1
        self.address = addr
        self._path_in = self._path_out = 0
        self._due = True  # what was sent to the old address may never have arrived
        if addr in self._validated:
            self.validated = True
            self._challenge = None
        else:
            self.validated = False
            self._challenge = self._random(dg.CHALLENGE_BYTES)

    def _ack(self, received: int, now: float) -> None:
        r = min(received, self.last)
        if r <= self.acked:
            return
        self.acked = r
        w = self._window
        sample: float | None = None
        while w and w[0].number <= r:
            e = w.popleft()
            if e.first_sent is not None:
                sample = now - e.first_sent
        if sample is not None:
            self._rtt_sample(sample)
        if r >= self.lo:
            self.lo = r + 1

    def _rtt_sample(self, sample: float) -> None:
        """RFC 6298's smoothed round trip and its variation."""
        if self.srtt is None:
            self.srtt = sample
            self.rttvar = sample / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - sample)
            self.srtt = 0.875 * self.srtt + 0.125 * sample

    # ------------------------------------------------------------ sending

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """The datagrams to send now, each with its destination (at most one)."""
        self._update(now)
        addr = self.address
        if not self._due or addr is None or self.closed or self._seq >= dg.MAX_SEQ:
            return []
        budget = dg.MAX_DATAGRAM
        challenge = None
        if not self.validated:
            budget = min(budget, self.settings.amplification * self._path_in - self._path_out)
            challenge = self._challenge
        pong = self._pong
        last = self.last
        # the fields' largest size: a few bytes of room lost, a few calls saved
        space = budget - dg.HEADER_BYTES - dg.MAC_BYTES - dg.MAX_SERVER_FIELDS
        if space < 0:
            return []  # the address has not earned a single datagram yet
        frames: list[bytes] = []
        span = 0
        if self.on_udp:
            w = self._window
            i = len(w)
            while i and len(w[i - 1].frame) <= space:
                i -= 1
                e = w[i]
                space -= len(e.frame)
                frames.append(e.frame)
                if e.first_sent is None:
                    e.first_sent = now
                    self.ticks_by_udp += 1
                else:
                    self.redundant_copies += 1
            first = w[i - 1].number + 1 if i else self.lo
            span = max(0, last - first + 1)
        if not frames and pong is None and challenge is None:
            self._due = False
            return []
        self._seq += 1
        data = dg.seal(
            dg.SERVER_KIND,
            self.session_id,
            self._seq,
            self._mac,
            [dg.server_fields(last, span, challenge, pong), *frames],
        )
        self.datagrams_out += 1
        self.bytes_out += len(data)
        if not self.validated:
            self._path_out += len(data)
        self._pong = None
        self._due = False
        return [(data, addr)]

    # ------------------------------------------------------------ timers

    def get_timer(self) -> float | None:
        """When `handle_timer` must run next (None: nothing is pending)."""
        if not self.on_udp or self.last_valid is None:
            return None
        t = self.last_valid + self.settings.silence
        if self._window:
            t = min(t, self._window[0].pushed_at + self.rto)
        return t

    def handle_timer(self, now: float) -> None:
        """Fall back on silence; move ticks unacknowledged for `rto` to the stream."""
        self._update(now)
        w = self._window
        if self.on_udp and w:
            deadline = now - self.rto
            k = 0
            for e in w:  # pushed in order: the expired ones are a prefix
                if e.pushed_at > deadline:
                    break
                k += 1
            if k:
                self._flush(k)


@dataclass(frozen=True, slots=True)
class Received:
    """An authentic datagram: the member it belongs to and its new inputs."""

    member: UdpMember
    inputs: list[tuple[int, bytes]]


class UdpEndpoint:
    """The session table of one UDP socket, and its refusal counters."""

    def __init__(
        self,
        settings: UdpServerSettings | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.settings = settings or UdpServerSettings()
        self._random = random_bytes
        self.members: dict[bytes, UdpMember] = {}
        self.refused: Counter[Refusal] = Counter()
        """Every refused datagram, by reason (members' refusals included)."""

    def open(self, first_tick: int, tick_interval: float, last_seq: int = 0) -> UdpMember:
        """A new session for a member whose stream is welcomed with `first_tick`,
        in a room ticking every `tick_interval` seconds; `last_seq` is the
        player's last sequenced seq (Welcome.last_seq)."""
        while True:
            session_id = self._random(dg.SESSION_ID_BYTES)
            if session_id not in self.members:
                break
        member = UdpMember(
            session_id,
            self._random(dg.KEY_BYTES),
            first_tick,
            tick_interval=tick_interval,
            settings=self.settings,
            last_seq=last_seq,
            random_bytes=self._random,
            refused=self.refused,
        )
        self.members[session_id] = member
        return member

    def close(self, member: UdpMember) -> None:
        """Forget a session (its stream connection ended); later datagrams are refused."""
        member.close()
        if self.members.get(member.session_id) is member:
            del self.members[member.session_id]

    def datagram_received(self, data: bytes, addr: Address, now: float) -> Received | None:
        """Route one datagram; None if it was refused (counted in `refused`)."""
        try:
            session_id, _ = dg.parse_header(data, dg.CLIENT_KIND)
        except Refused as exc:
            self.refused[exc.reason] += 1
            return None
        member = self.members.get(session_id)
        if member is None:
            self.refused[Refusal.UNKNOWN_SESSION] += 1
            return None
        inputs = member.datagram_received(data, addr, now)
        if inputs is None:
            return None
        return Received(member, inputs)

    def handle_timer(self, now: float) -> list[UdpMember]:
        """Run every member's due timer; returns those members (their outputs may
        have changed). A sweep over all sessions: call it about once per tick."""
        due = []
        for m in self.members.values():
            t = m.get_timer()
            if t is not None and t <= now:
                m.handle_timer(now)
                due.append(m)
        return due
