"""Where a Hello's room lives on a cluster (the relay's `placement` seam).

Every Hello comes here first. A room this node owns (or, for a spectator,
mirrors) joins at once; otherwise the session is held while Redis is asked:
an unowned room is placed on the least loaded node (`--placement`; ties stay
here): acquired here (a new fencing epoch) and restored from its stream, or
reserved for that node and redirected there; a room owned elsewhere answers
`Kick{REDIRECT, owner's address}` (its HTTP address for a WebSocket client);
a spectator gets a mirror of the stream.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.exceptions import RedisError

from tickcast.cluster.leases import Leases
from tickcast.cluster.mirror import MirrorRoom, Mirrors
from tickcast.cluster.redis_store import Claim, lease_address
from tickcast.cluster.shared import Node
from tickcast.proto import pb
from tickcast.session import HelloRequest, Session, SessionState


class Placement:
    """`Relay.placement` of a cluster node (see the module docstring)."""

    def __init__(self, node: Node, leases: Leases, mirrors: Mirrors) -> None:
        self.node = node
        self.leases = leases
        self.mirrors = mirrors
        self._room_locks: dict[str, list[Any]] = {}  # room -> [Lock, users]

    def hello(self, session: Session, hello: HelloRequest, now: float) -> bool:
        """Join locally (False) or answer later (True)."""
        node = self.node
        name = hello.room
        if node.draining:  # the rooms are on their way out: come back elsewhere
            session.kick(pb.REASON_SERVER_SHUTDOWN, "node draining")
            return True
        local = node.relay.rooms.get(name)
        owned = node.owned.get(name)
        if local is not None and owned is not None and owned.room is local:
            return False
        if hello.spectator and local is not None and isinstance(local, MirrorRoom):
            return False
        session.hold()
        node.spawn(self._place(session, hello))
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
        node = self.node
        name = hello.room
        try:
            if name in node.owned or (hello.spectator and name in self.mirrors.mirrors):
                pass  # placed by the Hello before this one
            elif hello.spectator:
                await self.mirrors.mirror(name)  # served from the stream, whoever owns it
            elif not await self._claim(session, name):
                return  # redirected
            node.redis_ok()
        except RedisError as exc:
            node.redis_failed("placement", exc)
            session.kick(pb.REASON_SERVER_SHUTDOWN, "cluster store unreachable; retry")
            return
        if session.state is SessionState.CLOSED:
            return  # the client went away meanwhile
        now = asyncio.get_running_loop().time()
        node.relay.session_hello(session, hello, now)  # the room is local now: joins here
        session.release(now)

    async def _claim(self, session: Session, name: str) -> bool:
        """Acquire room `name` here (True), or redirect the session to the node
        that owns it or was chosen for it (False)."""
        node = self.node
        claim = await node.store.claim(
            name,
            node.address,
            place=node.config.placement == "least-loaded",
            websocket=session.transport == "ws",
            reserve_seconds=node.config.lease_seconds,
        )
        ok, value = claim.outcome == Claim.ACQUIRED, claim.value
        if claim.outcome == Claim.OWNED:
            ok, value = await self._wait_for_suspect_owner(name, value, session)
        if ok:
            await self.leases.take(name, value)
            return True
        owned = claim.outcome == Claim.OWNED
        address = lease_address(value) if owned else claim.address
        http = claim.http if address == claim.address else None
        await self._redirect_to(session, address, http, f"room {name!r} is hosted by another node")
        node.redis_ok()
        return False

    async def _wait_for_suspect_owner(
        self, name: str, lease: str, session: Session
    ) -> tuple[bool, str]:
        """The room's owner has missed its heartbeats (it is probably dead): rather
        than redirect the player to it, hold the Hello until its lease runs out
        (at most a lease period) and take the room. An owner that heartbeats
        again keeps the room and the player is redirected to it."""
        node = self.node
        period = node.config.lease_seconds
        deadline = time.monotonic() + period + 0.5
        while await self._suspect(lease_address(lease)):
            if time.monotonic() > deadline or session.state is SessionState.CLOSED:
                break
            await asyncio.sleep(period / 15)
            ok, lease = await node.store.acquire(name, node.address)
            if ok:
                return True, lease
        return False, lease

    async def _suspect(self, address: str) -> bool:
        """Has the node at `address` missed two heartbeats (sent 4 per lease period)?"""
        left = await self.node.store.heartbeat_left(address)
        return left is None or left < self.node.config.lease_seconds / 2

    async def _redirect_to(
        self, session: Session, address: str, http: str | None, detail: str
    ) -> None:
        """Redirect `session` to the node at `address`; a WebSocket session to the
        node's HTTP address (`http`, looked up in Redis if None)."""
        if http is None and session.transport == "ws":
            http = await self.node.store.http_address(address)
        self.node.redirects += 1
        self.node.kick_to(session, detail, address, http or "")
