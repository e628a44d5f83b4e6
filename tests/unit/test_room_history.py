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


def big_input(session, seq: int, size: int) -> None:  # type: ignore[no-untyped-def]
    msg = pb.ClientMessage(input=pb.Input(seq=seq, payload=bytes([seq % 256]) * size))
    session.data_received(wire.frame(msg.SerializeToString()), 0.0)


def test_the_history_is_bounded_by_bytes_as_well_as_seconds() -> None:
    """Issue 15 item 6: a room whose player sends as much as the limits allow no
    longer keeps history_seconds of it: at most --history-bytes (the default),
    the oldest ticks going first, and every tick still held is the one sent."""
    config = Config(server_id="t", tick_rate=30, recv_bytes_per_second=0)
    assert config.history_bytes == 2 << 20
    relay = Relay(config)
    a = relay.open_session(NullSink(), 0.0)
    a.data_received(hello("a"), 0.0)
    room: Room = relay.rooms["r"]
    sent: dict[int, bytes] = {}
    for t in range(1, 601):  # 20 s at 30 Hz, 8 KB a tick: 4.9 MB sent
        big_input(a, t, 8000)
        record = room.produce(t / 30)
        assert record is not None
        sent[record.number] = record.frame
        room.deliver(record)
        held = room.history.bytes
        assert held <= config.history_bytes
        assert held == sum(len(sent[n]) + 33 for n in range(room.first_kept(), room.sent + 1))
    first = room.first_kept()
    assert first > 300  # at most ~2 MiB of 8 KB ticks: the newest ~260
    assert room.sent - first + 1 >= (2 << 20) // 8100 - 1
    for n in range(first, room.sent + 1):
        assert room.frame(n) == sent[n]


def test_a_tick_larger_than_the_bound_is_not_kept() -> None:
    config = Config(
        server_id="t", tick_rate=30, history_bytes=65536, recv_bytes_per_second=0,
        input_bytes_per_tick=100_000,
    )  # fmt: skip
    relay = Relay(config)
    a = relay.open_session(NullSink(), 0.0)
    a.data_received(hello("a"), 0.0)
    room: Room = relay.rooms["r"]
    for seq in (1, 2):  # 2 x 40,000 B of payload: one tick of 80 KB
        big_input(a, seq, 40_000)
    record = room.produce(0.1)
    assert record is not None and len(record.frame) > 65536
    room.deliver(record)
    assert room.history.bytes == 0 and room.first_kept() == 2  # nothing held
    small = room.produce(0.2)  # an empty tick (kept as its chain) is held again
    assert small is not None
    room.deliver(small)
    assert room.first_kept() == 2 and room.frame(2) == small.frame


def test_resume_from_before_the_byte_bound_without_a_log_is_refused() -> None:
    config = Config(server_id="t", tick_rate=30, history_bytes=65536, recv_bytes_per_second=0)
    relay = Relay(config)
    a = relay.open_session(NullSink(), 0.0)
    a.data_received(hello("a"), 0.0)
    room: Room = relay.rooms["r"]
    for t in range(1, 31):
        big_input(a, t, 8000)
        record = room.produce(t / 30)
        assert record is not None
        room.deliver(record)
    assert room.first_kept() > 20
    frames: list[bytes] = []

    class Keep(NullSink):
        def write(self, data: bytes) -> None:
            frames.append(data)

    b = relay.open_session(Keep(), 1.0)
    msg = pb.ClientMessage(
        hello=pb.Hello(protocol_version=1, player_id="a", room="r", resume_after=5)
    )
    b.data_received(wire.frame(msg.SerializeToString()), 1.0)
    kick = pb.ServerMessage.FromString(frames[-1][1:]).kick
    assert kick.reason == pb.REASON_RESUME_UNAVAILABLE
    assert "no longer kept" in kick.detail
