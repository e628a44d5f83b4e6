"""Sans-I/O: the relay, which owns every room and open session of a process.

Transports create sessions with `open_session`; sessions report valid Hellos
and their end back here; the server's ticker calls `tick(now)` once per tick
interval while `ticking` is true. Nothing here does I/O or reads a clock, so a
whole relay (many sessions, many rooms) can be driven by a test with fake sinks
and a fake clock.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from time import perf_counter
from typing import Protocol

from tickcast.config import Config
from tickcast.errors import reason_name
from tickcast.outbox import Outbox, Sink
from tickcast.proto import pb
from tickcast.room import JoinRefused, Room
from tickcast.session import HelloRequest, Session
from tickcast.stats import Histogram

log = logging.getLogger("tickcast.relay")


class CycleRecorder(Protocol):
    """A durable tick log between produce and deliver (`tickcast.store.Recorder`)."""

    def record(self, produced: list[tuple[Room, bytes]], gone: list[Room]) -> None:
        """Commit one cycle (its ticks; `gone`: rooms closed now), then call
        `Relay.deliver(produced)`, later and in cycle order."""
        ...

    def kicked(self, session: Session) -> None:
        """The server ended `session` (its `close_reason`) while it was in a room."""
        ...


class Placement(Protocol):
    """Decides where a Hello's room lives (`tickcast.cluster`): on this node or another."""

    def hello(self, session: Session, hello: HelloRequest, now: float) -> bool:
        """True if it takes the Hello over (it will join, redirect or kick the
        session later); False to join it here now, as a single node does."""
        ...


class Relay:
    """Every room and session of one server process."""

    def __init__(self, config: Config, on_ticking: Callable[[], None] | None = None) -> None:
        self.config = config
        self.rooms: dict[str, Room] = {}
        self.sessions: set[Session] = set()
        self.closing = False
        self._on_ticking = on_ticking
        self.ticks_produced = 0
        # totals for /metrics of what has already gone (live rooms and sessions
        # are summed at scrape time): added to once per closed room or session
        self.inputs_of_closed_rooms = 0
        self.bytes_received_closed: Counter[str] = Counter()  # by transport
        self.bytes_sent_closed: Counter[str] = Counter()
        self.frames_sent_closed: Counter[str] = Counter()
        self.kicks: Counter[int] = Counter()  # by reason, Leave as REASON_UNSPECIFIED
        self.fanout_seconds = Histogram()
        self.recorder: CycleRecorder | None = None
        self.placement: Placement | None = None

    # ------------------------------------------------------------ sessions

    def open_session(
        self, sink: Sink, now: float, peer: str = "?", transport: str = "tcp"
    ) -> Session:
        """A new connection: its session, with an outbox writing to `sink`."""
        cfg = self.config
        outbox = Outbox(sink, cfg.queue_limit_bytes, cfg.queue_limit_ticks)
        session = Session(
            self,
            outbox,
            now,
            max_frame=cfg.max_frame,
            handshake_timeout=cfg.handshake_timeout,
            peer=peer,
            transport=transport,
        )
        self.sessions.add(session)
        if self.closing:
            session.kick(pb.REASON_SERVER_SHUTDOWN, "server shutting down")
        return session

    def session_hello(self, session: Session, hello: HelloRequest, now: float) -> None:
        session.player_id = hello.player_id
        if self.closing:
            session.kick(pb.REASON_SERVER_SHUTDOWN, "server shutting down")
            return
        if self.placement is not None and self.placement.hello(session, hello, now):
            return
        room = self.rooms.get(hello.room)
        created = room is None
        if room is None:
            room = Room(hello.room, self.config)
            room.created_at = now
        was_ticking = room.members > 0
        try:
            room.join(session, hello, now)
        except JoinRefused as refused:
            session.kick(refused.reason, refused.detail)
            return
        if created:
            self.rooms[hello.room] = room
            log.info("room %s opened", room.name)
        if not was_ticking and room.members > 0 and self._on_ticking is not None:
            self._on_ticking()

    def session_closed(self, session: Session) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        t = session.transport
        self.bytes_received_closed[t] += session.bytes_received
        stats = session.outbox.statistics()
        self.bytes_sent_closed[t] += stats.bytes_sent
        self.frames_sent_closed[t] += stats.frames_sent
        if session.end_reason >= 0:
            self.kicks[session.end_reason] += 1
        if self.recorder is not None and session.closed_room is not None:
            self.recorder.kicked(session)

    # ------------------------------------------------------------ time

    @property
    def ticking(self) -> bool:
        """True while some room has members (and so needs ticks)."""
        return any(r.members for r in self.rooms.values())

    def tick(self, now: float) -> None:
        """Produce the next tick of every room that has members, then deliver them.

        All rooms' ticks of one cycle are produced first and delivered after:
        this is the seam where a durable tick log commits the whole cycle in
        one transaction before any client receives any of it (write before
        send); see `tickcast.store`.
        """
        produced: list[tuple[Room, bytes]] = []
        gone: list[Room] = []
        for room in self.rooms.values():
            if room.needs_tick:
                frame = room.produce(now)
                if frame is not None:
                    produced.append((room, frame))
            if room.empty:
                gone.append(room)
        for room in gone:
            log.info("room %s closed (empty)", room.name)
            self.inputs_of_closed_rooms += self.rooms.pop(room.name).inputs_sequenced
        self.ticks_produced += len(produced)
        if self.recorder is not None:
            if produced or gone:
                self.recorder.record(produced, gone)
        elif produced:
            self.deliver(produced)

    def deliver(self, produced: list[tuple[Room, bytes]]) -> None:
        """Fan out one cycle's ticks (after the tick log has them, if there is one)."""
        start = perf_counter()
        for room, frame in produced:
            room.deliver(frame)
        self.fanout_seconds.observe(perf_counter() - start)

    def sweep(self, now: float) -> None:
        """Enforce handshake and idle timeouts on every session."""
        idle = self.config.idle_timeout
        for s in list(self.sessions):
            s.handle_timer(now, idle)

    # ------------------------------------------------------------ admin

    def close_room(self, name: str, reason: int = pb.REASON_ROOM_CLOSED) -> bool:
        room = self.rooms.pop(name, None)
        if room is None:
            return False
        log.info("room %s closed (%s)", name, reason_name(reason))
        self.inputs_of_closed_rooms += room.inputs_sequenced
        if self.recorder is not None:
            self.recorder.record([], [room])
        room.close(reason, "room closed")
        return True

    def adopt(self, room: Room) -> None:
        """Add a room built elsewhere (restored from a tick log, a replay)."""
        self.rooms[room.name] = room
        if room.members and self._on_ticking is not None:
            self._on_ticking()

    def shutdown(self) -> None:
        """Stop admitting; Kick{SERVER_SHUTDOWN} every session, in handshake too."""
        self.closing = True
        for s in list(self.sessions):
            s.kick(pb.REASON_SERVER_SHUTDOWN, "server shutting down")
        for room in self.rooms.values():
            self.inputs_of_closed_rooms += room.inputs_sequenced
        self.rooms.clear()
