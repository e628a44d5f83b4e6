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
from collections.abc import Callable, Mapping
from time import perf_counter
from types import MappingProxyType
from typing import Protocol

from tickcast.auth import Authenticator
from tickcast.config import Config
from tickcast.errors import JoinRefused, reason_name
from tickcast.logs import fields
from tickcast.outbox import Outbox, Sink
from tickcast.proto import pb
from tickcast.room import Room, TickRecord
from tickcast.security import CatchupBudget, receive_guard
from tickcast.session import HelloRequest, Session
from tickcast.stats import Histogram

log = logging.getLogger("tickcast.relay")


class TickCycle:
    """What one firing of the ticker produced, handed on as it is.

    - `records`: the ticks to send, one `TickRecord` per room, in room order;
    - `gone`: rooms closed in this cycle (emptied), after their last tick;
    - `produce_seconds`: the time production took; `Relay.deliver` adds the
      fan-out's and observes the sum as the cycle's tick duration, for every
      path (at once, or after a tick log has committed the cycle).
    """

    __slots__ = ("records", "gone", "produce_seconds")

    def __init__(
        self,
        records: list[TickRecord],
        gone: list[Room] | None = None,
        produce_seconds: float = 0.0,
    ) -> None:
        self.records = records
        self.gone: list[Room] = gone if gone is not None else []
        self.produce_seconds = produce_seconds

    def __repr__(self) -> str:
        return f"<TickCycle {len(self.records)} ticks, {len(self.gone)} rooms gone>"


class CycleRecorder(Protocol):
    """A durable tick log between produce and deliver (`tickcast.store.Recorder`)."""

    def record(self, cycle: TickCycle) -> None:
        """Commit one cycle (its ticks; the rooms it closed), then call
        `Relay.deliver(cycle)`, later and in cycle order."""
        ...

    def kicked(self, session: Session) -> None:
        """The server ended `session` (its `end_reason`) while it was in a room."""
        ...


class Placement(Protocol):
    """Decides where a Hello's room lives (`tickcast.cluster`): on this node or another."""

    def hello(self, session: Session, hello: HelloRequest, now: float) -> bool:
        """True if it takes the Hello over (it will join, redirect or kick the
        session later); False to join it here now, as a single node does."""
        ...


class Relay:
    """Every room and session of one server process."""

    def __init__(
        self,
        config: Config,
        on_ticking: Callable[[], None] | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self.config = config
        # raises ConfigError for open mode on a public address (the server must not start)
        self.auth = Authenticator.for_config(config) if auth is None else auth
        self.catchup = CatchupBudget(config.catchup_bytes_per_tick)
        self.rooms_refused = 0
        # the room table: only `add_room` and `remove_room` change it; others read
        # it through the `rooms` view (a rooms' totals go to the closed totals once)
        self._rooms: dict[str, Room] = {}
        self.rooms: Mapping[str, Room] = MappingProxyType(self._rooms)
        self.sessions: set[Session] = set()
        self.closing = False
        self._on_ticking = on_ticking
        self.ticks_produced = 0
        # totals for /metrics of what has already gone (live rooms and sessions
        # are summed at scrape time): added to once per closed room or session
        self.inputs_of_closed_rooms = 0
        self.history_let_go_closed = 0  # ticks closed rooms let go for --history-bytes
        self.bytes_received_closed: Counter[str] = Counter()  # by transport
        self.bytes_sent_closed: Counter[str] = Counter()
        self.frames_sent_closed: Counter[str] = Counter()
        self.kicks: Counter[int] = Counter()  # by reason; a Leave is not a kick:
        self.leaves = 0  # connections that ended with the client's Leave
        self.connections_opened: Counter[str] = Counter()  # sessions, by transport
        self.connections_closed: Counter[str] = Counter()
        self.rooms_opened = 0
        self.rooms_closed = 0
        self.fanout_seconds = Histogram()
        self.tick_seconds = Histogram()  # one cycle: sequencing + encoding + fan-out
        self.recorder: CycleRecorder | None = None
        self.placement: Placement | None = None

    # ------------------------------------------------------------ sessions

    def open_session(
        self, sink: Sink, now: float, peer: str = "?", transport: str = "tcp"
    ) -> Session:
        """A new connection: its session, with an outbox writing to `sink`."""
        cfg = self.config
        outbox = Outbox(sink, cfg.queue_limit_bytes, cfg.queue_limit_ticks)
        outbox.catchup_budget = self.catchup
        session = Session(
            self,
            outbox,
            now,
            max_frame=cfg.max_frame,
            handshake_timeout=cfg.handshake_timeout,
            max_name_bytes=cfg.max_name_bytes,
            peer=peer,
            transport=transport,
        )
        session.recv_guard = receive_guard(cfg, now)
        self.sessions.add(session)
        self.connections_opened[transport] += 1
        if self.closing:
            session.kick(pb.REASON_SERVER_SHUTDOWN, "server shutting down")
        return session

    def session_hello(self, session: Session, hello: HelloRequest, now: float) -> None:
        session.player_id = hello.player_id
        if self.closing:
            session.kick(pb.REASON_SERVER_SHUTDOWN, "server shutting down")
            return
        self.auth.verify(hello.token, hello.player_id, hello.room)  # raises AuthFailed
        if self.placement is not None and self.placement.hello(session, hello, now):
            return
        room = self._rooms.get(hello.room)
        created = room is None
        if room is None:
            if len(self._rooms) >= self.config.max_rooms:
                self.rooms_refused += 1
                session.kick(pb.REASON_ROOM_FULL, "the server hosts its maximum of rooms")
                return
            room = Room(hello.room, self.config)
            room.created_at = now
        was_ticking = room.members > 0
        try:
            room.join(session, hello, now)
        except JoinRefused as refused:
            session.kick(refused.reason, refused.detail)
            return
        if created:
            self._rooms[hello.room] = room
            self.rooms_opened += 1
            log.info("room opened %s", fields(room=room.name))
        if not was_ticking and room.members > 0 and self._on_ticking is not None:
            self._on_ticking()

    def session_closed(self, session: Session) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        m = session.membership  # ended now, or before (a Leave, REPLACED)
        room = m.room if m is not None else None
        if self.recorder is not None and room is not None:
            self.recorder.kicked(session)
        if room is not None and room.empty and not room.needs_tick:
            # e.g. the last spectator of a room without players: no tick will drop it
            if self.remove_room(room, "empty") and self.recorder is not None:
                self.recorder.record(TickCycle([], gone=[room]))  # its match ends
        t = session.transport
        self.bytes_received_closed[t] += session.bytes_received
        stats = session.outbox.statistics()
        self.bytes_sent_closed[t] += stats.bytes_sent
        self.frames_sent_closed[t] += stats.frames_sent
        self.connections_closed[t] += 1
        if session.left:
            self.leaves += 1
        elif session.end_reason >= 0:
            self.kicks[session.end_reason] += 1

    # ------------------------------------------------------------ time

    @property
    def ticking(self) -> bool:
        """True while some room needs a tick (members, or a last leave to announce)
        or is empty and waits for its tick phase to be dropped: with several
        phases, the firing that sees the last member go may be another phase's."""
        return any(r.needs_tick or r.empty for r in self._rooms.values())

    def steps_to_next_phase(self, phase: int, phases: int) -> int:
        """How many phases (1..phases) the ticker may move on from `phase` to reach
        the next one that has a room: it need not fire for phases without rooms
        (one room, eight phases: one firing per interval, not eight). With many
        rooms every phase almost surely has some, and the answer is 1 without
        looking at them all."""
        rooms = self._rooms
        if len(rooms) >= 4 * phases:
            return 1
        used = {room.phase for room in rooms.values()}
        for steps in range(1, phases + 1):
            if (phase + steps) % phases in used:
                return steps
        return 1

    def tick(self, now: float, phase: int | None = None) -> None:
        """Produce the next tick of every room that has members (of `phase` only,
        when given: see `Config.tick_phases`), then deliver them.

        All rooms' ticks of one cycle are produced first and delivered after:
        this is the seam where a durable tick log commits the whole cycle in
        one transaction before any client receives any of it (write before
        send); see `tickcast.store`.
        """
        start = perf_counter()
        self.catchup.refill()
        records: list[TickRecord] = []
        gone: list[Room] = []
        failed: list[str] = []
        for name, room in self._rooms.items():
            if phase is not None and room.phase != phase:
                continue
            try:
                record = room.produce(now)  # None when it needs no tick
                if record is not None:
                    records.append(record)
            except Exception:
                log.exception("room failed to produce a tick %s", fields(room=name))
                failed.append(name)
                continue
            if not room.members and not room.spectators:  # room.empty, inline
                gone.append(room)
        for room in gone:
            self.remove_room(room, "empty")  # the recorder hears of it with the cycle
        for name in failed:
            self.close_room(name, detail="room closed after an internal error")
        self.ticks_produced += len(records)
        produce_seconds = perf_counter() - start
        if self.recorder is not None:
            if records or gone:
                self.recorder.record(TickCycle(records, gone, produce_seconds))
        elif records:
            self.deliver(TickCycle(records, gone, produce_seconds))
        else:  # nothing to send: the cycle was its production
            self.tick_seconds.observe(produce_seconds)

    def deliver(self, cycle: TickCycle) -> None:
        """Fan out one cycle's ticks (after the tick log has them, if there is one),
        and observe the cycle's tick duration: its production and this fan-out."""
        start = perf_counter()
        records = cycle.records
        if records:
            for record in records:
                try:
                    record.room.deliver(record)
                except Exception:
                    # containment: a bug in one room closes that room, not the ticker
                    room = record.room
                    log.exception("room failed to deliver a tick %s", fields(room=room.name))
                    self.close_room(room.name, detail="room closed after an internal error")
            self.fanout_seconds.observe(perf_counter() - start)
        self.tick_seconds.observe(cycle.produce_seconds + perf_counter() - start)

    def sweep(self, now: float) -> None:
        """Enforce handshake and idle timeouts on every session."""
        idle = self.config.idle_timeout
        self.catchup.refill()  # rooms that no longer tick still finish their catch-ups
        for s in list(self.sessions):
            try:
                s.handle_timer(now, idle)
            except Exception:  # containment: one session's bug must not stop the sweep
                s.internal_error()

    # ------------------------------------------------------------ the room table

    def add_room(self, room: Room) -> None:
        """Add a room built elsewhere (restored from a tick log, a replay, a room a
        cluster node took over or mirrors); the ticker starts if it has members."""
        self._rooms[room.name] = room
        self.rooms_opened += 1
        if room.members and self._on_ticking is not None:
            self._on_ticking()

    def remove_room(self, room: Room, why: str) -> bool:
        """Take `room` out of the table (False if it is not there): it gets no more
        ticks, and its inputs move to the closed totals. Its sessions are the
        caller's to end, as is telling a tick log (the relay does for its own)."""
        if self._rooms.get(room.name) is not room:
            return False
        del self._rooms[room.name]
        self.rooms_closed += 1
        self.inputs_of_closed_rooms += room.inputs_sequenced
        self.history_let_go_closed += room.history.let_go
        log.info("room closed %s", fields(room=room.name, why=why))
        return True

    def close_room(
        self, name: str, reason: int = pb.REASON_ROOM_CLOSED, detail: str = "room closed"
    ) -> bool:
        """Close a room (the admin API, a room that failed): its match ends, and
        every session of it is kicked with `reason`."""
        room = self._rooms.get(name)
        if room is None or not self.remove_room(room, f"{reason_name(reason)}: {detail}"):
            return False
        if self.recorder is not None:
            self.recorder.record(TickCycle([], gone=[room]))
        room.close(reason, detail)
        return True

    def shutdown(self) -> None:
        """Stop admitting; Kick{SERVER_SHUTDOWN} every session, in handshake too."""
        self.closing = True
        for s in list(self.sessions):
            s.kick(pb.REASON_SERVER_SHUTDOWN, "server shutting down")
        for room in self._rooms.values():
            self.inputs_of_closed_rooms += room.inputs_sequenced
            self.history_let_go_closed += room.history.let_go
        self._rooms.clear()
