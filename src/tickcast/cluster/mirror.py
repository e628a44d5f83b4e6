"""A read-only copy of a room owned by another node, fed from the room's stream,
for spectators on this node: the owner's cost does not grow with them."""

from __future__ import annotations

from tickcast.config import Config
from tickcast.room import Room


class MirrorRoom(Room):
    """A room with no sequencer: ticks come from the owner's stream (`append`).

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
        mirror = cls.restored(
            name, config, last_tick=last, chain=b"", players=[], history=history, now=now
        )
        assert isinstance(mirror, MirrorRoom)
        mirror.floor = history[0][0] if history else 1
        mirror.created_at = now
        return mirror

    def first_kept(self) -> int:
        return max(self.floor, super().first_kept())

    def append(self, number: int, frame: bytes) -> None:
        """Tick `number` arrived from the stream: keep it and send it to the spectators."""
        if number < self.next:
            return  # read twice (a re-read after a Redis error): already sent
        ring = self._ring
        for skipped in range(max(self.next, number - len(ring) + 1), number):
            ring[skipped % len(ring)] = None  # empty ticks the owner skipped
        ring[number % len(ring)] = frame
        self.next = number + 1
        self.sent = number
        self._fan_out(frame)
