"""Sans-I/O: a room's state as the cluster keeps it in Redis, and its restore.

A room's stream holds one entry per tick (id `N-0`, field `f` = the exact tick
frame). Slots, last seqs and membership cannot be read back from a stream
trimmed to the history window (the joins may be older than the window), so the
owner adds a *snapshot* (field `s`) to some entries: the room's players as of
that tick, written atomically with it. A new owner reads the newest snapshot
and replays the ticks after it (`restore`).

A snapshot is taken right after `Room.produce` returned the tick it rides on:
at that moment the open tick is empty (no Hello or input is handled between
produce and the cycle's record), so the players' `last_seq` and membership are
exactly those of the ticks up to and including it.

The snapshot also carries the room's *match key* (`m`): the id of the match
that every node's archived part of it shares (docs/scaling.md, "Match archive").
It lives with the stream, so it is trimmed and expires with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from tickcast import wire
from tickcast.config import Config
from tickcast.restore import RoomState, replay_ticks
from tickcast.room import Player, Room


def snapshot(room: Room, match_key: str = "") -> bytes:
    """The players and chain of `room` just after it produced its newest tick."""
    players = [
        [p.id, p.slot, p.last_seq, int(p.member), p.join_tick, p.left_tick]
        for p in room.players.values()
    ]
    data = {"c": room.chain.hex(), "p": players, "m": match_key}
    return json.dumps(data, separators=(",", ":")).encode()


@dataclass(slots=True)
class StreamState(RoomState):
    """A room restored from its stream (`Room.restored` takes it), and where from."""

    snapshot_tick: int = 0  # 0: no snapshot was found (a stream from its first tick)
    match_key: str = ""  # "" : none in the stream (a new match)


def _load_snapshot(raw: bytes, state: StreamState) -> None:
    data = json.loads(raw)
    state.chain = bytes.fromhex(data["c"])
    state.match_key = data.get("m", "")
    state.players = {}
    for pid, slot, last_seq, member, join_tick, left_tick in data["p"]:
        p = Player(pid, slot)
        p.last_seq, p.member = last_seq, bool(member)
        p.join_tick, p.left_tick = join_tick, left_tick
        state.players[slot] = p


def restore(entries: Iterable[tuple[int, bytes, bytes | None]], keep: int) -> StreamState:
    """Rebuild a room from its stream's entries `(tick, frame, snapshot or None)`,
    oldest first: the newest snapshot, then every tick after it replayed on it
    (`restore.replay_ticks`, as a restart does); the newest `keep` frames become
    the history ring."""
    entries = list(entries)
    state = StreamState()
    start = 0
    for i in range(len(entries) - 1, -1, -1):
        snap = entries[i][2]
        if snap:
            _load_snapshot(snap, state)
            state.snapshot_tick = entries[i][0]
            start = i + 1
            break
    replay_ticks(((n, f) for n, f, _ in entries[start:]), keep, state)
    if entries:
        state.last_tick = entries[-1][0]
    state.history = [(n, f) for n, f, _ in entries[-keep:]]
    return state


@dataclass(frozen=True, slots=True)
class PartStart:
    """Where a node's archived part of a match begins (`MatchArchive.begin_part`)."""

    first_tick: int
    base_chain: bytes  # the chain of tick first_tick - 1 (b"" before tick 1)
    ticks: list[tuple[int, bytes]]  # the restored ticks the part starts with


def part_start(entries: list[tuple[int, bytes, bytes | None]]) -> PartStart:
    """A new owner's part, from the stream entries it restored the room from: it
    archives them again (they cover ticks a killed owner had not yet archived).
    The oldest entry only gives the chain to continue from, unless it is tick 1."""
    if not entries:
        return PartStart(1, b"", [])
    if entries[0][0] == 1:
        return PartStart(1, b"", [(n, f) for n, f, _ in entries])
    base = entries[0]
    chain = wire.decode_tick_frame(base[1]).chain
    return PartStart(base[0] + 1, chain, [(n, f) for n, f, _ in entries[1:]])


def restored_room(name: str, config: Config, state: RoomState, now: float) -> Room:
    """A `Room` that goes on after `state.last_tick` (members wait for their grace)."""
    return Room.restored(name, config, state, now)
