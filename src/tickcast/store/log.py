"""The tick-log interface, its value types, and an in-memory implementation.

A tick log records each match (a room's life from its first tick until it
empties): the exact tick frames sent, presence changes and kicks. The relay
writes one `Cycle` per tick cycle (all rooms' ticks) as one transaction, on
one writer thread, before any of those ticks is delivered (write before send).

`TickLog` knows nothing of SQLite: `SQLiteTickLog` (the default, durable) and
`MemoryTickLog` (tests, reference behaviour) implement it, and a later
Redis-backed log can sit beside them. Methods are synchronous: the recorder
calls writes on its writer thread and short chunked reads on the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from tickcast import wire
from tickcast.errors import StoreError as StoreError  # re-exported: it lives with the others


@dataclass(frozen=True, slots=True)
class MatchStart:
    """A match that begins in this cycle (its id is assigned by the recorder)."""

    id: int
    room: str
    tick_rate: int
    started_at: float
    server_id: str = ""
    # a cluster node's part of a match (docs/scaling.md "Match archive"): the match's
    # id shared by every node's part, the part's first tick, and the chain of the tick
    # before it (where `tickcast verify` starts); a whole match: "", 1, b""
    match_key: str = ""
    first_tick: int = 1
    base_chain: bytes = b""


@dataclass(frozen=True, slots=True)
class MatchEnd:
    id: int
    ended_at: float
    reason: str


@dataclass(frozen=True, slots=True)
class Kick:
    """A connection of a match's room that the server kicked."""

    match_id: int
    at: float
    player_id: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Presence:
    """Who joined and left a match's room in one tick, as the room knew when it built
    the tick (`joined`: (slot, player_id) pairs; `left`: slots; from its `TickRecord`).
    A log takes it from the caller and never parses frames for it."""

    match_id: int
    tick: int
    joined: tuple[tuple[int, str], ...] = ()
    left: tuple[int, ...] = ()


@dataclass(slots=True)
class Cycle:
    """Everything one tick cycle adds to the log: written as one transaction.

    `presence` holds the ticks' joins and leaves as the rooms recorded them, so a
    log never parses a frame to find them."""

    begins: list[MatchStart] = field(default_factory=list)
    ticks: list[tuple[int, int, bytes]] = field(default_factory=list)  # (match, number, frame)
    kicks: list[Kick] = field(default_factory=list)
    ends: list[MatchEnd] = field(default_factory=list)
    presence: list[Presence] = field(default_factory=list)

    def extend(self, other: Cycle) -> None:
        """Merge a later cycle into this one (group commit keeps the order)."""
        self.begins.extend(other.begins)
        self.ticks.extend(other.ticks)
        self.kicks.extend(other.kicks)
        self.ends.extend(other.ends)
        self.presence.extend(other.presence)


@dataclass(frozen=True, slots=True)
class MatchInfo:
    """One recorded match, as listed by `tickcast matches`."""

    id: int
    room: str
    started_at: float
    ended_at: float | None
    end_reason: str
    tick_rate: int
    players: list[str]
    tick_count: int
    server_id: str = ""
    match_key: str = ""
    first_tick: int = 1
    base_chain: bytes = b""

    @property
    def is_part(self) -> bool:
        """A part of a match that starts after its first tick (a cluster node took
        the room over mid-match): its chain continues from `base_chain`."""
        return self.first_tick > 1

    @property
    def live(self) -> bool:
        """Not ended: a running match, or one to restore after a crash."""
        return self.ended_at is None


class TickLog(Protocol):
    """A durable (or not) record of matches. See the module docstring."""

    def next_match_id(self) -> int:
        """An id no match of this log has used (the recorder assigns ids itself,
        so a cycle can begin a match and add its first tick without a round trip)."""
        ...

    def write_cycle(self, cycle: Cycle) -> None:
        """Write the cycle atomically: all of it or (on error, raised) none of it."""
        ...

    def read_ticks(
        self, match_id: int, first: int, last: int | None = None, limit: int = 256
    ) -> list[tuple[int, bytes]]:
        """Up to `limit` ticks numbered first..last (inclusive), in order."""
        ...

    def matches(self) -> list[MatchInfo]:
        """Every match, oldest first."""
        ...

    def match(self, match_id: int) -> MatchInfo | None: ...

    def kicks(self, match_id: int) -> list[Kick]: ...

    def prune(self, older_than: float | None, max_bytes: int | None) -> list[int]:
        """Delete ended matches that ended before `older_than` (a time.time()), then
        the oldest ended ones while the log is over `max_bytes`. Live matches are
        never pruned. Returns the ids deleted."""
        ...

    def size_bytes(self) -> int: ...

    def close(self) -> None: ...


def iter_ticks(
    log: TickLog, match_id: int, first: int = 1, chunk: int = 512
) -> Iterator[tuple[int, bytes]]:
    """Every tick of a match from `first`, read a chunk at a time (bounded memory)."""
    n = first
    while True:
        rows = log.read_ticks(match_id, n, None, chunk)
        if not rows:
            return
        yield from rows
        n = rows[-1][0] + 1


tick_of_frame = wire.decode_tick_frame
"""Parse a stored tick frame (length prefix + ServerMessage{tick})."""


@dataclass(slots=True)
class _MemoryMatch:
    start: MatchStart
    ended_at: float | None = None
    end_reason: str = ""
    players: list[str] = field(default_factory=list)
    ticks: dict[int, bytes] = field(default_factory=dict)


class MemoryTickLog:
    """A `TickLog` in memory: nothing survives the process. For tests, and the
    reference behaviour other logs must match. Thread-safe (one lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._matches: dict[int, _MemoryMatch] = {}
        self._kicks: list[Kick] = []
        self.cycles_written = 0

    def next_match_id(self) -> int:
        with self._lock:
            return max(self._matches, default=0) + 1

    def write_cycle(self, cycle: Cycle) -> None:
        with self._lock:
            for b in cycle.begins:
                self._matches[b.id] = _MemoryMatch(b)
            for match_id, number, frame in cycle.ticks:
                self._matches[match_id].ticks[number] = frame
            for presence in cycle.presence:
                m = self._matches[presence.match_id]
                for _, player_id in presence.joined:
                    if player_id not in m.players:
                        m.players.append(player_id)
            self._kicks.extend(cycle.kicks)
            for e in cycle.ends:
                ended = self._matches.get(e.id)
                if ended is not None:
                    ended.ended_at, ended.end_reason = e.ended_at, e.reason
            self.cycles_written += 1

    def read_ticks(
        self, match_id: int, first: int, last: int | None = None, limit: int = 256
    ) -> list[tuple[int, bytes]]:
        with self._lock:
            m = self._matches.get(match_id)
            ticks = m.ticks if m is not None else {}
            numbers = sorted(n for n in ticks if n >= first and (last is None or n <= last))
            return [(n, ticks[n]) for n in numbers[:limit]]

    def _info(self, match_id: int) -> MatchInfo:
        m = self._matches[match_id]
        return MatchInfo(
            id=match_id,
            room=m.start.room,
            started_at=m.start.started_at,
            ended_at=m.ended_at,
            end_reason=m.end_reason,
            tick_rate=m.start.tick_rate,
            players=list(m.players),
            tick_count=max(m.ticks, default=0),
            server_id=m.start.server_id,
            match_key=m.start.match_key,
            first_tick=m.start.first_tick,
            base_chain=m.start.base_chain,
        )

    def matches(self) -> list[MatchInfo]:
        with self._lock:
            return [self._info(i) for i in sorted(self._matches)]

    def match(self, match_id: int) -> MatchInfo | None:
        with self._lock:
            return self._info(match_id) if match_id in self._matches else None

    def kicks(self, match_id: int) -> list[Kick]:
        with self._lock:
            return [k for k in self._kicks if k.match_id == match_id]

    def size_bytes(self) -> int:
        with self._lock:
            return sum(len(f) for m in self._matches.values() for f in m.ticks.values())

    def prune(self, older_than: float | None, max_bytes: int | None) -> list[int]:
        with self._lock:
            ended = sorted(
                (m.ended_at, i) for i, m in self._matches.items() if m.ended_at is not None
            )
        deleted: list[int] = []
        for ended_at, i in ended:
            old = older_than is not None and ended_at < older_than
            over = bool(max_bytes) and self.size_bytes() > (max_bytes or 0)
            if not (old or over):
                break  # sorted by end time: nothing later is older, and size is fine
            with self._lock:
                del self._matches[i]
                self._kicks = [k for k in self._kicks if k.match_id != i]
            deleted.append(i)
        return deleted

    def close(self) -> None:
        pass
