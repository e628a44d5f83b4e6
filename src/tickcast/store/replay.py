"""Serve a recorded match as a live, watch-only room (`tickcast replay`).

The replay room is an ordinary `Room` with no members (so the relay's ticker
leaves it alone) whose ticks come from the log instead of a sequencer: the
recorded frames, byte for byte, at the recorded tick rate times `speed`.
Spectators join it like any room; `full_history` and resumes are served from
the log through the same catch-up path as a live match. Players are refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tickcast.config import Config
from tickcast.errors import JoinRefused
from tickcast.logs import fields
from tickcast.proto import pb
from tickcast.restore import RoomState
from tickcast.room import FedRoom
from tickcast.store.log import MatchInfo, TickLog, iter_ticks
from tickcast.store.recorder import LogArchive

if TYPE_CHECKING:
    from tickcast.server import Server
    from tickcast.session import HelloRequest, Session

log = logging.getLogger("tickcast.replay")

START_POLL = 0.05


class ReplayRoom(FedRoom):
    """A room fed from a recorded match (`play`, at the recorded pace); spectators only."""

    def join(self, session: Session, hello: HelloRequest, now: float) -> None:
        if not hello.spectator:
            raise JoinRefused(
                "this room is a replay: join it as a spectator", pb.REASON_ROOM_CLOSED
            )
        super().join(session, hello, now)


class ReplayService:
    """A server `Service` that plays one match into a `ReplayRoom`.

    The clock starts when the first spectator has joined (so nobody misses the
    start), and the room closes (`Kick{ROOM_CLOSED}`) after the last tick;
    `finished` is set then."""

    def __init__(self, reader: TickLog, match: MatchInfo, speed: float = 1.0) -> None:
        self.log = reader
        self.match = match
        self.speed = speed
        self.finished = asyncio.Event()
        self.room: ReplayRoom | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, server: Server) -> None:
        cfg = server.config.replace(tick_rate=self.match.tick_rate)
        first = self.match.first_tick
        room = ReplayRoom(self.match.room, cfg)
        if self.match.is_part:  # a cluster node's part: it goes on after tick first - 1
            state = RoomState(last_tick=first - 1, chain=self.match.base_chain)
            part = ReplayRoom.restored(
                self.match.room, cfg, state, asyncio.get_running_loop().time()
            )
            assert isinstance(part, ReplayRoom)
            room = part
        room.archive = LogArchive(self.log, self.match.id, first)
        server.relay.add_room(room)
        self.room = room
        self._task = asyncio.get_running_loop().create_task(self._play(room))

    async def _play(self, room: ReplayRoom) -> None:
        loop = asyncio.get_running_loop()
        while not room.spectators:
            await asyncio.sleep(START_POLL)
        interval = 1.0 / (self.match.tick_rate * self.speed)
        t0 = loop.time()
        ticks: Iterator[tuple[int, bytes]] = iter_ticks(self.log, self.match.id)
        for number, frame in ticks:
            delay = t0 + (number - self.match.first_tick) * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            room.play(number, frame)
        room.close(pb.REASON_ROOM_CLOSED, "replay finished")
        log.info("replay finished %s", fields(match=self.match.id, tick=room.sent))
        self.finished.set()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def wait_closed(self) -> None:
        if self._task is not None:
            try:
                await self._task
            except asyncio.CancelledError:
                pass


def replay_config(base: Config, match: MatchInfo) -> Config:
    """The server config of a replay: the match's tick rate, nothing recorded."""
    return base.replace(tick_rate=match.tick_rate, record=False)
