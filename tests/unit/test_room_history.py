"""A room's history returns, for every kept tick, exactly the frame that was sent.

Empty ticks are kept compactly (their chain only) and rebuilt on demand; this
checks the rebuilt frames byte for byte, across the ring's wrap-around.
"""

from __future__ import annotations

import pytest

from tickcast import wire
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.relay import Relay
from tickcast.room import Room


class NullSink:
    def write(self, data: bytes) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def hello(player_id: str) -> bytes:
    msg = pb.ClientMessage(hello=pb.Hello(protocol_version=1, player_id=player_id, room="r"))
    return wire.frame(msg.SerializeToString())


def send_input(session, seq: int) -> None:  # type: ignore[no-untyped-def]
    msg = pb.ClientMessage(input=pb.Input(seq=seq, payload=b"p%d" % seq))
    session.data_received(wire.frame(msg.SerializeToString()), 0.0)


@pytest.mark.parametrize("chain", [True, False])
def test_every_kept_tick_is_the_frame_that_was_sent(chain: bool) -> None:
    config = Config(server_id="t", tick_rate=10, history_seconds=1.5, chain=chain)
    relay = Relay(config)
    a = relay.open_session(NullSink(), 0.0)
    a.data_received(hello("a"), 0.0)
    room: Room = relay.rooms["r"]
    sent: dict[int, bytes] = {}
    seq = 0
    for t in range(1, 60):
        if t % 7 in (0, 3):  # some ticks carry an input, most are empty
            seq += 1
            send_input(a, seq)
        number = room.next
        record = room.produce(t / 10)
        assert record is not None and record.frame
        sent[number] = record.frame
        room.deliver(record)
        for n in range(room.first_kept(), room.last_sent() + 1):
            assert room.frame(n) == sent[n], (t, n)


def test_skipped_empty_ticks_stay_skipped() -> None:
    config = Config(server_id="t", tick_rate=10, history_seconds=1.0, skip_empty_ticks=True)
    relay = Relay(config)
    a = relay.open_session(NullSink(), 0.0)
    a.data_received(hello("a"), 0.0)
    room: Room = relay.rooms["r"]
    join = room.produce(0.1)
    assert join is not None and join.frame
    room.deliver(join)  # produced ticks count as sent once delivered (tickcast.store)
    send_input(a, 1)
    with_input = room.produce(0.2)  # tick 2
    assert with_input is not None and with_input.frame
    room.deliver(with_input)
    empty = room.produce(0.3)  # tick 3: skipped
    assert room.last_sent() == 3
    assert empty is None and room.frame(3) is None
    assert room.frame(2) == with_input.frame
