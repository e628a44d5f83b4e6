"""Spectator mirrors: read-only copies of rooms owned by another node, fed from
the room's stream, so that the owner's cost does not grow with its spectators."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from tickcast.cluster.shared import RETRY_SECONDS, Node
from tickcast.config import Config
from tickcast.logs import fields
from tickcast.restore import RoomState
from tickcast.room import FedRoom, Room

log = logging.getLogger("tickcast.cluster")

MIRROR_BLOCK_MS = 500
"""How long one XREAD of a spectator mirror waits for new ticks."""


class MirrorRoom(FedRoom):
    """A room fed from the owner's stream (`play`, as the stream's ticks arrive).

    It never has members (a player's Hello goes through placement, which
    acquires the room or redirects), so the relay never produces a tick for
    it, and drops it once the last spectator has gone.
    """

    floor = 1  # the oldest tick the stream still held when the mirror was built

    @classmethod
    def of_stream(
        cls, name: str, config: Config, history: list[tuple[int, bytes]], now: float
    ) -> MirrorRoom:
        """A mirror that starts after the newest of `history` (the stream's tail)."""
        last = history[-1][0] if history else 0
        mirror = cls.restored(name, config, RoomState(last_tick=last, history=history), now)
        assert isinstance(mirror, MirrorRoom)
        mirror.floor = history[0][0] if history else 1
        mirror.created_at = now
        return mirror

    def first_kept(self) -> int:
        return max(self.floor, super().first_kept())


class Mirrors:
    """The rooms this node mirrors, each followed by a task reading its stream."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.mirrors: dict[str, tuple[MirrorRoom, asyncio.Task[None]]] = {}

    async def mirror(self, name: str) -> None:
        """Mirror room `name` for spectators here (from its stream's tail on)."""
        node = self.node
        if name in self.mirrors:
            return
        keep = node.config.history_ticks
        entries = await node.store.read_tail(name, keep)
        if name in self.mirrors or name in node.owned:
            return  # another Hello built it while we read
        history = [(n, f) for n, f, _ in entries[-keep:]]
        loop = asyncio.get_running_loop()
        mirror = MirrorRoom.of_stream(name, node.config, history, loop.time())
        node.relay.add_room(mirror)
        task = loop.create_task(self._follow(mirror), name=f"tickcast-mirror-{name}")
        self.mirrors[name] = (mirror, task)
        log.info("cluster: mirroring room for spectators %s", fields(room=name, tick=mirror.sent))

    async def _follow(self, mirror: MirrorRoom) -> None:
        """Feed a mirror from its stream until the relay drops it."""
        node = self.node
        name = mirror.name
        while node.relay.rooms.get(name) is mirror:
            try:
                ticks = await node.store.read_after(name, mirror.next - 1, MIRROR_BLOCK_MS)
                node.redis_ok()
            except RedisError as exc:
                node.redis_failed("mirror", exc)
                await asyncio.sleep(RETRY_SECONDS * 5)
                continue
            for number, frame in ticks:  # (a re-read after a Redis error: played once)
                mirror.play(number, frame)
        if self.mirrors.get(name, (None,))[0] is mirror:
            del self.mirrors[name]

    def replace(self, name: str) -> None:
        """This node owns room `name` now: its mirror goes, and the mirror's
        spectators come back to the room itself (they reconnect here)."""
        mirrored = self.mirrors.pop(name, None)
        if mirrored is None:
            return
        mirror, task = mirrored
        task.cancel()
        self.node.relay.remove_room(mirror, "now owned by this node")
        node = self.node
        for s in mirror.sessions():
            node.kick_to(s, "room moved to this node", node.address, node.http_address)

    def gone(self, room: Room) -> None:
        """The relay dropped `room` (its last spectator left): stop following it."""
        mirrored = self.mirrors.get(room.name)
        if mirrored is not None and mirrored[0] is room:
            mirrored[1].cancel()
            del self.mirrors[room.name]

    def cancel_all(self) -> None:
        for _, task in self.mirrors.values():
            task.cancel()
