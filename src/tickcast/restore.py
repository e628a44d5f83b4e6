"""Sans-I/O: a room's state rebuilt from its ticks, so it can go on after them.

One function for every restore: a server restarted on its tick log
(`store.Recorder`), a cluster node taking a room over from its Redis stream
(`cluster.state.restore`, which starts from the stream's newest snapshot), and
a tick-fed room's starting point (a mirror, a replay). Replaying the ticks in
order gives each player's slot, membership (the ticks its join and leave took
effect at) and last sequenced seq, the chain, and the newest frames for the
history ring; `Room.restored` builds the room from that.

This runs once per restore, not per tick, so it reads the frames with the
generated protobuf code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tickcast import wire
from tickcast.room import Player


@dataclass(slots=True)
class RoomState:
    """A room as its ticks left it: what `Room.restored` needs to go on after them."""

    last_tick: int = 0
    chain: bytes = b""
    players: dict[int, Player] = field(default_factory=dict)  # by slot
    history: list[tuple[int, bytes]] = field(default_factory=list)  # the newest frames

    @property
    def members(self) -> list[Player]:
        return [p for p in self.players.values() if p.member]


def replay_ticks(
    ticks: Iterable[tuple[int, bytes]], keep: int, state: RoomState | None = None
) -> RoomState:
    """Apply `ticks` (number, frame), oldest first, to `state` (an empty room's,
    or a snapshot's): presence, seqs, the chain, and the newest `keep` frames.
    Streams: memory is O(keep + players), however long the match."""
    state = RoomState() if state is None else state
    players = state.players
    history = state.history
    for number, frame in ticks:
        tick = wire.decode_tick_frame(frame)
        for m in tick.joined:
            p = players.get(m.slot)
            if p is None:
                p = players[m.slot] = Player(m.player_id, m.slot)
            p.member, p.join_tick, p.left_tick = True, number, 0
        for slot in tick.left:
            p = players.get(slot)
            if p is not None:
                p.member, p.left_tick = False, number
        for i in tick.inputs:
            p = players.get(i.slot)
            if p is not None and i.seq > p.last_seq:
                p.last_seq = i.seq
        state.last_tick = number
        state.chain = tick.chain
        history.append((number, frame))
        if len(history) > 2 * keep:
            del history[: len(history) - keep]
    if len(history) > keep:
        del history[: len(history) - keep]
    return state
