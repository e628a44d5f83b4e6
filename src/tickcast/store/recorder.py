"""The recorder: write before send on one writer thread, and restore after a restart.

The relay produces every room's tick of a cycle and hands the cycle to
`Recorder.record` instead of delivering it. The recorder turns it into a
`Cycle` (cheap: frames are already encoded) and queues it for its writer
thread, which commits it in one transaction and then asks the loop to deliver
it. So no client receives a tick the log does not have, and the loop never
waits for the disk.

Order and slow commits: one thread, a FIFO queue, and deliveries scheduled
with `call_soon_threadsafe` (FIFO too), so cycles are delivered in the order
they were produced. If a commit is slow, the cycles produced meanwhile queue
behind it and the thread commits all of them in the next transaction (group
commit): the ticker is never delayed, clients see the ticks late (latency),
never out of order and never lost. A backlog of over a second is logged.

A failing disk (full, I/O error, read-only): the failed cycle and every later
one is delivered without being recorded; the server keeps relaying, recording
stays off until a restart, and an ERROR says so. We chose the game over the
record: a full disk should not end every match on the server. What was
committed before stays consistent (a prefix of each match); after a restart a
resume past that prefix gets `RESUME_UNAVAILABLE`.

Restore: at start, every match still open in the log (the process died, or
shut down, with members in the room) is rebuilt by replaying its ticks
(`rebuild_room_state`); rooms with members wait for them for the reconnect
grace, and a match without members is ended at once.

Archive mode (`Recorder(config, archive=True)`, a cluster node): Redis is the
write-before-send log and the source of truth, so the recorder is not the
relay's recorder, restores nothing and delivers nothing. The cluster service
hands it each cycle's ticks *after* Redis accepted and delivered them
(`record`), and each part of a match it sequences (`begin_part`, `end_part`):
the same writer thread commits them behind the game (write-behind). A slow or
failing disk only grows `backlog` or stops archiving; rooms go on. At start it
ends the parts a crash left open as "interrupted", and does nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from tickcast import wire
from tickcast.config import Config
from tickcast.errors import reason_name
from tickcast.proto import pb
from tickcast.room import Player, Room
from tickcast.stats import percentile
from tickcast.store.log import (
    Cycle,
    Kick,
    MatchEnd,
    MatchStart,
    StoreError,
    TickLog,
    iter_ticks,
    rebuild_room_state,
)

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from tickcast.relay import Relay
    from tickcast.server import Server
    from tickcast.session import Session

log = logging.getLogger("tickcast.store")

CATCHUP_CHUNK_TICKS = 256
"""Ticks one catch-up read takes from the log: the memory a late joiner costs."""
GROUP_COMMIT_MAX = 256
"""Most cycles the writer merges into one transaction when it has fallen behind."""
ARCHIVE_BATCH_SECONDS = 0.1
"""Archive mode: how long the writer gathers cycles before one transaction. Nobody
waits for a write-behind archive, and with several tick phases a cycle comes
every few milliseconds: a transaction (and a wake-up of the loop) per cycle cost
a cluster node about a fifth of a core at the bench's `rooms` load."""
PRUNE_INTERVAL = 3600.0
WRITER_SWITCH_INTERVAL = 0.0005
"""sys.setswitchinterval while recording: how long the writer may wait for the GIL."""


class _Queued(NamedTuple):
    cycle: Cycle
    produced: list[tuple[Room, bytes]]
    queued_at: float  # time.perf_counter(): the loop's clock may tick in whole ms (uvloop)


_STOP = None  # queued by close(): the writer commits what is before it and ends


def tick_number(frame: bytes) -> int:
    """The number of an encoded tick frame: `Tick.number` (field 1, never 0) comes first."""
    pos = wire.prefix_length(frame) + 1  # skip the length and ServerMessage.tick's tag
    _, pos = wire.decode_varint(frame, pos)  # the Tick's length
    return wire.decode_varint(frame, pos + 1)[0]  # skip Tick.number's tag


class LogArchive:
    """A room's older ticks, read from the log (`room.Archive`)."""

    def __init__(self, reader: TickLog, match_id: int, first: int = 1) -> None:
        self.log = reader
        self.match_id = match_id
        self.first = first  # a part of a match (cluster archive) starts later

    def first_kept(self) -> int:
        return self.first

    def reader(self, room: Room) -> LogCatchup:
        return LogCatchup(self.log, self.match_id, room, self.first)


class LogCatchup:
    """One connection's catch-up source: the log a chunk at a time for ticks older than
    the room's ring, the ring for recent ones. Holds at most one chunk."""

    __slots__ = ("log", "match_id", "room", "first", "_chunk", "_lo", "_hi", "reads", "max_chunk")

    def __init__(self, reader: TickLog, match_id: int, room: Room, first: int = 1) -> None:
        self.first = first
        self.log = reader
        self.match_id = match_id
        self.room = room
        self._chunk: dict[int, bytes] = {}
        self._lo = self._hi = 0  # the chunk covers _lo.._hi-1
        self.reads = 0
        self.max_chunk = 0

    def first_kept(self) -> int:
        return self.first

    def last_sent(self) -> int:
        return self.room.last_sent()

    def frame(self, number: int) -> bytes | None:
        room = self.room
        ring_first = room.ring_first()
        if number >= ring_first:
            self._chunk = {}
            return room.frame(number)
        if not self._lo <= number < self._hi:
            hi = min(ring_first, number + CATCHUP_CHUNK_TICKS)
            rows = self.log.read_ticks(self.match_id, number, hi - 1, CATCHUP_CHUNK_TICKS)
            self._chunk = dict(rows)
            self._lo, self._hi = number, hi
            self.reads += 1
            self.max_chunk = max(self.max_chunk, len(rows))
        return self._chunk.get(number)


class Recorder:
    """A server `Service`: the tick log's writer thread. See the module docstring."""

    observes_tick_seconds = True
    """The server's tick duration histogram is observed here, not by its ticker: a
    cycle is produced, committed, then fanned out, and its tick duration is the
    loop's time for it (production + fan-out), without the wait for the disk."""

    def __init__(
        self,
        config: Config,
        open_log: Callable[[], TickLog] | None = None,
        open_reader: Callable[[], TickLog] | None = None,
        *,
        archive: bool = False,
    ) -> None:
        self.config = config
        self.archive_mode = archive
        self._dir_lock: IO[str] | None = None  # archive mode: this node's data dir
        if open_log is None:
            from tickcast.store.sqlite import SQLiteTickLog

            def open_log() -> TickLog:
                lg = SQLiteTickLog(
                    config.data_dir,
                    durability=config.durability,
                    check=True,
                    background_checkpoints=True,
                )
                if archive:  # nodes sharing a dir would assign the same match ids
                    try:
                        self._dir_lock = _lock_data_dir(config.data_dir)
                    except StoreError:
                        lg.close()
                        raise
                return lg

            def open_reader() -> TickLog:
                return SQLiteTickLog(config.data_dir, create=False)

        self._open_log = open_log
        self._open_reader = open_reader
        self.log: TickLog | None = None
        self.reader: TickLog | None = None
        self._relay: Relay | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._matches: dict[Room, int] = {}  # open matches of live rooms
        self._next_id = 1
        # cycles queued, not yet delivered (oldest first): when each was queued
        # (time.perf_counter(): the writer's lag) and how long the relay took to
        # produce it (its tick duration)
        self._in_flight: deque[tuple[float, float]] = deque()
        self._server: Server | None = None
        self._kicks: list[Kick] = []
        self._last_prune = 0.0
        self.failed: BaseException | None = None  # seen by the loop
        self._broken: BaseException | None = None  # seen by the writer thread
        self.cycles_committed = 0
        self.commits = 0
        self.max_backlog = 0
        self.rooms_restored = 0
        # seconds from record() to delivery, per cycle: the latency write before send adds
        self.delays: deque[float] = deque(maxlen=100_000)
        # where that delay goes: queue to writer pickup, the commit, commit to delivery
        self.stages: dict[str, deque[float]] = {
            k: deque(maxlen=100_000) for k in ("pickup", "commit", "wakeup")
        }

    # ------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Open (and check) the log; raises StoreError. Call before listening, so a
        bad data dir or a damaged database stops the server before it accepts anyone."""
        if self.log is not None:
            return
        self.log = self._open_log()
        self.reader = self._open_reader() if self._open_reader is not None else self.log
        self._next_id = self.log.next_match_id()

    async def start(self, server: Server) -> None:
        # Nothing here awaits before the relay has its restored rooms: the listener
        # is open already, but no Hello can be handled until we yield.
        self.open()
        assert self.log is not None
        self._loop = asyncio.get_running_loop()
        self._prune()
        restored = 0
        if self.archive_mode:  # Redis restores rooms; we only write behind it
            self._end_interrupted()
        else:
            self._relay = relay = server.relay
            self._server = server
            restored = self._restore(relay, self._loop.time())
            relay.recorder = self
        # The writer needs the GIL back after every SQLite call; a busy loop keeps it
        # for a whole switch interval (default 5 ms) each time, several times a cycle.
        # Not in archive mode: there the writer is behind the game by design, and the
        # loop should not hand the GIL over more often for it.
        if not self.archive_mode and sys.getswitchinterval() > WRITER_SWITCH_INTERVAL:
            sys.setswitchinterval(WRITER_SWITCH_INTERVAL)
        self._thread = threading.Thread(target=self._run, name="tickcast-store", daemon=True)
        self._thread.start()
        if restored:
            log.info("restored %d room(s) from %s", restored, self.describe())

    def summary(self) -> str:
        """Counters and the delay write before send added, for the closing log line."""
        text = (
            f"{self.cycles_committed} cycles in {self.commits} commits, "
            f"max backlog {self.max_backlog}"
        )
        for name, values in [("record-to-deliver delay", self.delays), *self.stages.items()]:
            if len(values) >= 2:
                ordered = sorted(values)
                text += (
                    f"; {name} p50 {percentile(ordered, 50) * 1e3:.2f} ms, "
                    f"p99 {percentile(ordered, 99) * 1e3:.2f} ms, max {ordered[-1] * 1e3:.2f} ms"
                )
        return text

    def describe(self) -> str:
        return str(getattr(self.log, "path", type(self.log).__name__))

    def close(self) -> None:
        if self._thread is not None:
            if self._kicks and self.failed is None:
                now = time.perf_counter()
                self._in_flight.append((now, 0.0))
                self._queue.put(_Queued(Cycle(kicks=self._kicks), [], now))
                self._kicks = []
            self._queue.put(_STOP)

    async def wait_closed(self, timeout: float | None = None) -> None:
        """Wait for the writer to commit what is queued and stop. With `timeout`
        (a cluster node's write-behind archive, whose data Redis also holds), give
        up after that long: the writer is left to the process exit (a daemon
        thread) and its log is not closed under it."""
        thread = self._thread
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, timeout)
            if thread.is_alive():
                log.error(
                    "tick log: the writer did not finish within %.1f s (a stalled disk?); "
                    "leaving it", timeout or 0.0,
                )
                return
            self._thread = None
            log.info("tick log: %s", self.summary())
        for lg in {id(x): x for x in (self.reader, self.log) if x is not None}.values():
            lg.close()
        self.log = self.reader = None
        if self._dir_lock is not None:
            self._dir_lock.close()
            self._dir_lock = None

    @property
    def _pending(self) -> int:
        """Cycles queued for the writer, not yet committed and delivered."""
        return len(self._in_flight)

    @property
    def backlog(self) -> int:
        """Cycles queued for the writer, not yet committed (a second's worth: lag)."""
        return self._pending

    @property
    def lag(self) -> float:
        """Seconds the oldest cycle not yet committed and delivered has waited (0: caught up)."""
        in_flight = self._in_flight
        return time.perf_counter() - in_flight[0][0] if in_flight else 0.0

    # ------------------------------------------------------------ HTTP side hooks

    def readiness_problem(self) -> str | None:
        """For /readyz: the tick log must be writable (a failed write turns recording
        off until a restart) and its writer running."""
        if self.failed is not None:
            return f"the tick log is not writable: {self.failed}"
        if self._thread is None or not self._thread.is_alive():
            return "the tick log writer is not running"
        return None

    def metrics(self) -> Iterator[Metric]:
        """For /metrics (the HTTP side collects it at every scrape)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield GaugeMetricFamily(
            "tickcast_log_writer_lag_seconds",
            "how long the oldest tick cycle not yet committed to the tick log has waited "
            "(its clients wait as long: write before send)",
            value=self.lag,
        )
        yield GaugeMetricFamily(
            "tickcast_log_writer_backlog_cycles",
            "tick cycles queued for the tick log writer, not yet committed",
            value=self._pending,
        )
        yield GaugeMetricFamily(
            "tickcast_log_writable",
            "1 while the tick log accepts writes; 0 after a write failed (recording is off "
            "until a restart)",
            value=int(self.failed is None),
        )
        yield CounterMetricFamily(
            "tickcast_log_commits", "transactions committed to the tick log", value=self.commits
        )
        yield CounterMetricFamily(
            "tickcast_log_cycles_committed",
            "tick cycles committed to the tick log", value=self.cycles_committed,
        )

    # ------------------------------------------------------------ restore

    def _end_interrupted(self) -> None:
        """Archive mode: parts still open were cut short by a crash of this node."""
        assert self.log is not None
        now = time.time()
        ends = [MatchEnd(m.id, now, "interrupted") for m in self.log.matches() if m.live]
        if ends:
            self.log.write_cycle(Cycle(ends=ends))
            log.info("tick log: %d part(s) left open by a crash ended as interrupted", len(ends))

    def _restore(self, relay: Relay, now: float) -> int:
        assert self.log is not None and self.reader is not None
        ends: list[MatchEnd] = []
        restored = 0
        for match in self.log.matches():
            if not match.live:
                continue
            try:
                state = rebuild_room_state(
                    match, iter_ticks(self.reader, match.id), self.config.history_ticks
                )
            except Exception as exc:  # a frame that does not decode: not restorable
                log.error(
                    "match %d (room %s) cannot be restored: %s; it is ended, its ticks are "
                    "kept (check them with `tickcast verify %d`)",
                    match.id,
                    match.room,
                    exc,
                    match.id,
                )
                ends.append(MatchEnd(match.id, time.time(), "unreadable at restart"))
                continue
            if not state.members or match.room in relay.rooms:
                ends.append(MatchEnd(match.id, time.time(), "no members at restart"))
                continue
            players = []
            for ps in state.players.values():
                p = Player(ps.player_id, ps.slot)
                p.last_seq, p.member = ps.last_seq, ps.member
                p.join_tick, p.left_tick = ps.join_tick, ps.left_tick
                players.append(p)
            room = Room.restored(
                match.room,
                self.config,
                last_tick=state.last_tick,
                chain=state.chain,
                players=players,
                history=state.history,
                now=now,
            )
            room.archive = LogArchive(self.reader, match.id)
            self._matches[room] = match.id
            relay.adopt(room)
            restored += 1
            log.info(
                "restored room %s (match %d) at tick %d with %d member(s); they have %g s "
                "to come back",
                match.room,
                match.id,
                state.last_tick,
                len(state.members),
                self.config.reconnect_grace,
            )
        if ends:
            self.log.write_cycle(Cycle(ends=ends))
        self.rooms_restored = restored
        return restored

    # ------------------------------------------------------------ the loop side

    def record(self, produced: list[tuple[Room, bytes]], gone: list[Room]) -> None:
        """Queue one cycle for the writer; its ticks are delivered after the commit."""
        cycle = Cycle()
        if self._kicks:
            cycle.kicks, self._kicks = self._kicks, []
        matches = self._matches
        for room, frame in produced:
            match_id = matches.get(room)
            if match_id is None:
                if self.archive_mode:
                    continue  # no part begun (archiving failed at its start): nothing to add to
                match_id = self._begin(room, cycle)
            cycle.ticks.append((match_id, tick_number(frame), frame))
        for room in gone:
            match_id = matches.pop(room, None)
            if match_id is not None:
                reason = "closed" if room.members else "empty"
                cycle.ends.append(MatchEnd(match_id, time.time(), reason))
        self._enqueue(cycle, produced)

    def _enqueue(self, cycle: Cycle, produced: list[tuple[Room, bytes]]) -> None:
        if self.failed is not None or self._thread is None:
            if produced and self._relay is not None:
                self._deliver(self._relay, produced, self._relay.produce_seconds)
            return
        now = time.perf_counter()
        produce = self._relay.produce_seconds if self._relay is not None else 0.0
        self._in_flight.append((now, produce))
        if self._pending > self.max_backlog:
            self.max_backlog = self._pending
            if self._pending == self.config.tick_rate:
                log.warning("tick log is a second behind (%d cycles queued)", self._pending)
        self._queue.put(_Queued(cycle, produced, now))

    def begin_part(
        self,
        room: Room,
        match_key: str,
        first_tick: int,
        base_chain: bytes,
        ticks: list[tuple[int, bytes]],
    ) -> None:
        """Archive mode: this node sequences `room` from now on; its part of match
        `match_key` starts at `first_tick` with the ticks it restored (`ticks`,
        already in Redis: they cover what a crashed owner may not have archived)."""
        cycle = Cycle()
        match_id = self._begin(room, cycle, match_key, first_tick, base_chain)
        cycle.ticks = [(match_id, number, frame) for number, frame in ticks]
        self._enqueue(cycle, [])

    def end_part(self, room: Room, reason: str) -> None:
        """Archive mode: this node stops sequencing `room` (moved, drained, shut down)."""
        match_id = self._matches.pop(room, None)
        if match_id is not None:
            cycle = Cycle(ends=[MatchEnd(match_id, time.time(), reason)])
            if self._kicks:
                cycle.kicks, self._kicks = self._kicks, []
            self._enqueue(cycle, [])

    def kicked(self, session: Session) -> None:
        """Record a kick (not a Leave) of a session of a recorded room."""
        room = session.closed_room
        match_id = self._matches.get(room) if room is not None else None
        if match_id is None or session.end_reason <= pb.REASON_UNSPECIFIED:  # Leave, or not us
            return
        kick = Kick(
            match_id,
            time.time(),
            session.player_id,
            reason_name(session.end_reason),
            session.close_detail,
        )
        self._kicks.append(kick)  # written with the next cycle (or at close)

    def _begin(
        self, room: Room, cycle: Cycle, match_key: str = "", first_tick: int = 1,
        base_chain: bytes = b"",
    ) -> int:
        match_id = self._next_id
        self._next_id += 1
        self._matches[room] = match_id
        cycle.begins.append(
            MatchStart(
                match_id, room.name, room.tick_rate, time.time(), self.config.server_id,
                match_key, first_tick, base_chain,
            )
        )
        if self.reader is not None and not self.archive_mode:  # write-behind: not for catch-up
            room.archive = LogArchive(self.reader, match_id)
        what = f"part of match {match_key} from tick {first_tick}" if match_key else "match"
        log.info("room %s: %s %d begins", room.name, what, match_id)
        return match_id

    def _delivered(
        self,
        batch: list[list[tuple[Room, bytes]]],
        queued: list[float],
        error: BaseException | None,
        committed_at: float = 0.0,
    ) -> None:
        in_flight = [self._in_flight.popleft() for _ in batch]
        now = time.perf_counter()
        if committed_at:
            self.stages["wakeup"].append(now - committed_at)
        self.delays.extend(now - t for t, p in zip(queued, batch, strict=True) if p)
        if error is not None and self.failed is None:
            self.failed = error
            for room in self._matches:
                room.archive = None  # the log misses ticks from here on: the ring only
            log.error(
                "tick log %s: write failed (%s); relaying goes on WITHOUT recording until "
                "a restart: free disk space or fix the data dir, then restart",
                self.describe(),
                error,
            )
        relay = self._relay
        if relay is None:
            return
        for produced, (_, produce_seconds) in zip(batch, in_flight, strict=True):
            if produced:
                self._deliver(relay, produced, produce_seconds)

    def _deliver(
        self, relay: Relay, produced: list[tuple[Room, bytes]], produce_seconds: float
    ) -> None:
        start = time.perf_counter()
        relay.deliver(produced)
        if self._server is not None:
            self._server.tick_seconds.observe(produce_seconds + time.perf_counter() - start)

    # ------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        q = self._queue
        assert self.log is not None and self._loop is not None
        loop = self._loop
        stop = False
        while not stop:
            items = [q.get()]
            if self.archive_mode and items[0] is not None:
                time.sleep(ARCHIVE_BATCH_SECONDS)  # let a batch gather (see above)
            picked_at = time.perf_counter()
            while len(items) < GROUP_COMMIT_MAX:
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    break
            cycle = Cycle()
            batch: list[list[tuple[Room, bytes]]] = []
            queued: list[float] = []
            for item in items:
                if item is None:
                    stop = True
                    continue
                cycle.extend(item.cycle)
                batch.append(item.produced)
                queued.append(item.queued_at)
            if queued:
                self.stages["pickup"].append(picked_at - queued[0])
            error: BaseException | None = None
            if batch and self._broken is None:
                try:
                    self.log.write_cycle(cycle)
                    self.stages["commit"].append(time.perf_counter() - picked_at)
                    self.commits += 1
                    self.cycles_committed += sum(1 for p in batch if p)
                except Exception as exc:  # disk full, I/O error, read-only file...
                    error = self._broken = exc
            if batch:
                try:
                    loop.call_soon_threadsafe(
                        self._delivered, batch, queued, error, time.perf_counter()
                    )
                except RuntimeError:  # the loop is closed: nobody to deliver to
                    return
            if self._broken is None:
                self._maybe_prune()

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune >= PRUNE_INTERVAL:
            try:
                self._prune()
            except Exception as exc:  # pruning is housekeeping: never fatal
                log.warning("tick log pruning failed: %s", exc)

    def _prune(self) -> None:
        assert self.log is not None
        self._last_prune = time.monotonic()
        cfg = self.config
        if not (cfg.retention_days or cfg.max_data_bytes):
            return
        older = time.time() - cfg.retention_days * 86400 if cfg.retention_days else None
        deleted = self.log.prune(older, cfg.max_data_bytes or None)
        if deleted:
            log.info("tick log: pruned %d ended match(es): %s", len(deleted), deleted)


def _lock_data_dir(data_dir: str) -> IO[str]:
    """An exclusive lock on a cluster node's data dir, held while it archives."""
    import fcntl

    lock = open(Path(data_dir) / "archive.lock", "w")  # noqa: SIM115 (held until close)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise StoreError(
            f"another process archives into {data_dir}: give every cluster node its own "
            "--data-dir"
        ) from None
    return lock


def open_recorder(config: Config, *, archive: bool = False) -> Recorder:
    """The recorder `tickcast serve` runs, with its log opened and checked (StoreError);
    `archive`: a cluster node's write-behind archive (see the module docstring)."""
    recorder = Recorder(config, archive=archive)
    recorder.open()
    return recorder


__all__ = ["LogArchive", "LogCatchup", "Recorder", "StoreError", "open_recorder", "tick_number"]
