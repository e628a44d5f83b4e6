"""One node of a tickcast cluster: the `Service` and what its parts share.

A cluster node is a server whose rooms live in Redis: room ownership with
fenced leases, one stream per room (the write-before-send log, and the source
of resume and failover), placement and redirects, spectator mirrors, drain.
Each job is its own part, all on the same loop and the same `Node`:

- `placement.Placement` (the relay's `placement` seam): where a Hello's room
  lives: here (owned or mirrored), acquired now, or another node (redirect);
- `leases.Leases`: the rooms this node owns (`Node.owned`): taking one over
  (restore from its stream), renewing, dropping one whose lease is lost,
  releasing them;
- `stream.StreamLog` (the relay's `recorder` seam): each cycle's ticks of owned
  rooms appended to their streams by a fenced script, and only then delivered;
- `mirror.Mirrors`: read-only copies of rooms owned elsewhere, for spectators;
- `drain.Drain`: hand every room over at a tick boundary, then stop.

A Redis error pauses the rooms (their ticks wait, nothing is delivered
unlogged), counts `redis_errors` and logs once per outage; the writer retries
until Redis answers. If the outage outlasted the lease, the fenced append is
refused and the rooms move as in a failover.

With recording on, the node also keeps a match archive (`archive`, a
`store.MatchArchive`): every tick Redis accepted is handed to it after
delivery, written behind on its own thread, one part per stretch of a match
this node sequenced (docs/scaling.md, "Match archive").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from tickcast.cluster.drain import Drain
from tickcast.cluster.leases import Leases
from tickcast.cluster.mirror import Mirrors
from tickcast.cluster.placement import Placement
from tickcast.cluster.redis_store import RedisStore
from tickcast.cluster.shared import Listener, Node
from tickcast.cluster.stream import StreamLog
from tickcast.config import Config
from tickcast.redact import redact_url

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from tickcast.server import Server
    from tickcast.store.recorder import MatchArchive

log = logging.getLogger("tickcast.cluster")


class ClusterService:
    """The `Service` that makes a server a cluster node (`tickcast serve --cluster`).

    `http` is the node's HTTP listener (its port is where other nodes send this
    node's WebSocket clients), when it has one and `--advertise-http` is unset."""

    def __init__(
        self,
        config: Config,
        archive: MatchArchive | None = None,
        http: Listener | None = None,
    ) -> None:
        self.node = node = Node(config, archive, http)
        self.mirrors = Mirrors(node)
        self.leases = Leases(node, self.mirrors)
        self.stream = StreamLog(node, self.leases, self.mirrors)
        self.placement = Placement(node, self.leases, self.mirrors)
        self.drainer = Drain(node, self.stream)
        self.leases.on_drain_requested = lambda: self.drain_then_close(node.server)()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def address(self) -> str:
        """The node's advertised TCP `host:port`."""
        return self.node.address

    @property
    def store(self) -> RedisStore:
        return self.node.store

    @property
    def redis_errors(self) -> int:
        return self.node.redis_errors

    @property
    def http_address(self) -> str:
        return self.node.http_address

    # ------------------------------------------------------------ lifecycle

    async def start(self, server: Server) -> None:
        node = self.node
        if node.archive is not None:
            await node.archive.start(server)
        node.started(server)
        server.relay.recorder = self.stream
        server.relay.placement = self.placement
        try:
            await node.store.heartbeat(
                node.address, 0, node.config.lease_seconds, node.http_address
            )
        except RedisError as exc:
            node.redis_failed("start", exc)
        self.stream.reset()
        self._tasks = [
            asyncio.create_task(self.stream.run(), name="tickcast-cluster-writer"),
            asyncio.create_task(self.leases.run(), name="tickcast-cluster-leases"),
        ]
        log.info("cluster node %s on %s", node.address, redact_url(node.config.cluster))

    def close(self) -> None:
        self.node.draining = True
        self.stream.wake()

    async def wait_closed(self) -> None:
        node = self.node
        # the relay has kicked everyone: flush what is queued, give the leases up
        await self.stream.flush(node.config.shutdown_timeout)
        self.mirrors.cancel_all()
        for t in [*self._tasks, *node.tasks]:
            t.cancel()
        for t in [*self._tasks, *node.tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        owned = list(node.owned.values())
        with contextlib.suppress(RedisError, OSError):
            # first give the rooms and our place in the registry up: other nodes take
            # the rooms at once rather than after the lease, and place nothing here
            await self.leases.release_all()
            await node.store.leave(node.address)
        if node.archive is not None:  # after the flush: it archived what Redis took
            for o in owned:
                node.archive.end_part(o.room, "shutdown")
            node.archive.close()
            # bounded: a stalled disk must not hang the shutdown (Redis has the ticks)
            await node.archive.wait_closed(node.config.shutdown_timeout)
        await node.store.close()
        log.info("cluster: %s", self.summary())

    async def drain(self) -> int:
        """Hand every owned room to another node (`cluster.drain`); returns how many."""
        return await self.drainer.drain()

    def drain_then_close(self, server: Server | None) -> Callable[[], None]:
        """A SIGTERM handler: drain (hand the rooms over), then shut the server down."""
        return self.drainer.then_close(server)

    # ------------------------------------------------------------ HTTP side hooks

    def summary(self) -> str:
        n = self.node
        return (
            f"{n.ticks_appended} ticks appended, {n.rooms_acquired} rooms acquired, "
            f"{n.rooms_dropped} dropped, {n.redirects} redirects, "
            f"{n.redis_errors} Redis errors"
        )

    def readiness_problem(self) -> str | None:
        """For /readyz: a node cut off from Redis serves nobody new."""
        if self.node.outage_since is not None:
            return "Redis unreachable"
        if self.node.draining:
            return "draining"
        return None

    def metrics(self) -> Iterator[Metric]:
        """For /metrics (the HTTP side collects it at every scrape)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        n = self.node
        yield GaugeMetricFamily(
            "tickcast_cluster_rooms_owned", "Rooms this node owns", value=len(n.owned)
        )
        yield GaugeMetricFamily(
            "tickcast_cluster_rooms_mirrored",
            "Rooms mirrored from their stream for spectators",
            value=len(self.mirrors.mirrors),
        )
        yield GaugeMetricFamily(
            "tickcast_cluster_rooms_paused",
            "Owned rooms whose ticks wait for an unreachable Redis",
            value=len(n.owned) if n.outage_since is not None else 0,
        )
        if n.archive is not None:
            yield GaugeMetricFamily(
                "tickcast_cluster_archive_backlog_cycles",
                "Tick cycles delivered but not yet written to the match archive (its lag)",
                value=n.archive.backlog,
            )
            yield GaugeMetricFamily(
                "tickcast_cluster_archive_failed",
                "1 if the match archive's disk failed (archiving is off until a restart)",
                value=int(n.archive.failed is not None),
            )
        for name, doc, value in (
            ("redis_errors", "Failed Redis calls", n.redis_errors),
            ("rooms_acquired", "Room leases acquired", n.rooms_acquired),
            ("rooms_dropped", "Rooms dropped after losing their lease", n.rooms_dropped),
            ("redirects", "Hellos redirected to the owner", n.redirects),
            ("ticks_appended", "Ticks appended to room streams", n.ticks_appended),
        ):
            yield CounterMetricFamily(f"tickcast_cluster_{name}", doc, value=value)
