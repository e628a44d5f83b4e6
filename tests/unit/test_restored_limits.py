"""Players of a restored room (a restart on the tick log, a cluster takeover) are
held to the same input limits as players who joined it fresh: before, a restored
player had no InputGuard until it joined anew, so its input rate and per-tick
bytes were unlimited."""

from __future__ import annotations

import pytest
from support import input_frame

from tickcast import wire
from tickcast.proto import pb
from tickcast.restore import replay_ticks
from tickcast.room import Room

from .harness import Harness


@pytest.mark.parametrize("flood", ["rate", "bytes"])
def test_a_restored_player_is_held_to_the_input_limits(flood: str) -> None:
    played = Harness(tick_rate=30, recv_bytes_per_second=0)
    ada, _ = played.join("ada")
    for seq in range(1, 21):
        ada.input(seq, b"x")
        played.tick()
    frames = sorted(ada.tick_bodies().items())
    # the room rebuilt from its ticks, on a new relay (a restart, a takeover)
    h = Harness(tick_rate=30, recv_bytes_per_second=0)
    state = replay_ticks(((n, wire.frame(body)) for n, body in frames), h.config.history_ticks)
    room = Room.restored("r", h.config, state, h.clock.now())
    h.relay.add_room(room)
    [player] = room.players.values()
    assert player.guard is not None
    again, welcome = h.join("ada", resume_after=frames[-1][0])
    assert welcome.slot == player.slot and welcome.last_seq == 20
    if flood == "rate":  # 300 inputs within one tick: over the burst of 240
        data = b"".join(input_frame(21 + i, b"y") for i in range(300))
    else:  # 3 inputs of 30,000 bytes within one tick: over 65,536 bytes a tick
        data = b"".join(input_frame(21 + i, b"z" * 30_000) for i in range(3))
    again.send_bytes(data)
    assert again.kick().reason == pb.REASON_RATE_LIMITED
    assert room.inputs_sequenced <= (240 if flood == "rate" else 2)
