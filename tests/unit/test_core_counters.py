"""The plain counters the core keeps for /metrics (driven sans-I/O: fake sinks,
fake clock): totals survive the sessions and rooms they came from."""

from __future__ import annotations

from support import client_frame, hello_frame

from tickcast.config import Config
from tickcast.proto import pb
from tickcast.relay import Relay
from tickcast.testing import MemorySink


def test_bytes_frames_kicks_and_inputs_outlive_their_sessions_and_rooms() -> None:
    relay = Relay(Config(server_id="t"))
    a_sink, b_sink = MemorySink(), MemorySink()
    a = relay.open_session(a_sink, 0.0, "a", "tcp")
    b = relay.open_session(b_sink, 0.0, "b", "ws")
    first = hello_frame("ada") + client_frame(input=pb.Input(seq=1, payload=b"x"))
    a.data_received(first, 0.0)
    b.message_received(hello_frame("bob")[1:], 0.0)  # a WS message: no length prefix
    relay.tick(0.1)
    assert a.bytes_received == len(first)
    assert relay.rooms["r"].inputs_sequenced == 1

    a.data_received(b"\xff\xff\xff\xff\xff\xff", 0.2)  # a varint over 5 bytes
    assert a_sink.closed
    assert relay.kicks == {pb.REASON_PROTOCOL_ERROR: 1}
    assert relay.bytes_received_closed["tcp"] == len(first) + 6
    sent = relay.bytes_sent_closed["tcp"]
    assert sent > 0 and relay.frames_sent_closed["tcp"] == 2  # Welcome and one tick
    assert len(a_sink.delivered) > sent  # the Kick is written after the count: not a tick

    assert relay.close_room("r")
    assert relay.inputs_of_closed_rooms == 1
    assert relay.kicks[pb.REASON_ROOM_CLOSED] == 1
    assert relay.bytes_received_closed["ws"] == len(hello_frame("bob")) - 1
    # a session ended twice (kicked, then its transport lost) is counted once
    b.connection_lost()
    assert relay.kicks[pb.REASON_ROOM_CLOSED] == 1
    assert relay.fanout_seconds.count == 1
