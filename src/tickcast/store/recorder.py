"""Writing the tick log on one writer thread, in the two roles a server gives it.

`LogWriter` is what both roles share: the log opened and checked, one writer
thread fed by a FIFO queue, group commit, retention, the backlog and lag. The
loop hands it `TickRecord`s as the rooms produced them (number, frame, joined,
left): a cycle becomes a log `Cycle` at the cost of a few tuples, and nothing
is decoded again.

`Recorder` (a single node; the relay's recorder): write before send. The
relay hands it each cycle instead of delivering it; the writer commits it in
one transaction and then asks the loop to deliver it. So no client receives a
tick the log does not have, and the loop never waits for the disk. At start it
restores every match still open in the log (the process died, or shut down,
with members in the room) by replaying its ticks (`restore.replay_ticks`): rooms
with members wait for them for the reconnect grace, and a match without
members is ended at once.

`MatchArchive` (a cluster node): Redis is the write-before-send log and the
source of truth, so the archive restores nothing and delivers nothing. The
cluster hands it each cycle's ticks *after* Redis accepted and delivered them
(`archive`), and each part of a match it sequences (`begin_part`, `end_part`):
the writer commits them behind the game (write-behind). A slow or failing disk
only grows `backlog` or stops archiving; rooms go on. At start it ends the
parts a crash left open as "interrupted", and does nothing else.

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

from tickcast.config import Config
from tickcast.errors import reason_name
from tickcast.logs import fields
from tickcast.outbox import CATCHUP_CHUNK_BYTES
from tickcast.proto import pb
from tickcast.restore import replay_ticks
from tickcast.room import Room, TickRecord
from tickcast.stats import percentile
from tickcast.store.log import (
    Cycle,
    Kick,
    MatchEnd,
    MatchStart,
    Presence,
    StoreError,
    TickLog,
    iter_ticks,
    tick_of_frame,
)

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from tickcast.relay import Relay, TickCycle
    from tickcast.server import Server
    from tickcast.session import Session

log = logging.getLogger("tickcast.store")

CATCHUP_CHUNK_TICKS = 256
"""Ticks one catch-up read takes from the log: the memory a late joiner costs."""
GROUP_COMMIT_MAX = 256
"""Most cycles the writer merges into one transaction when it has fallen behind."""
ARCHIVE_BATCH_SECONDS = 0.1
"""The archive: how long the writer gathers cycles before one transaction. Nobody
waits for a write-behind archive, and with several tick phases a cycle comes
every few milliseconds: a transaction (and a wake-up of the loop) per cycle cost
a cluster node about a fifth of a core at the bench's `rooms` load."""
PRUNE_INTERVAL = 3600.0
WRITER_SWITCH_INTERVAL = 0.0005
"""sys.setswitchinterval while recording: how long the writer may wait for the GIL."""


class _Queued(NamedTuple):
    cycle: Cycle
    produced: TickCycle | None  # what to deliver once committed (None: nothing)
    queued_at: float  # time.perf_counter(): the loop's clock may tick in whole ms (uvloop)


_STOP = None  # queued by close(): the writer commits what is before it and ends


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

    __slots__ = (
        "log", "match_id", "room", "first", "_chunk", "_lo", "_hi", "reads", "max_chunk",
        "chunk_bytes",
    )  # fmt: skip

    def __init__(self, reader: TickLog, match_id: int, room: Room, first: int = 1) -> None:
        self.first = first
        self.log = reader
        self.match_id = match_id
        self.room = room
        self._chunk: dict[int, bytes] = {}
        self._lo = self._hi = 0  # the chunk covers _lo.._hi-1
        self.reads = 0
        self.max_chunk = 0
        self.chunk_bytes = 0  # of the ticks in _chunk

    def first_kept(self) -> int:
        return self.first

    def last_sent(self) -> int:
        return self.room.last_sent()

    def frame(self, number: int) -> bytes | None:
        room = self.room
        ring_first = room.history.first(room.next)
        if number >= ring_first:
            self._chunk = {}
            self.chunk_bytes = 0
            return room.frame(number)
        if not self._lo <= number < self._hi:
            hi = min(ring_first, number + CATCHUP_CHUNK_TICKS)
            rows = self.log.read_ticks(self.match_id, number, hi - 1, CATCHUP_CHUNK_TICKS)
            # at most a chunk of bytes stays held (the memory budget): large ticks
            # make a chunk of fewer ticks, never fewer than one
            kept, size = 0, 0
            while kept < len(rows) and (not kept or size < CATCHUP_CHUNK_BYTES):
                size += len(rows[kept][1])
                kept += 1
            if kept < len(rows):
                hi = rows[kept][0]  # the chunk covers number .. hi - 1
                rows = rows[:kept]
            self._chunk = dict(rows)
            self.chunk_bytes = size
            self._lo, self._hi = number, hi
            self.reads += 1
            self.max_chunk = max(self.max_chunk, len(rows))
        return self._chunk.get(number)


class LogWriter:
    """The tick log and its writer thread: what both roles share (module docstring)."""

    batch_seconds = 0.0
    """How long the writer gathers cycles before a transaction (0: at once)."""

    def __init__(
        self,
        config: Config,
        open_log: Callable[[], TickLog] | None = None,
        open_reader: Callable[[], TickLog] | None = None,
    ) -> None:
        self.config = config
        self._open_log = open_log or self._open_sqlite
        self._open_reader = open_reader if open_log is not None else self._open_sqlite_reader
        self.log: TickLog | None = None
        self.reader: TickLog | None = None
        self._relay: Relay | None = None  # the relay to deliver to (write before send)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._matches: dict[Room, int] = {}  # open matches of live rooms
        self._next_id = 1
        # cycles queued, not yet delivered (oldest first): when each was queued
        # (time.perf_counter(): the writer's lag)
        self._in_flight: deque[float] = deque()
        self._kicks: list[Kick] = []
        self._last_prune = 0.0
        self.failed: BaseException | None = None  # seen by the loop
        self._broken: BaseException | None = None  # seen by the writer thread
        self.cycles_committed = 0
        self.commits = 0
        self.max_backlog = 0
        # seconds from record() to delivery, per cycle: the latency write before send adds
        self.delays: deque[float] = deque(maxlen=100_000)
        # where that delay goes: queue to writer pickup, the commit, commit to delivery
        self.stages: dict[str, deque[float]] = {
            k: deque(maxlen=100_000) for k in ("pickup", "commit", "wakeup")
        }

    def _open_sqlite(self) -> TickLog:
        from tickcast.store.sqlite import SQLiteTickLog

        cfg = self.config
        return SQLiteTickLog(
            cfg.data_dir, durability=cfg.durability, check=True, background_checkpoints=True
        )

    def _open_sqlite_reader(self) -> TickLog:
        from tickcast.store.sqlite import SQLiteTickLog

        return SQLiteTickLog(self.config.data_dir, create=False)

    # ------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Open (and check) the log; raises StoreError. Call before listening, so a
        bad data dir or a damaged database stops the server before it accepts anyone."""
        if self.log is not None:
            return
        self.log = self._open_log()
        self.reader = self._open_reader() if self._open_reader is not None else self.log
        self._next_id = self.log.next_match_id()

    def _start_writer(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="tickcast-store", daemon=True)
        self._thread.start()

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
                self._in_flight.append(now)
                self._queue.put(_Queued(Cycle(kicks=self._kicks), None, now))
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
                    "tick log: the writer did not finish in time (a stalled disk?); "
                    "leaving it %s", fields(seconds=timeout or 0.0),
                )
                return
            self._thread = None
            log.info("tick log closed %s", fields(summary=self.summary()))
        for lg in {id(x): x for x in (self.reader, self.log) if x is not None}.values():
            lg.close()
        self.log = self.reader = None

    @property
    def backlog(self) -> int:
        """Cycles queued for the writer, not yet committed (a second's worth: lag)."""
        return len(self._in_flight)

    @property
    def lag(self) -> float:
        """Seconds the oldest cycle not yet committed and delivered has waited (0: caught up)."""
        in_flight = self._in_flight
        return time.perf_counter() - in_flight[0] if in_flight else 0.0

    # ------------------------------------------------------------ the loop side

    def kicked(self, session: Session) -> None:
        """Record a kick (not a Leave) of a session of a recorded room."""
        m = session.membership
        match_id = self._matches.get(m.room) if m is not None else None
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

    def _log_cycle(self, records: list[TickRecord], gone: list[Room]) -> Cycle:
        """What the log writes of a cycle: the rooms' records as they are (numbers,
        frames, presence), the kicks since the last cycle, the matches that end."""
        cycle = Cycle()
        if self._kicks:
            cycle.kicks, self._kicks = self._kicks, []
        matches = self._matches
        for rec in records:
            room = rec.room
            match_id = matches.get(room)
            if match_id is None:
                match_id = self._first_tick(room, cycle)
                if match_id is None:
                    continue
            cycle.ticks.append((match_id, rec.number, rec.frame))
            if rec.joined or rec.left:
                cycle.presence.append(
                    Presence(match_id, rec.number, tuple(rec.joined), tuple(rec.left))
                )
        for room in gone:
            match_id = matches.pop(room, None)
            if match_id is not None:
                reason = "closed" if room.members else "empty"
                cycle.ends.append(MatchEnd(match_id, time.time(), reason))
        return cycle

    def _first_tick(self, room: Room, cycle: Cycle) -> int | None:
        """A room without an open match in the log produced a tick: the match to
        record it in (None: not recorded)."""
        return None

    def _enqueue(self, cycle: Cycle, produced: TickCycle | None) -> None:
        if self.failed is not None or self._thread is None:
            if produced is not None and produced.records and self._relay is not None:
                self._relay.deliver(produced)
            return
        now = time.perf_counter()
        self._in_flight.append(now)
        backlog = len(self._in_flight)
        if backlog > self.max_backlog:
            self.max_backlog = backlog
            if backlog == self.config.tick_rate:
                log.warning("tick log is a second behind %s", fields(cycles_queued=backlog))
        self._queue.put(_Queued(cycle, produced, now))

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
        part = {"cluster_match": match_key, "from_tick": first_tick} if match_key else {}
        log.info("match begins %s", fields(room=room.name, match=match_id, **part))
        return match_id

    def _delivered(
        self,
        batch: list[TickCycle | None],
        queued: list[float],
        error: BaseException | None,
        committed_at: float = 0.0,
    ) -> None:
        for _ in batch:
            self._in_flight.popleft()
        now = time.perf_counter()
        if committed_at:
            self.stages["wakeup"].append(now - committed_at)
        self.delays.extend(
            now - t for t, p in zip(queued, batch, strict=True) if p is not None and p.records
        )
        if error is not None and self.failed is None:
            self.failed = error
            for room in self._matches:
                room.archive = None  # the log misses ticks from here on: the ring only
            log.error(
                "tick log: write failed; relaying goes on WITHOUT recording until a restart: "
                "free disk space or fix the data dir, then restart %s",
                fields(log=self.describe(), error=error),
            )
        relay = self._relay
        if relay is None:
            return
        for produced in batch:
            if produced is not None and produced.records:
                relay.deliver(produced)

    # ------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        q = self._queue
        assert self.log is not None and self._loop is not None
        loop = self._loop
        stop = False
        while not stop:
            items = [q.get()]
            if self.batch_seconds and items[0] is not None:
                time.sleep(self.batch_seconds)  # let a batch gather (see above)
            picked_at = time.perf_counter()
            while len(items) < GROUP_COMMIT_MAX:
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    break
            cycle = Cycle()
            batch: list[TickCycle | None] = []
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
                    self.cycles_committed += sum(1 for p in batch if p is not None and p.records)
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
                log.warning("tick log pruning failed %s", fields(error=exc))

    def _prune(self) -> None:
        assert self.log is not None
        self._last_prune = time.monotonic()
        cfg = self.config
        if not (cfg.retention_days or cfg.max_data_bytes):
            return
        older = time.time() - cfg.retention_days * 86400 if cfg.retention_days else None
        deleted = self.log.prune(older, cfg.max_data_bytes or None)
        if deleted:
            log.info(
                "tick log: pruned ended matches %s",
                fields(count=len(deleted), matches=",".join(map(str, deleted))),
            )


class Recorder(LogWriter):
    """A server `Service` (one node): write before send, restore after a restart."""

    rooms_restored = 0  # at the last start

    async def start(self, server: Server) -> None:
        # Nothing here awaits before the relay has its restored rooms: the listener
        # is open already, but no Hello can be handled until we yield.
        self.open()
        self._prune()
        self._relay = relay = server.relay
        restored = self._restore(relay, asyncio.get_running_loop().time())
        relay.recorder = self
        # The writer needs the GIL back after every SQLite call; a busy loop keeps it
        # for a whole switch interval (default 5 ms) each time, several times a cycle.
        if sys.getswitchinterval() > WRITER_SWITCH_INTERVAL:
            sys.setswitchinterval(WRITER_SWITCH_INTERVAL)
        self._start_writer()
        if restored:
            log.info("restored rooms %s", fields(rooms=restored, log=self.describe()))

    def record(self, produced: TickCycle) -> None:
        """Relay.recorder: queue one cycle; its ticks are delivered after the commit."""
        self._enqueue(self._log_cycle(produced.records, produced.gone), produced)

    def _first_tick(self, room: Room, cycle: Cycle) -> int | None:
        """A room's first tick begins its match, and the log serves its catch-ups."""
        match_id = self._begin(room, cycle)
        if self.reader is not None:
            room.archive = LogArchive(self.reader, match_id)
        return match_id

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
            value=self.backlog,
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

    def _restore(self, relay: Relay, now: float) -> int:
        assert self.log is not None and self.reader is not None
        ends: list[MatchEnd] = []
        restored = 0
        for match in self.log.matches():
            if not match.live:
                continue
            try:
                state = replay_ticks(iter_ticks(self.reader, match.id), self.config.history_ticks)
            except Exception as exc:  # a frame that does not decode: not restorable
                log.error(
                    "match cannot be restored; it is ended, its ticks are kept (check them "
                    "with `tickcast verify MATCH`) %s",
                    fields(match=match.id, room=match.room, error=exc),
                )
                ends.append(MatchEnd(match.id, time.time(), "unreadable at restart"))
                continue
            if not state.members or match.room in relay.rooms:
                ends.append(MatchEnd(match.id, time.time(), "no members at restart"))
                continue
            last, members = state.last_tick, len(state.members)
            room = Room.restored(match.room, self.config, state, now)
            room.archive = LogArchive(self.reader, match.id)
            self._matches[room] = match.id
            relay.add_room(room)
            restored += 1
            log.info(
                "restored room; its members have the reconnect grace to come back %s",
                fields(room=match.room, match=match.id, tick=last, members=members,
                       grace_seconds=self.config.reconnect_grace),
            )
        if ends:
            self.log.write_cycle(Cycle(ends=ends))
        self.rooms_restored = restored
        return restored


class MatchArchive(LogWriter):
    """A cluster node's write-behind match archive (see the module docstring).

    Owned by the cluster service (not a server service of its own): it starts,
    closes and is fed by the cluster's parts."""

    batch_seconds = ARCHIVE_BATCH_SECONDS
    _dir_lock: IO[str] | None = None  # held on this node's data dir while it archives

    def _open_sqlite(self) -> TickLog:
        lg = super()._open_sqlite()
        try:  # nodes sharing a dir would assign the same match ids
            self._dir_lock = _lock_data_dir(self.config.data_dir)
        except StoreError:
            lg.close()
            raise
        return lg

    async def start(self, server: Server) -> None:
        """Open the log and end the parts a crash left open; nothing is restored
        (Redis does that) and nothing is delivered from here."""
        self.open()
        self._prune()
        self._end_interrupted()
        self._start_writer()

    async def wait_closed(self, timeout: float | None = None) -> None:
        await super().wait_closed(timeout)
        if self._thread is None and self._dir_lock is not None:
            self._dir_lock.close()
            self._dir_lock = None

    def archive(self, records: list[TickRecord], gone: list[Room]) -> None:
        """Ticks Redis accepted (and the clients have), and rooms that closed."""
        self._enqueue(self._log_cycle(records, gone), None)

    def begin_part(
        self,
        room: Room,
        match_key: str,
        first_tick: int,
        base_chain: bytes,
        ticks: list[tuple[int, bytes]],
    ) -> None:
        """This node sequences `room` from now on; its part of match `match_key`
        starts at `first_tick` with the ticks it restored (`ticks`, already in
        Redis: they cover what a crashed owner may not have archived)."""
        cycle = Cycle()
        match_id = self._begin(room, cycle, match_key, first_tick, base_chain)
        cycle.ticks = [(match_id, number, frame) for number, frame in ticks]
        for number, frame in ticks:  # frames from Redis, once per takeover: parsed here
            tick = tick_of_frame(frame)
            if tick.joined or tick.left:
                joined = tuple((m.slot, m.player_id) for m in tick.joined)
                cycle.presence.append(Presence(match_id, number, joined, tuple(tick.left)))
        self._enqueue(cycle, None)

    def end_part(self, room: Room, reason: str) -> None:
        """This node stops sequencing `room` (moved, drained, shut down)."""
        match_id = self._matches.pop(room, None)
        if match_id is not None:
            cycle = Cycle(ends=[MatchEnd(match_id, time.time(), reason)])
            if self._kicks:
                cycle.kicks, self._kicks = self._kicks, []
            self._enqueue(cycle, None)

    def _end_interrupted(self) -> None:
        """Parts still open were cut short by a crash of this node."""
        assert self.log is not None
        now = time.time()
        ends = [MatchEnd(m.id, now, "interrupted") for m in self.log.matches() if m.live]
        if ends:
            self.log.write_cycle(Cycle(ends=ends))
            log.info(
                "tick log: parts left open by a crash ended as interrupted %s",
                fields(parts=len(ends)),
            )


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


def open_recorder(config: Config) -> Recorder:
    """The recorder `tickcast serve` runs, with its log opened and checked (StoreError)."""
    recorder = Recorder(config)
    recorder.open()
    return recorder


def open_archive(config: Config) -> MatchArchive:
    """A cluster node's match archive, with its log opened and checked (StoreError)."""
    archive = MatchArchive(config)
    archive.open()
    return archive


__all__ = [
    "LogArchive",
    "LogCatchup",
    "LogWriter",
    "MatchArchive",
    "Recorder",
    "StoreError",
    "open_archive",
    "open_recorder",
]
