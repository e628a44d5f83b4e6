"""Helpers for testing code that uses tickcast (and for tickcast's own tests).

The core is sans-I/O: a `Relay`, its `Session`s and `Room`s take bytes and a
time and write to `Sink`s. With the fakes below a test drives a whole relay
with no sockets, no event loop and no sleeps, so it is fast and deterministic:

    clock = FakeClock()
    relay = Relay(Config(server_id="test"))
    sink = MemorySink()
    session = relay.open_session(sink, clock.now())
    hello = pb.ClientMessage(hello=pb.Hello(protocol_version=1, player_id="p"))
    session.data_received(wire.frame(hello.SerializeToString()), clock.now())
    clock.advance(relay.config.tick_interval)
    relay.tick(clock.now())
    welcome, tick = sink.take()
"""

from __future__ import annotations

from tickcast.proto import pb
from tickcast.wire import Framer, decode_server_frame_body, decode_varint

# ---- sans-I/O fakes ----

_NO_LIMIT = 1 << 62


class FakeClock:
    """A clock that moves only when told to: `now()` for the core, `advance(dt)` for the test."""

    def __init__(self, start: float = 1000.0) -> None:
        # not 0.0: a bug that confuses "no time yet" (0.0) with a real time shows up
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, dt: float) -> float:
        """Move time forward by `dt` seconds; returns the new time."""
        if dt < 0:
            raise ValueError("a clock does not go backwards")
        self._now += dt
        return self._now


class MemorySink:
    """An in-memory `tickcast.outbox.Sink` (what an asyncio transport offers to an outbox).

    Bytes written are *delivered* (as if the kernel took them) unless the sink
    is `paused`; then they wait, unsent, until `drain(n)` or `resume()`. That
    models a receiver that stopped reading. Independently, `unsent` is a
    settable figure added to `get_write_buffer_size()`, for tests that need a
    backlog of an exact size without writing it.

    `close()` and `abort()` are recorded. Like an asyncio transport, a closed
    sink drops later writes, but it counts them in `writes_after_close`, since
    the core should never write after closing. `abort()` also drops what was
    still unsent, as a transport's abort does.
    """

    def __init__(self, *, paused: bool = False) -> None:
        self.paused = paused
        self.unsent = 0
        self.delivered = bytearray()
        self._pending = bytearray()
        self.closed = False
        self.aborted = False
        self.writes = 0
        self.writes_after_close = 0
        self._taken = 0

    # ------------------------------------------------------------ Sink protocol

    def write(self, data: bytes) -> None:
        if self.closed:
            self.writes_after_close += 1
            return
        self.writes += 1
        if self.paused or self._pending:
            self._pending += data
        else:
            self.delivered += data

    def get_write_buffer_size(self) -> int:
        return len(self._pending) + self.unsent

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True
        self.aborted = True
        self._pending.clear()

    # ------------------------------------------------------------ the test's side

    @property
    def pending(self) -> int:
        """Bytes written but not delivered yet (paused)."""
        return len(self._pending)

    def drain(self, n: int | None = None) -> int:
        """Deliver up to `n` waiting bytes (all if None); returns how many moved."""
        if n is None:
            n = len(self._pending)
        moved = bytes(self._pending[:n])
        del self._pending[:n]
        self.delivered += moved
        return len(moved)

    def drain_frames(self, count: int) -> int:
        """Deliver exactly the next `count` whole frames waiting; returns the bytes moved."""
        end = 0
        try:
            for _ in range(count):
                length, body_start = decode_varint(self._pending, end)
                end = body_start + length
        except IndexError:
            end = len(self._pending) + 1
        if end > len(self._pending):
            raise ValueError(f"fewer than {count} whole frames are waiting")
        return self.drain(end)

    def resume(self) -> None:
        """Stop pausing and deliver everything waiting."""
        self.paused = False
        self.drain()

    def frame_bodies(self) -> list[bytes]:
        """Every complete frame delivered so far (bodies without the length prefix)."""
        return decode_frame_bodies(bytes(self.delivered), allow_partial=True)

    def messages(self) -> list[pb.ServerMessage]:
        """Every complete ServerMessage delivered so far, in order."""
        return [decode_server_frame_body(b) for b in self.frame_bodies()]

    def take(self, count: int | None = None) -> list[pb.ServerMessage]:
        """The messages delivered since the last `take()` (all of them on the first
        call); at most `count` of them if given, leaving the rest for the next take."""
        msgs = self.messages()
        stop = len(msgs) if count is None else min(len(msgs), self._taken + count)
        new = msgs[self._taken : stop]
        self._taken = stop
        return new


def decode_frame_bodies(data: bytes, *, allow_partial: bool = False) -> list[bytes]:
    """Split a TCP byte stream into frame bodies.

    A trailing incomplete frame raises ValueError unless `allow_partial` (then it is ignored).
    """
    framer = Framer(_NO_LIMIT)
    bodies = framer.feed(data)
    if framer.buffered and not allow_partial:
        raise ValueError(f"{framer.buffered} bytes of an incomplete frame at the end")
    return bodies


def decode_frames(data: bytes, *, allow_partial: bool = False) -> list[pb.ServerMessage]:
    """Decode a server's TCP byte stream into its ServerMessages, in order."""
    bodies = decode_frame_bodies(data, allow_partial=allow_partial)
    return [decode_server_frame_body(b) for b in bodies]
