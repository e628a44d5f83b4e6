"""Write before send on a cluster node: the room streams in Redis are its tick log.

`StreamLog` is the relay's `recorder`: each cycle's ticks of owned rooms are
appended to their streams by a fenced Lua script, and only then delivered. A
room whose append is refused has lost its lease (another node owns it now): it
is dropped, its unlogged ticks are never sent, and its members are redirected
to the new owner. While Redis is unreachable the cycles wait (the rooms pause);
once the outage has outlasted the leases, no queued tick can ever be written,
and the rooms are dropped.

Each tick is appended with the `TickRecord`'s number and frame, as the room
built them; every `tick_rate` ticks a snapshot of the room rides along
(`cluster.state`). Accepted ticks go on to the match archive, if any, after
their delivery (write-behind).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from redis.exceptions import RedisError

from tickcast.cluster.leases import Leases
from tickcast.cluster.mirror import Mirrors
from tickcast.cluster.redis_store import Append
from tickcast.cluster.shared import RETRY_SECONDS, Node
from tickcast.cluster.state import snapshot
from tickcast.proto import pb
from tickcast.relay import TickCycle
from tickcast.room import TickRecord
from tickcast.session import Session

StreamTicks = dict[str, list[tuple[int, bytes, bytes]]]
"""A cycle's appends, by room: (tick number, frame, snapshot or b"")."""


@dataclass(slots=True)
class _Queued:
    produced: TickCycle
    ticks: StreamTicks


class StreamLog:
    """The relay's write-before-send recorder on a cluster node."""

    def __init__(self, node: Node, leases: Leases, mirrors: Mirrors) -> None:
        self.node = node
        self.leases = leases
        self.mirrors = mirrors
        self._cycles: deque[_Queued] = deque()
        self._wake = asyncio.Event()

    def reset(self) -> None:
        """At start (on the loop): a fresh wake-up event."""
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------ the relay's side

    def record(self, produced: TickCycle) -> None:
        """Queue one cycle; it is delivered once Redis has it."""
        ticks: StreamTicks = {}
        owned_rooms = self.node.owned
        every = self.node.config.tick_rate
        for rec in produced.records:
            room = rec.room
            owned = owned_rooms.get(room.name)
            if owned is None or owned.room is not room:
                continue  # not ours (any more): never sent unlogged
            number = rec.number
            snap = b""
            if not owned.snapshot_tick or number - owned.snapshot_tick >= every:
                snap = snapshot(room, owned.match_key)
                owned.snapshot_tick = number
            ticks.setdefault(room.name, []).append((number, rec.frame, snap))
        self._cycles.append(_Queued(produced, ticks))
        self._wake.set()

    def kicked(self, session: Session) -> None:
        """Kicks are not kept in the cluster log, only in the archive."""
        if self.node.archive is not None:
            self.node.archive.kicked(session)

    # ------------------------------------------------------------ the writer

    async def run(self) -> None:
        """Append queued cycles to Redis, then deliver them; retry on errors."""
        node = self.node
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._cycles:
                batch = list(self._cycles)
                try:
                    accepted = await self._append(batch)
                    node.redis_ok()
                except RedisError as exc:
                    node.redis_failed("append", exc)
                    if self._outage_outlasted_leases():
                        continue
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                for _ in batch:
                    self._cycles.popleft()
                self._delivered(batch, accepted)

    def _outage_outlasted_leases(self) -> bool:
        """After a lease period without Redis every lease of ours has expired: no
        queued tick can ever be written, so drop the rooms (their members retry
        with backoff and the room is restored from its stream once Redis is back).
        This also bounds the queue of an outage to a lease period of cycles."""
        since = self.node.outage_since
        if since is None or time.monotonic() - since < self.node.config.lease_seconds:
            return False
        self._cycles.clear()
        self.leases.drop_all("Redis unreachable for longer than the lease",
                             pb.REASON_SERVER_SHUTDOWN)
        return True

    async def _append(self, batch: list[_Queued]) -> dict[str, bool]:
        merged: StreamTicks = {}
        for cycle in batch:
            for name, ticks in cycle.ticks.items():
                merged.setdefault(name, []).extend(ticks)
        keep = self.node.config.history_ticks
        appends: list[Append] = []
        for name, ticks in merged.items():
            owned = self.node.owned.get(name)
            if owned is None:
                continue
            trim = min(ticks[-1][0] - keep + 1, owned.snapshot_tick)
            appends.append(Append(name, owned.lease, ticks, max(0, trim)))
        return await self.node.store.append(appends)

    def _delivered(self, batch: list[_Queued], accepted: dict[str, bool]) -> None:
        node = self.node
        for name, ok in accepted.items():
            if not ok and name in node.owned:
                self.leases.drop(name, "the lease was lost (another node owns the room now)")
        for cycle in batch:
            produced = cycle.produced
            out: list[TickRecord] = []
            for rec in produced.records:
                room = rec.room
                owned = node.owned.get(room.name)
                if owned is not None and owned.room is room and accepted.get(room.name):
                    out.append(rec)
            node.ticks_appended += len(out)
            if out:
                node.relay.deliver(TickCycle(out, produced.gone, produced.produce_seconds))
            if node.archive is not None:  # write-behind: after the clients have them
                node.archive.archive(out, produced.gone)
            for room in produced.gone:  # the relay closed it (empty)
                self.leases.gone(room)
                self.mirrors.gone(room)

    async def flush(self, timeout: float) -> None:
        """Wait (bounded) until every queued cycle is in Redis and delivered."""
        deadline = time.monotonic() + timeout
        while self._cycles and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
