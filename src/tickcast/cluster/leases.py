"""The rooms a cluster node owns: taking one over, keeping its lease, losing it.

`Node.owned` is the table of owned rooms (room, lease value, snapshot tick,
match key). A room is taken over (`take`) once its lease is acquired: it is
restored from its stream and added to the relay. The lease loop renews every
lease a few times per lease period and heartbeats the node; a room whose lease
could not be renewed, or whose fenced append was refused, is dropped (`drop`):
another node owns it now, so its members are redirected there.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from redis.exceptions import RedisError

from tickcast.cluster.mirror import Mirrors
from tickcast.cluster.redis_store import lease_epoch
from tickcast.cluster.shared import Node, Owned
from tickcast.cluster.state import part_start, restore, restored_room
from tickcast.logs import fields
from tickcast.proto import pb
from tickcast.room import Room

log = logging.getLogger("tickcast.cluster")


class Leases:
    """Owned rooms and their leases (see the module docstring)."""

    def __init__(self, node: Node, mirrors: Mirrors) -> None:
        self.node = node
        self.mirrors = mirrors
        self.on_drain_requested: Callable[[], None] = lambda: None

    async def take(self, name: str, lease: str) -> None:
        """We hold the lease: restore the room from its stream and add it to the relay."""
        node = self.node
        self.mirrors.replace(name)
        keep = node.config.history_ticks
        entries = await node.store.read_tail(name, keep)
        state = restore(entries, keep)
        now = asyncio.get_running_loop().time()
        room = restored_room(name, node.config, state, now)
        room.created_at = now
        key = state.match_key or uuid.uuid4().hex  # none in the stream: a new match
        node.owned[name] = Owned(room, lease, match_key=key)
        if node.archive is not None:
            part = part_start(entries)
            node.archive.begin_part(room, key, part.first_tick, part.base_chain, part.ticks)
        node.rooms_acquired += 1
        node.relay.add_room(room)
        log.info(
            "cluster: acquired room %s",
            fields(room=name, epoch=lease_epoch(lease), tick=state.last_tick,
                   members=room.members),
        )

    def drop(self, name: str, why: str, reason: int = pb.REASON_REDIRECT) -> None:
        """Stop hosting `name` now; its sessions go and ask again (placement
        redirects them to the new owner, or this node acquires the room anew)."""
        node = self.node
        owned = node.owned.pop(name, None)
        if owned is None:
            return
        node.rooms_dropped += 1
        log.warning("cluster: dropped room %s", fields(room=name, why=why))
        if node.archive is not None:
            node.archive.end_part(owned.room, f"dropped: {why}")
        node.relay.remove_room(owned.room, f"dropped: {why}")
        for s in owned.room.sessions():
            if reason == pb.REASON_REDIRECT:
                node.kick_to(s, f"room {name!r} moved", node.address, node.http_address)
            else:
                s.kick(reason, f"room {name!r} paused: {why}")

    def drop_all(self, why: str, reason: int) -> None:
        for name in list(self.node.owned):
            self.drop(name, why, reason)

    def gone(self, room: Room) -> None:
        """The relay closed `room` (empty): give its lease up (in the background)."""
        node = self.node
        owned = node.owned.get(room.name)
        if owned is not None and owned.room is room:
            del node.owned[room.name]
            node.spawn(self._release(room.name, owned.lease))

    async def _release(self, name: str, lease: str) -> None:
        keep = max(60, int(self.node.config.history_seconds))
        try:
            await self.node.store.release(name, lease, keep)
        except RedisError as exc:
            self.node.redis_failed("release", exc)  # the lease runs out by itself

    async def release_all(self) -> None:
        node = self.node
        for name, owned in list(node.owned.items()):
            await node.store.release(name, owned.lease, 0)
        node.owned.clear()

    async def run(self) -> None:
        """Renew every owned lease a few times per lease period; heartbeat."""
        node = self.node
        period = node.config.lease_seconds / 4
        while True:
            await asyncio.sleep(period)
            leases = {name: o.lease for name, o in node.owned.items()}
            try:
                renewed = await node.store.renew(leases)
                if not node.draining:
                    await node.store.heartbeat(
                        node.address, node.load(), node.config.lease_seconds, node.http_address
                    )
                    if await node.store.drain_requested(node.address):
                        log.info("cluster: drain requested through Redis (tickcast drain)")
                        self.on_drain_requested()
                node.redis_ok()
            except RedisError as exc:
                node.redis_failed("renew", exc)
                continue
            for name, ok in renewed.items():
                owned = node.owned.get(name)
                if not ok and owned is not None and owned.lease == leases[name]:
                    self.drop(name, "the lease expired")
