"""One node of a tickcast cluster: room ownership, the fenced stream log,
placement and redirects, spectator mirrors, failover, drain, Redis outages.

It plugs into the relay at two seams:

- `Relay.placement`: every Hello comes here first. A room this node owns
  (or, for a spectator, mirrors) joins at once; otherwise the session is held
  while Redis is asked: an unowned room is placed on the least loaded node
  (`--placement`; ties stay here): acquired here (a new fencing epoch) and
  restored from its stream, or reserved for that node and redirected there;
  a room owned elsewhere answers `Kick{REDIRECT, owner's address}` (its HTTP
  address for a WebSocket client); a spectator gets a mirror of the stream.
- `Relay.recorder` (write before send): each cycle's ticks of owned rooms are
  appended to their streams by a fenced Lua script, and only then delivered.
  A room whose append is refused has lost its lease (another node owns it
  now): it is dropped here, its unlogged ticks are never sent, and its
  members are redirected to the new owner.

A Redis error pauses the rooms (their ticks wait, nothing is delivered unlogged),
counts `redis_errors` and logs once per outage; the writer retries until Redis
answers. If the outage outlasted the lease, the fenced append is refused and
the rooms move as in a failover.

With recording on, the node also keeps a match archive (`archive`, a
`Recorder` in archive mode): every tick Redis accepted is handed to it after
delivery, written behind on its own thread, one part per stretch of a match
this node sequenced (docs/scaling.md, "Match archive").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from tickcast.cluster.mirror import MirrorRoom
from tickcast.cluster.redis_store import Append, Claim, RedisStore, lease_address, lease_epoch
from tickcast.cluster.state import part_start, restore, restored_room, snapshot
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.relay import TickCycle
from tickcast.room import Room
from tickcast.session import SessionState

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from tickcast.relay import Relay
    from tickcast.server import Server
    from tickcast.session import HelloRequest, Session
    from tickcast.store.recorder import Recorder

log = logging.getLogger("tickcast.cluster")

RETRY_SECONDS = 0.1
"""Pause between two attempts of a failed Redis write."""
MIRROR_BLOCK_MS = 500
"""How long one XREAD of a spectator mirror waits for new ticks."""


@dataclass(slots=True)
class Owned:
    """A room this node owns: its lease value and when it last wrote a snapshot."""

    room: Room
    lease: str
    snapshot_tick: int = 0
    match_key: str = ""  # the match's id in every node's archive (in the snapshots)


@dataclass(slots=True)
class _Cycle:
    produced: TickCycle
    ticks: dict[str, list[tuple[int, bytes, bytes]]]


class ClusterService:
    """The `Service` that makes a server a cluster node (`tickcast serve --cluster`)."""

    def __init__(self, config: Config, archive: Recorder | None = None) -> None:
        self.config = config
        self.archive = archive  # the write-behind match archive (None: --no-record)
        self.store = RedisStore(config.cluster, config.lease_seconds)
        self.address = config.advertise
        self._http_address = config.advertise_http  # found at the HTTP listener if unset
        self.owned: dict[str, Owned] = {}
        self.mirrors: dict[str, tuple[MirrorRoom, asyncio.Task[None]]] = {}
        self._relay: Relay | None = None
        self._server: Server | None = None
        self._cycles: deque[_Cycle] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._placing: set[asyncio.Task[None]] = set()
        self._room_locks: dict[str, list[Any]] = {}  # room -> [Lock, users]
        self.draining = False
        self._drain_task: asyncio.Task[None] | None = None
        self.outage_since: float | None = None  # time.monotonic() of the first failure
        # counters (/metrics and the closing log line)
        self.redis_errors = 0
        self.rooms_acquired = 0
        self.rooms_dropped = 0
        self.redirects = 0
        self.ticks_appended = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self, server: Server) -> None:
        self._server = server
        if self.archive is not None:
            await self.archive.start(server)
        relay = self._relay = server.relay
        relay.recorder = self
        relay.placement = self
        if not self.address:
            self.address = f"{self.config.host}:{server.port}"
            if self.config.host in ("0.0.0.0", "::", ""):
                log.warning(
                    "cluster: listening on all addresses without --advertise: other nodes "
                    "will redirect clients to %s, which they cannot reach",
                    self.address,
                )
        try:
            await self.store.heartbeat(
                self.address, 0, self.config.lease_seconds, self.http_address
            )
        except RedisError as exc:
            self._redis_failed("start", exc)
        self._wake = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="tickcast-cluster-writer"),
            asyncio.create_task(self._lease_loop(), name="tickcast-cluster-leases"),
        ]
        log.info("cluster node %s on %s", self.address, self.config.cluster)

    def close(self) -> None:
        self.draining = True
        self._wake.set()

    async def wait_closed(self) -> None:
        # the relay has kicked everyone: flush what is queued, give the leases up
        await self._flush(self.config.shutdown_timeout)
        for t in [*self._tasks, *self._placing, *(task for _, task in self.mirrors.values())]:
            t.cancel()
        for t in [*self._tasks, *self._placing]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        owned = list(self.owned.values())
        with contextlib.suppress(RedisError, OSError):
            # first give the rooms and our place in the registry up: other nodes take
            # the rooms at once rather than after the lease, and place nothing here
            await self._release_all()
            await self.store.leave(self.address)
        if self.archive is not None:  # after the flush: it archived what Redis took
            for o in owned:
                self.archive.end_part(o.room, "shutdown")
            self.archive.close()
            # bounded: a stalled disk must not hang the shutdown (Redis has the ticks)
            await self.archive.wait_closed(self.config.shutdown_timeout)
        await self.store.close()
        log.info("cluster: %s", self.summary())

    def summary(self) -> str:
        return (
            f"{self.ticks_appended} ticks appended, {self.rooms_acquired} rooms acquired, "
            f"{self.rooms_dropped} dropped, {self.redirects} redirects, "
            f"{self.redis_errors} Redis errors"
        )

    def readiness_problem(self) -> str | None:
        """For /readyz: a node cut off from Redis serves nobody new."""
        if self.outage_since is not None:
            return "Redis unreachable"
        if self.draining:
            return "draining"
        return None

    def metrics(self) -> Iterator[Metric]:
        """For /metrics (the HTTP side collects it at every scrape)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield GaugeMetricFamily(
            "tickcast_cluster_rooms_owned", "Rooms this node owns", value=len(self.owned)
        )
        yield GaugeMetricFamily(
            "tickcast_cluster_rooms_mirrored",
            "Rooms mirrored from their stream for spectators",
            value=len(self.mirrors),
        )
        yield GaugeMetricFamily(
            "tickcast_cluster_rooms_paused",
            "Owned rooms whose ticks wait for an unreachable Redis",
            value=len(self.owned) if self.outage_since is not None else 0,
        )
        if self.archive is not None:
            yield GaugeMetricFamily(
                "tickcast_cluster_archive_backlog_cycles",
                "Tick cycles delivered but not yet written to the match archive (its lag)",
                value=self.archive.backlog,
            )
            yield GaugeMetricFamily(
                "tickcast_cluster_archive_failed",
                "1 if the match archive's disk failed (archiving is off until a restart)",
                value=int(self.archive.failed is not None),
            )
        for name, doc, value in (
            ("redis_errors", "Failed Redis calls", self.redis_errors),
            ("rooms_acquired", "Room leases acquired", self.rooms_acquired),
            ("rooms_dropped", "Rooms dropped after losing their lease", self.rooms_dropped),
            ("redirects", "Hellos redirected to the owner", self.redirects),
            ("ticks_appended", "Ticks appended to room streams", self.ticks_appended),
        ):
            yield CounterMetricFamily(f"tickcast_cluster_{name}", doc, value=value)

    # ------------------------------------------------------------ Redis health

    def _redis_failed(self, what: str, exc: BaseException) -> None:
        self.redis_errors += 1
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            log.error(
                "cluster: Redis unreachable (%s: %s); %d owned room(s) paused until it is back",
                what,
                exc,
                len(self.owned),
            )

    def _redis_ok(self) -> None:
        if self.outage_since is not None:
            log.warning(
                "cluster: Redis is back after %.2f s; rooms resume",
                time.monotonic() - self.outage_since,
            )
            self.outage_since = None

    # ------------------------------------------------------------ placement

    def hello(self, session: Session, hello: HelloRequest, now: float) -> bool:
        """Relay.placement: join locally (False) or answer later (True)."""
        relay = self._relay
        assert relay is not None
        name = hello.room
        if self.draining:  # the rooms are on their way out: come back elsewhere
            session.kick(pb.REASON_SERVER_SHUTDOWN, "node draining")
            return True
        local = relay.rooms.get(name)
        owned = self.owned.get(name)
        if local is not None and owned is not None and owned.room is local:
            return False
        if hello.spectator and local is not None and isinstance(local, MirrorRoom):
            return False
        session.hold()
        task = asyncio.create_task(self._place(session, hello))
        self._placing.add(task)
        task.add_done_callback(self._placing.discard)
        return True

    async def _place(self, session: Session, hello: HelloRequest) -> None:
        # one placement per room at a time: concurrent Hellos on this node must
        # not acquire (and restore) the same room twice
        name = hello.room
        entry = self._room_locks.get(name)
        if entry is None:
            entry = self._room_locks[name] = [asyncio.Lock(), 0]
        entry[1] += 1  # placements using this lock (it goes with the last one)
        try:
            async with entry[0]:
                await self._place_locked(session, hello)
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self._room_locks[name]

    async def _place_locked(self, session: Session, hello: HelloRequest) -> None:
        relay = self._relay
        assert relay is not None
        name = hello.room
        try:
            if name in self.owned or (hello.spectator and name in self.mirrors):
                pass  # placed by the Hello before this one
            elif hello.spectator:
                await self._mirror(name)  # served from the stream, whoever owns the room
            else:
                claim = await self.store.claim(
                    name,
                    self.address,
                    place=self.config.placement == "least-loaded",
                    websocket=session.transport == "ws",
                    reserve_seconds=self.config.lease_seconds,
                )
                ok, value = claim.outcome == Claim.ACQUIRED, claim.value
                if claim.outcome == Claim.OWNED:
                    ok, value = await self._wait_for_suspect_owner(name, value, session)
                if ok:
                    await self._take(name, value)
                else:
                    owned = claim.outcome == Claim.OWNED
                    address = lease_address(value) if owned else claim.address
                    http = claim.http if address == claim.address else None
                    detail = f"room {name!r} is hosted by another node"
                    await self._redirect_to(session, address, http, detail)
                    self._redis_ok()
                    return
            self._redis_ok()
        except RedisError as exc:
            self._redis_failed("placement", exc)
            session.kick(pb.REASON_SERVER_SHUTDOWN, "cluster store unreachable; retry")
            return
        if session.state is SessionState.CLOSED:
            return  # the client went away meanwhile
        now = asyncio.get_running_loop().time()
        relay.session_hello(session, hello, now)  # the room is local now: joins here
        session.release(now)

    async def _wait_for_suspect_owner(
        self, name: str, lease: str, session: Session
    ) -> tuple[bool, str]:
        """The room's owner has missed its heartbeats (it is probably dead): rather
        than redirect the player to it, hold the Hello until its lease runs out
        (at most a lease period) and take the room. An owner that heartbeats
        again keeps the room and the player is redirected to it."""
        period = self.config.lease_seconds
        deadline = time.monotonic() + period + 0.5
        while await self._suspect(lease_address(lease)):
            if time.monotonic() > deadline or session.state is SessionState.CLOSED:
                break
            await asyncio.sleep(period / 15)
            ok, lease = await self.store.acquire(name, self.address)
            if ok:
                return True, lease
        return False, lease

    async def _suspect(self, address: str) -> bool:
        """Has the node at `address` missed two heartbeats (sent 4 per lease period)?"""
        left = await self.store.heartbeat_left(address)
        return left is None or left < self.config.lease_seconds / 2

    async def _redirect_to(
        self, session: Session, address: str, http: str | None, detail: str
    ) -> None:
        """Redirect `session` to the node at `address`; a WebSocket session to the
        node's HTTP address (`http`, looked up in Redis if None)."""
        if http is None and session.transport == "ws":
            http = await self.store.http_address(address)
        self.redirects += 1
        self._kick_to(session, detail, address, http or "")

    def _kick_to(self, session: Session, detail: str, address: str, http: str) -> None:
        """Kick{REDIRECT} to a node: its TCP `address` for a TCP session, its
        advertised HTTP `host:port` for a WebSocket one (the client keeps its
        scheme and path). A node without an HTTP listener cannot take a
        WebSocket client: that one is told to come back later instead."""
        target = http if session.transport == "ws" else address
        if target:
            session.kick(pb.REASON_REDIRECT, detail, redirect=target)
        else:
            session.kick(pb.REASON_SERVER_SHUTDOWN, f"{detail}, which has no WebSocket listener")

    @property
    def http_address(self) -> str:
        """This node's advertised HTTP `host:port`: --advertise-http, else the
        HTTP listener's (empty without one, or before it has started)."""
        if not self._http_address and self._server is not None:
            from tickcast.http import HttpService

            for service in self._server.services:
                if isinstance(service, HttpService) and service.port:
                    host = self.config.http_host
                    host = f"[{host}]" if ":" in host else host
                    self._http_address = f"{host}:{service.port}"
                    if self.config.http_host in ("0.0.0.0", "::", ""):
                        log.warning("cluster: HTTP on all addresses without --advertise-http: "
                                    "other nodes will redirect WebSocket clients to %s",
                                    self._http_address)
        return self._http_address

    def load(self) -> int:
        """What placement compares: the connections this node's rooms feed
        (players and spectators). A tick's cost is one write per connection, and
        rooms differ in size (a duel, a 64-player lobby), so rooms are not counted."""
        assert self._relay is not None
        return sum(len(r.live) + len(r.spectators) for r in self._relay.rooms.values())

    async def _take(self, name: str, lease: str) -> None:
        """We hold the lease: restore the room from its stream and adopt it."""
        relay = self._relay
        assert relay is not None
        mirrored = self.mirrors.pop(name, None)
        if mirrored is not None:
            mirror, task = mirrored
            task.cancel()
            relay.rooms.pop(name, None)
            for s in mirror.sessions():  # its spectators come back to the room itself
                self._kick_to(s, "room moved to this node", self.address, self.http_address)
        keep = self.config.history_ticks
        entries = await self.store.read_tail(name, keep)
        state = restore(entries, keep)
        loop = asyncio.get_running_loop()
        room = restored_room(name, self.config, state, loop.time())
        room.created_at = loop.time()
        key = state.match_key or uuid.uuid4().hex  # none in the stream: a new match
        self.owned[name] = Owned(room, lease, match_key=key)
        if self.archive is not None:
            part = part_start(entries)
            self.archive.begin_part(room, key, part.first_tick, part.base_chain, part.ticks)
        self.rooms_acquired += 1
        relay.adopt(room)
        log.info(
            "cluster: acquired room %s (epoch %d), restored at tick %d with %d member(s)",
            name,
            lease_epoch(lease),
            state.last_tick,
            room.members,
        )

    async def _mirror(self, name: str) -> None:
        relay = self._relay
        assert relay is not None
        if name in self.mirrors:
            return
        keep = self.config.history_ticks
        entries = await self.store.read_tail(name, keep)
        if name in self.mirrors or name in self.owned:
            return  # another Hello built it while we read
        history = [(n, f) for n, f, _ in entries[-keep:]]
        mirror = MirrorRoom.of_stream(name, self.config, history, asyncio.get_running_loop().time())
        relay.rooms[name] = mirror
        task = asyncio.create_task(self._follow(mirror), name=f"tickcast-mirror-{name}")
        self.mirrors[name] = (mirror, task)
        log.info("cluster: mirroring room %s for spectators from tick %d", name, mirror.sent)

    async def _follow(self, mirror: MirrorRoom) -> None:
        """Feed a mirror from its stream until the relay drops it."""
        relay = self._relay
        assert relay is not None
        name = mirror.name
        while relay.rooms.get(name) is mirror:
            try:
                ticks = await self.store.read_after(name, mirror.next - 1, MIRROR_BLOCK_MS)
                self._redis_ok()
            except RedisError as exc:
                self._redis_failed("mirror", exc)
                await asyncio.sleep(RETRY_SECONDS * 5)
                continue
            for number, frame in ticks:
                mirror.append(number, frame)
        if self.mirrors.get(name, (None,))[0] is mirror:
            del self.mirrors[name]

    # ------------------------------------------------------------ write before send

    def record(self, produced: TickCycle) -> None:
        """Relay.recorder: queue one cycle; it is delivered once Redis has it."""
        ticks: dict[str, list[tuple[int, bytes, bytes]]] = {}
        every = self.config.tick_rate
        for rec in produced.records:
            room = rec.room
            owned = self.owned.get(room.name)
            if owned is None or owned.room is not room:
                continue  # not ours (any more): never sent unlogged
            number = rec.number
            snap = b""
            if not owned.snapshot_tick or number - owned.snapshot_tick >= every:
                snap = snapshot(room, owned.match_key)
                owned.snapshot_tick = number
            ticks.setdefault(room.name, []).append((number, rec.frame, snap))
        self._cycles.append(_Cycle(produced, ticks))
        self._wake.set()

    def kicked(self, session: Session) -> None:
        """Relay.recorder: kicks are not kept in the cluster log, only in the archive."""
        if self.archive is not None:
            self.archive.kicked(session)

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._cycles:
                batch = list(self._cycles)
                try:
                    accepted = await self._append(batch)
                    self._redis_ok()
                except RedisError as exc:
                    self._redis_failed("append", exc)
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
        since = self.outage_since
        if since is None or time.monotonic() - since < self.config.lease_seconds:
            return False
        self._cycles.clear()
        for name in list(self.owned):
            self._drop(name, "Redis unreachable for longer than the lease",
                       pb.REASON_SERVER_SHUTDOWN)
        return True

    async def _append(self, batch: list[_Cycle]) -> dict[str, bool]:
        merged: dict[str, list[tuple[int, bytes, bytes]]] = {}
        for cycle in batch:
            for name, ticks in cycle.ticks.items():
                merged.setdefault(name, []).extend(ticks)
        keep = self.config.history_ticks
        appends: list[Append] = []
        for name, ticks in merged.items():
            owned = self.owned.get(name)
            if owned is None:
                continue
            trim = min(ticks[-1][0] - keep + 1, owned.snapshot_tick)
            appends.append(Append(name, owned.lease, ticks, max(0, trim)))
        return await self.store.append(appends)

    def _delivered(self, batch: list[_Cycle], accepted: dict[str, bool]) -> None:
        relay = self._relay
        assert relay is not None
        for name, ok in accepted.items():
            if ok:
                continue
            owned = self.owned.get(name)
            if owned is not None:
                self._drop(name, "the lease was lost (another node owns the room now)")
        for cycle in batch:
            produced = cycle.produced
            out = []
            for rec in produced.records:
                room = rec.room
                owned = self.owned.get(room.name)
                if owned is not None and owned.room is room and accepted.get(room.name):
                    out.append(rec)
            self.ticks_appended += len(out)
            if out:
                relay.deliver(TickCycle(out, produced.gone, produced.produce_seconds))
            if self.archive is not None:  # write-behind: after the clients have them
                self.archive.archive(out, produced.gone)
            for room in produced.gone:
                self._gone(room)

    def _gone(self, room: Room) -> None:
        """The relay closed `room` (empty): give its lease up, stop its mirror."""
        owned = self.owned.get(room.name)
        if owned is not None and owned.room is room:
            del self.owned[room.name]
            task = asyncio.create_task(self._release(room.name, owned.lease))
            self._placing.add(task)
            task.add_done_callback(self._placing.discard)
        mirrored = self.mirrors.get(room.name)
        if mirrored is not None and mirrored[0] is room:
            mirrored[1].cancel()
            del self.mirrors[room.name]

    async def _release(self, name: str, lease: str) -> None:
        keep = max(60, int(self.config.history_seconds))
        try:
            await self.store.release(name, lease, keep)
        except RedisError as exc:
            self._redis_failed("release", exc)  # the lease runs out by itself

    async def _release_all(self) -> None:
        for name, owned in list(self.owned.items()):
            await self.store.release(name, owned.lease, 0)
        self.owned.clear()

    def _drop(self, name: str, why: str, reason: int = pb.REASON_REDIRECT) -> None:
        """Stop hosting `name` now; its sessions go and ask again (placement
        redirects them to the new owner, or this node acquires the room anew)."""
        relay = self._relay
        assert relay is not None
        owned = self.owned.pop(name, None)
        if owned is None:
            return
        self.rooms_dropped += 1
        log.warning("cluster: dropped room %s: %s", name, why)
        if self.archive is not None:
            self.archive.end_part(owned.room, f"dropped: {why}")
        if relay.rooms.get(name) is owned.room:
            del relay.rooms[name]
        relay.inputs_of_closed_rooms += owned.room.inputs_sequenced
        for s in owned.room.sessions():
            if reason == pb.REASON_REDIRECT:
                self._kick_to(s, f"room {name!r} moved", self.address, self.http_address)
            else:
                s.kick(reason, f"room {name!r} paused: {why}")

    # ------------------------------------------------------------ leases

    async def _lease_loop(self) -> None:
        """Renew every owned lease a few times per lease period; heartbeat."""
        period = self.config.lease_seconds / 4
        while True:
            await asyncio.sleep(period)
            leases = {name: o.lease for name, o in self.owned.items()}
            try:
                renewed = await self.store.renew(leases)
                if not self.draining:
                    await self.store.heartbeat(
                        self.address, self.load(), self.config.lease_seconds, self.http_address
                    )
                    if await self.store.drain_requested(self.address):
                        log.info("cluster: drain requested through Redis (tickcast drain)")
                        self.drain_then_close(self._server)()
                self._redis_ok()
            except RedisError as exc:
                self._redis_failed("renew", exc)
                continue
            for name, ok in renewed.items():
                owned = self.owned.get(name)
                if not ok and owned is not None and owned.lease == leases[name]:
                    self._drop(name, "the lease expired")

    # ------------------------------------------------------------ drain

    async def _flush(self, timeout: float) -> None:
        """Wait (bounded) until every queued cycle is in Redis and delivered."""
        deadline = time.monotonic() + timeout
        while self._cycles and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def drain(self) -> int:
        """Hand every owned room to another node at a tick boundary: stop
        producing its ticks, wait until Redis has all of them and they are sent,
        release its lease, then redirect its members to the least loaded other
        node (or back here, to be placed again). Returns the rooms handed over."""
        relay = self._relay
        assert relay is not None
        self.draining = True
        with contextlib.suppress(RedisError):
            await self.store.leave(self.address)  # no new room is placed here any more
        rooms = {name: o for name, o in self.owned.items()}
        for name, o in rooms.items():
            if relay.rooms.get(name) is o.room:
                del relay.rooms[name]  # no tick after the one in flight
        await self._flush(self.config.shutdown_timeout)
        target = target_http = ""
        try:
            nodes = await self.store.live_nodes()
            nodes.pop(self.address, None)
            if nodes:
                target = min(nodes, key=lambda a: (nodes[a], a))
                target_http = await self.store.http_address(target)
            for name, o in rooms.items():
                if self.owned.get(name) is o:
                    await self.store.release(name, o.lease, 0)
            await self.store.leave(self.address)
        except RedisError as exc:
            self._redis_failed("drain", exc)
        for name, o in rooms.items():
            if self.owned.get(name) is o:
                del self.owned[name]
                if self.archive is not None:
                    self.archive.end_part(o.room, "drained")
                relay.inputs_of_closed_rooms += o.room.inputs_sequenced
                for s in o.room.sessions():
                    if target:
                        self._kick_to(s, "node draining", target, target_http)
                    else:
                        s.kick(pb.REASON_SERVER_SHUTDOWN, "node draining")
        log.info("cluster: drained %d room(s) to %s", len(rooms), target or "(no other node)")
        return len(rooms)

    def drain_then_close(self, server: Server | None) -> Callable[[], None]:
        """A SIGTERM handler: drain (hand the rooms over), then shut the server down;
        a second signal during the drain shuts down at once."""

        def on_signal() -> None:
            assert server is not None
            if self._drain_task is not None:
                server.close()
                return
            log.info("cluster: SIGTERM: draining before shutdown")

            async def run() -> None:
                try:
                    await self.drain()
                finally:
                    server.close()

            self._drain_task = asyncio.get_running_loop().create_task(run())

        return on_signal
