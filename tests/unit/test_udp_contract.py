"""The UDP extension of the contract: new optional fields only, so every v1 peer
works unchanged.

A "v1 peer" here is the schema as the contract (protocol-v1) fixes it: the
generated descriptor with the UDP fields taken out, in a pool of its own. It
must read the new messages (skipping what it does not know), be read by the
new code, and a server that offers no UDP (today's relay) must answer a Hello
that asks for UDP with a plain v1 Welcome, on which the client stays on the
stream.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from support import input_frame

from tickcast.client import ClientCore
from tickcast.proto import pb
from tickcast.udp import UdpClientCore

from .harness import Harness

# The contract's field numbers (protocol-v1.md): they never change.
V1_FIELDS = {
    "Hello": {
        "protocol_version": 1,
        "player_id": 2,
        "token": 3,
        "room": 4,
        "resume_after": 5,
        "full_history": 6,
        "spectator": 7,
    },
    "Welcome": {
        "room": 1,
        "slot": 2,
        "tick_rate": 3,
        "first_tick": 4,
        "members": 5,
        "last_seq": 6,
        "server_id": 7,
    },
}
UDP_FIELDS = {"Hello": {"udp_version": 8}, "Welcome": {"udp": 8}}


def v1_classes() -> dict[str, Any]:
    """Message classes of the v1 schema: today's descriptor without the UDP fields."""
    fdp = descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(fdp)
    for message in fdp.message_type:
        extra = UDP_FIELDS.get(message.name, {})
        kept = [f for f in message.field if f.name not in extra]
        del message.field[:]
        message.field.extend(kept)
    kept_messages = [m for m in fdp.message_type if m.name != "UdpOffer"]
    del fdp.message_type[:]
    fdp.message_type.extend(kept_messages)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tickcast.v1.{name}"))
        for name in ("Hello", "Welcome", "ClientMessage", "ServerMessage")
    }


V1 = v1_classes()

OFFER = pb.UdpOffer(version=1, port=7777, session_id=b"\x01" * 8, key=b"\x02" * 32)


def test_the_v1_numbers_are_untouched_and_the_udp_ones_are_new() -> None:
    for name in ("Hello", "Welcome"):
        fields = {f.name: f.number for f in getattr(pb, name).DESCRIPTOR.fields}
        assert fields == V1_FIELDS[name] | UDP_FIELDS[name]
        assert set(V1_FIELDS[name].values()).isdisjoint(UDP_FIELDS[name].values())
    offer = {f.name: f.number for f in pb.UdpOffer.DESCRIPTOR.fields}
    assert offer == {"version": 1, "port": 2, "host": 3, "session_id": 4, "key": 5}


def test_a_v1_server_reads_a_hello_that_asks_for_udp_as_the_same_hello() -> None:
    new = pb.Hello(protocol_version=1, player_id="ada", room="arena", resume_after=9)
    asking = pb.Hello()
    asking.CopyFrom(new)
    asking.udp_version = 1
    old = V1["Hello"].FromString(asking.SerializeToString())
    plain = V1["Hello"].FromString(new.SerializeToString())
    for f in plain.DESCRIPTOR.fields:
        assert getattr(old, f.name) == getattr(plain, f.name), f.name
    # and it keeps the unknown field: re-encoded, nothing is lost
    assert old.SerializeToString() == asking.SerializeToString()


def test_a_v1_client_reads_a_welcome_with_an_offer_as_the_same_welcome() -> None:
    welcome = pb.Welcome(room="arena", slot=3, tick_rate=30, first_tick=130, last_seq=4)
    welcome.members.add(slot=1, player_id="ada")
    offered = pb.Welcome()
    offered.CopyFrom(welcome)
    offered.udp.CopyFrom(OFFER)
    framed = pb.ServerMessage(welcome=offered).SerializeToString()
    old = V1["ServerMessage"].FromString(framed).welcome
    plain = V1["Welcome"].FromString(welcome.SerializeToString())
    for f in plain.DESCRIPTOR.fields:
        assert getattr(old, f.name) == getattr(plain, f.name), f.name


def test_v1_bytes_read_with_the_new_schema_have_no_udp() -> None:
    hello = V1["Hello"](protocol_version=1, player_id="ada")
    assert pb.Hello.FromString(hello.SerializeToString()).udp_version == 0
    welcome = V1["Welcome"](room="r", slot=1, first_tick=1)
    assert not pb.Welcome.FromString(welcome.SerializeToString()).HasField("udp")


@pytest.mark.parametrize("spectator", [False, True])
def test_a_server_that_offers_no_udp_answers_a_v1_welcome_and_the_client_stays_on_the_stream(
    spectator: bool,
) -> None:
    h = Harness()
    h.join("bob")  # ticks flow while the room has a player
    c, welcome = h.join("ada", udp_version=1, spectator=spectator)
    assert not welcome.HasField("udp")
    core = ClientCore("ada", "r", spectator=spectator)
    core.on_welcome(welcome)
    assert UdpClientCore.from_welcome(core, welcome, 0.0) is None
    if not spectator:
        c.send_bytes(input_frame(1, b"x"))
    h.tick()
    (tick,) = c.ticks()
    assert tick.number == 1
    assert [(i.seq, i.payload) for i in tick.inputs] == ([] if spectator else [(1, b"x")])


@pytest.mark.parametrize(
    "offer",
    [
        pb.UdpOffer(version=2, port=7777, session_id=b"\x01" * 8, key=b"\x02" * 32),
        pb.UdpOffer(version=1, port=0, session_id=b"\x01" * 8, key=b"\x02" * 32),
        pb.UdpOffer(version=1, port=7777, session_id=b"\x01" * 7, key=b"\x02" * 32),
        pb.UdpOffer(version=1, port=7777, session_id=b"\x01" * 8, key=b"\x02" * 16),
    ],
    ids=["other-version", "no-port", "short-session-id", "short-key"],
)
def test_an_unusable_offer_leaves_the_client_on_the_stream(offer: pb.UdpOffer) -> None:
    welcome = pb.Welcome(room="r", slot=1, tick_rate=30, first_tick=1, udp=offer)
    core = ClientCore("ada", "r")
    core.on_welcome(welcome)
    assert UdpClientCore.from_welcome(core, welcome, 0.0) is None


def test_a_usable_offer_gives_a_udp_side() -> None:
    welcome = pb.Welcome(room="r", slot=1, tick_rate=30, first_tick=1, udp=OFFER)
    core = ClientCore("ada", "r")
    core.on_welcome(welcome)
    udp = UdpClientCore.from_welcome(core, welcome, 0.0)
    assert udp is not None
    assert (udp.host, udp.port, udp.session_id, udp.key) == ("", 7777, b"\x01" * 8, b"\x02" * 32)
