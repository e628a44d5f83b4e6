"""What the parts of a cluster node share (`Node`), and the record of an owned room."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tickcast.cluster.redis_store import RedisStore
from tickcast.config import Config
from tickcast.errors import UsageError
from tickcast.logs import fields
from tickcast.proto import pb
from tickcast.room import Room

if TYPE_CHECKING:
    from tickcast.relay import Relay
    from tickcast.server import Server
    from tickcast.session import Session
    from tickcast.store.recorder import MatchArchive

log = logging.getLogger("tickcast.cluster")

RETRY_SECONDS = 0.1
"""Pause between two attempts of a failed Redis write."""


class Listener(Protocol):
    """The node's HTTP listener, as far as the cluster needs it: the port it got."""

    port: int


@dataclass(slots=True)
class Owned:
    """A room this node owns: its lease value and when it last wrote a snapshot."""

    room: Room
    lease: str
    snapshot_tick: int = 0
    match_key: str = ""  # the match's id in every node's archive (in the snapshots)


class Node:
    """What the parts of a cluster node share: its settings and addresses, Redis
    and its health, the relay, the rooms it owns, its background tasks and the
    counters /metrics shows."""

    def __init__(
        self, config: Config, archive: MatchArchive | None, http: Listener | None
    ) -> None:
        self.config = config
        self.archive = archive  # the write-behind match archive (None: --no-record)
        self.http = http  # the HTTP listener, whose port WebSocket clients are sent to
        self.store = RedisStore(config.cluster, config.lease_seconds)
        self.address = config.advertise
        self._http_address = config.advertise_http  # found at the HTTP listener if unset
        self.owned: dict[str, Owned] = {}
        self.server: Server | None = None
        self._relay: Relay | None = None
        self.tasks: set[asyncio.Task[None]] = set()  # placements, lease releases
        self.draining = False
        self.outage_since: float | None = None  # time.monotonic() of the first failure
        self.redis_errors = 0
        self.rooms_acquired = 0
        self.rooms_dropped = 0
        self.redirects = 0
        self.ticks_appended = 0

    @property
    def relay(self) -> Relay:
        if self._relay is None:
            raise UsageError("the cluster node is not started")
        return self._relay

    def started(self, server: Server) -> None:
        self.server = server
        self._relay = server.relay
        if not self.address:
            self.address = f"{self.config.host}:{server.port}"
            if self.config.host in ("0.0.0.0", "::", ""):
                log.warning(
                    "cluster: listening on all addresses without --advertise: other nodes "
                    "will redirect clients to an address they cannot reach %s",
                    fields(address=self.address),
                )

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background; the node waits for it (or cancels it) at close."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ------------------------------------------------------------ Redis health

    def redis_failed(self, what: str, exc: BaseException) -> None:
        self.redis_errors += 1
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            log.error(
                "cluster: Redis unreachable; owned rooms paused until it is back %s",
                fields(during=what, error=exc, rooms=len(self.owned)),
            )

    def redis_ok(self) -> None:
        if self.outage_since is not None:
            log.warning(
                "cluster: Redis is back; rooms resume %s",
                fields(outage_seconds=time.monotonic() - self.outage_since),
            )
            self.outage_since = None

    # ------------------------------------------------------------ addresses

    @property
    def http_address(self) -> str:
        """This node's advertised HTTP `host:port`: --advertise-http, else the
        HTTP listener's (empty without one, or before it has started)."""
        if not self._http_address and self.http is not None and self.http.port:
            host = self.config.http_host
            host = f"[{host}]" if ":" in host else host
            self._http_address = f"{host}:{self.http.port}"
            if self.config.http_host in ("0.0.0.0", "::", ""):
                log.warning("cluster: HTTP on all addresses without --advertise-http: "
                            "other nodes will redirect WebSocket clients there %s",
                            fields(address=self._http_address))
        return self._http_address

    def kick_to(self, session: Session, detail: str, address: str, http: str) -> None:
        """Kick{REDIRECT} to a node: its TCP `address` for a TCP session, its
        advertised HTTP `host:port` for a WebSocket one (the client keeps its
        scheme and path). A node without an HTTP listener cannot take a
        WebSocket client: that one is told to come back later instead."""
        target = http if session.transport == "ws" else address
        if target:
            session.kick(pb.REASON_REDIRECT, detail, redirect=target)
        else:
            session.kick(pb.REASON_SERVER_SHUTDOWN, f"{detail}, which has no WebSocket listener")

    def load(self) -> int:
        """What placement compares: the connections this node's rooms feed
        (players and spectators). A tick's cost is one write per connection, and
        rooms differ in size (a duel, a 64-player lobby), so rooms are not counted."""
        return sum(len(r.live) + len(r.spectators) for r in self.relay.rooms.values())
