"""Drain a cluster node: hand every owned room to another node, then stop.

At a tick boundary: stop producing the room's ticks, wait until Redis has all
of them and they are sent, release its lease, then redirect its members to the
least loaded other node (or back here, to be placed again). `tickcast drain`
asks for it through Redis; SIGTERM does it on the node's own machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from tickcast.cluster.shared import Node
from tickcast.cluster.stream import StreamLog
from tickcast.logs import fields
from tickcast.proto import pb

if TYPE_CHECKING:
    from tickcast.server import Server

log = logging.getLogger("tickcast.cluster")


class Drain:
    """The drain of one node (see the module docstring)."""

    def __init__(self, node: Node, stream: StreamLog) -> None:
        self.node = node
        self.stream = stream
        self._task: asyncio.Task[None] | None = None

    async def drain(self) -> int:
        """Hand every owned room over; returns how many were handed over."""
        node = self.node
        relay = node.relay
        node.draining = True
        with contextlib.suppress(RedisError):
            await node.store.leave(node.address)  # no new room is placed here any more
        rooms = dict(node.owned)
        for o in rooms.values():
            relay.remove_room(o.room, "draining")  # no tick after the one in flight
        await self.stream.flush(node.config.shutdown_timeout)
        target = target_http = ""
        try:
            nodes = await node.store.live_nodes()
            nodes.pop(node.address, None)
            if nodes:
                target = min(nodes, key=lambda a: (nodes[a], a))
                target_http = await node.store.http_address(target)
            for name, o in rooms.items():
                if node.owned.get(name) is o:
                    await node.store.release(name, o.lease, 0)
            await node.store.leave(node.address)
        except RedisError as exc:
            node.redis_failed("drain", exc)
        for name, o in rooms.items():
            if node.owned.get(name) is o:
                del node.owned[name]
                if node.archive is not None:
                    node.archive.end_part(o.room, "drained")
                for s in o.room.sessions():
                    if target:
                        node.kick_to(s, "node draining", target, target_http)
                    else:
                        s.kick(pb.REASON_SERVER_SHUTDOWN, "node draining")
        log.info("cluster: drained rooms %s", fields(rooms=len(rooms), to=target or None))
        return len(rooms)

    def then_close(self, server: Server | None) -> Callable[[], None]:
        """A SIGTERM handler: drain, then shut the server down; a second signal
        during the drain shuts down at once."""

        def on_signal() -> None:
            assert server is not None
            if self._task is not None:
                server.close()
                return
            log.info("cluster: SIGTERM: draining before shutdown")

            async def run() -> None:
                try:
                    await self.drain()
                finally:
                    server.close()

            self._task = asyncio.get_running_loop().create_task(run())

        return on_signal
