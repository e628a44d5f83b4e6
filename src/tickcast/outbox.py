"""Bounded per-connection output: the fan-out never waits for a receiver.

An `Outbox` hands frames straight to its `Sink` (for TCP, the asyncio
transport: one C-level `write` per frame) and watches what the sink could not
pass on to the kernel yet. A connection whose unsent bytes pass
`limit_bytes`, or that is more than `limit_ticks` frames behind, is over its
budget: `offer` returns False and the caller evicts it (SLOW_CONSUMER). The
caller never awaits anything here.

Catch-up (resume, full_history) does not go through the budget: the outbox
reads old ticks from a `TickSource` itself, a chunk at a time, whenever the
sink has drained (`pump`), and it switches to live ticks once it has caught
up. Live ticks that arrive meanwhile are not queued twice: they are read from
the same source in order. So a late joiner costs memory for one chunk, not for
the whole history, and never delays the live fan-out of its room.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tickcast.security import CatchupBudget

CATCHUP_CHUNK_BYTES = 64 * 1024
"""A catch-up pump stops writing once this many bytes wait in the sink."""


class Sink(Protocol):
    """Where an outbox writes: an asyncio transport has exactly these methods."""

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class TickSource(Protocol):
    """Encoded tick frames by number (a room's history ring, later also a disk log)."""

    def first_kept(self) -> int:
        """Number of the oldest tick still available."""
        ...

    def last_sent(self) -> int:
        """Number of the newest tick sent to the room (0 before the first)."""
        ...

    def frame(self, number: int) -> bytes | None:
        """The frame of tick `number`, or None if it was skipped (an empty tick not sent)."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxStatistics:
    """A snapshot of one outbox (see `Outbox.statistics`)."""

    buffered_bytes: int
    frames_behind: int
    frames_sent: int
    bytes_sent: int
    catching_up: bool


class Outbox:
    """One connection's bounded output. See the module docstring."""

    __slots__ = (
        "sink",
        "limit_bytes",
        "limit_ticks",
        "_write",
        "_buffered",
        "_ends",
        "_offered",
        "frames_sent",
        "_source",
        "_next",
        "closed",
        "catchup_budget",
    )

    def __init__(self, sink: Sink, limit_bytes: int, limit_ticks: int) -> None:
        self.sink = sink
        self.limit_bytes = limit_bytes
        self.limit_ticks = limit_ticks
        # bound methods, looked up once: the fan-out calls them per member per tick
        self._write = sink.write
        self._buffered = sink.get_write_buffer_size
        self._ends: deque[int] = deque()  # stream offsets where unsent frames end
        self._offered = 0
        self.frames_sent = 0
        self._source: TickSource | None = None
        self._next = 0  # catch-up: number of the next tick to send from _source
        self.closed = False
        # shared by all connections of a relay: caps catch-up bytes per tick cycle
        self.catchup_budget: CatchupBudget | None = None

    # ------------------------------------------------------------ live frames

    def offer(self, frame: bytes) -> bool:
        """Write `frame` now; False if the connection is over its budget (evict it)."""
        if self._source is not None:
            return self.pump()
        return self._put(frame)

    def send_now(self, frame: bytes) -> None:
        """Write a control frame (Welcome, Pong, Kick) regardless of the budget."""
        self._put(frame)

    def _put(self, frame: bytes) -> bool:
        if self.closed:
            return True
        self._write(frame)
        self.frames_sent += 1
        self._offered += len(frame)
        backlog = self._buffered()
        ends = self._ends
        if not backlog:
            if ends:
                ends.clear()
            return True
        # the sink holds `backlog` bytes: the frames ending past `sent` are unsent
        ends.append(self._offered)
        sent = self._offered - backlog
        while ends[0] <= sent:
            ends.popleft()
        return backlog <= self.limit_bytes and len(ends) <= self.limit_ticks

    # ------------------------------------------------------------ catch-up

    def start_catchup(self, source: TickSource, first: int) -> bool:
        """Send ticks `first`.. from `source`, paced by the sink, then live ones."""
        self._source = source
        self._next = first
        return self.pump()

    @property
    def catching_up(self) -> bool:
        return self._source is not None

    @property
    def source(self) -> TickSource | None:
        """Where the catch-up in progress reads from (None when there is none)."""
        return self._source

    def over_bytes(self) -> bool:
        """More unsent than the byte budget allows, a catch-up chunk besides: for
        control frames (a Pong per Ping), which `offer`'s check never sees when
        the room sends no live ticks."""
        return self._buffered() > self.limit_bytes + CATCHUP_CHUNK_BYTES

    def pump(self) -> bool:
        """Send more catch-up ticks while the sink has room; False if the source
        no longer holds the next tick needed (the reader fell too far behind)."""
        source = self._source
        if source is None or self.closed:
            return True
        n = self._next
        last = source.last_sent()
        if n < source.first_kept() and n <= last:
            return False
        budget = self.catchup_budget
        while n <= last and self._buffered() < CATCHUP_CHUNK_BYTES:
            if budget is not None and budget.remaining <= 0:
                break  # the cycle's catch-up budget is spent: go on at the next tick
            f = source.frame(n)
            n += 1
            if f is not None:
                self._put(f)
                if budget is not None:
                    budget.remaining -= len(f)
        self._next = n
        if n > last:
            self._source = None  # caught up: later ticks arrive through offer()
            # The catch-up frames still unsent are paced by bytes (a chunk), not
            # counted as live frames behind: a small history can be hundreds of
            # frames in one chunk, and the reader must get time to read them.
            self._ends.clear()
        return True

    # ------------------------------------------------------------ closing

    def close(self, final_frame: bytes | None = None) -> None:
        """Send `final_frame` (a Kick) after what is queued, then close gracefully."""
        if self.closed:
            return
        if final_frame is not None:
            self._write(final_frame)
        self.closed = True
        self._source = None
        self.sink.close()

    def abort(self, final_frame: bytes | None = None) -> None:
        """Drop what is queued and cut the connection now (slow consumer). The final
        frame is written only if nothing is queued, so it could reach the peer whole."""
        if self.closed:
            return
        if final_frame is not None and not self._buffered():
            self._write(final_frame)
        self.closed = True
        self._source = None
        self.sink.abort()

    def sink_lost(self) -> None:
        """The sink is gone (the connection closed): later writes are dropped."""
        self.closed = True

    def statistics(self) -> OutboxStatistics:
        return OutboxStatistics(
            buffered_bytes=self._buffered() if not self.closed else 0,
            frames_behind=len(self._ends),
            frames_sent=self.frames_sent,
            bytes_sent=self._offered,
            catching_up=self._source is not None,
        )
