"""The session's hand-decoded Input path behaves exactly like the protobuf path.

Sans-I/O: a Relay with sinks that record what they are given, and a fake clock.
"""

from __future__ import annotations

from support import client_frame

from tickcast import wire
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.relay import Relay
from tickcast.session import Session, SessionState
from tickcast.testing import MemorySink


def join(relay: Relay, player_id: str, **hello: object) -> tuple[Session, MemorySink]:
    sink = MemorySink()
    s = relay.open_session(sink, 0.0)
    s.data_received(
        client_frame(hello=pb.Hello(protocol_version=1, player_id=player_id, room="r", **hello)),
        0.0,
    )
    return s, sink


def relayed(sink: MemorySink) -> list[tuple[int, int, bytes]]:
    return [
        (i.slot, i.seq, i.payload)
        for m in sink.messages()
        if m.HasField("tick")
        for i in m.tick.inputs
    ]


def test_compact_and_general_inputs_are_relayed_alike() -> None:
    relay = Relay(Config(server_id="t"))
    a, sink_a = join(relay, "a")
    b, _ = join(relay, "b")
    a.data_received(client_frame(input=pb.Input(seq=1, payload=b"one")), 0.01)  # hand path
    a.data_received(client_frame(input=pb.Input(seq=1, payload=b"dup")), 0.01)  # not new: dropped
    # an unknown field inside Input: only protobuf decodes it (it skips the field)
    inner = pb.Input(seq=2, payload=b"two").SerializeToString() + b"\x18\x07"
    a.data_received(wire.frame(b"\x12" + wire.encode_varint(len(inner)) + inner), 0.02)
    b.data_received(
        client_frame(input=pb.Input(seq=300, payload=b"x" * 200)), 0.02
    )  # long: protobuf
    b.data_received(client_frame(input=pb.Input(seq=301)), 0.02)  # no payload
    relay.tick(0.04)
    assert relayed(sink_a) == [
        (1, 1, b"one"),
        (1, 2, b"two"),
        (2, 300, b"x" * 200),
        (2, 301, b""),
    ]


def test_spectator_input_is_a_protocol_error() -> None:
    relay = Relay(Config(server_id="t"))
    join(relay, "a")
    s, sink = join(relay, "watcher", spectator=True)
    s.data_received(client_frame(input=pb.Input(seq=1, payload=b"x")), 0.01)
    assert s.state is SessionState.CLOSED
    kicks = [m.kick for m in sink.messages() if m.HasField("kick")]
    assert [k.reason for k in kicks] == [pb.REASON_PROTOCOL_ERROR]


def test_input_before_hello_is_a_protocol_error() -> None:
    relay = Relay(Config(server_id="t"))
    sink = MemorySink()
    s = relay.open_session(sink, 0.0)
    s.data_received(client_frame(input=pb.Input(seq=1, payload=b"x")), 0.0)
    assert s.state is SessionState.CLOSED
    kicks = [m.kick for m in sink.messages() if m.HasField("kick")]
    assert [k.reason for k in kicks] == [pb.REASON_PROTOCOL_ERROR]
    assert "Hello" in kicks[0].detail


def test_several_inputs_in_one_read() -> None:
    relay = Relay(Config(server_id="t"))
    a, sink = join(relay, "a")
    a.data_received(
        b"".join(client_frame(input=pb.Input(seq=n, payload=b"p")) for n in (1, 2, 3)), 0
    )
    relay.tick(0.04)
    assert relayed(sink) == [(1, 1, b"p"), (1, 2, b"p"), (1, 3, b"p")]
