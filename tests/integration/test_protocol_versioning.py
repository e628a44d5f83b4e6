"""docs/protocol.md "How protocol versions evolve": what it says a v1 peer does
with a newer peer's additions holds for this server and the Python SDK.

- a Hello and an Input carrying a field number v1 does not have (a newer client's
  optional field) are served as if it were absent, on the input fast path too;
- the SDK reads a Tick carrying an unknown field, and gives up on an unknown Kick
  reason instead of retrying;
- protocol_version 2 gets Kick{VERSION_MISMATCH}.
"""

from __future__ import annotations

import re
from pathlib import Path

from support import RawClient, client_frame, hello_frame, running_server

from tickcast import client as sdk
from tickcast import wire
from tickcast.proto import pb

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
# field 100, wire type 0 (varint), value 1: a field no v1 message has
UNKNOWN_FIELD = bytes([0xA0, 0x06, 0x01])


def section() -> str:
    return DOC.split("## How protocol versions evolve", 1)[1].split("\n## ", 1)[0]


def with_unknown_field(message: bytes) -> bytes:
    """The TCP frame of a ClientMessage whose inner message got UNKNOWN_FIELD:
    rebuilt by hand so that protobuf cannot drop it."""
    body = message[wire.prefix_length(message):]
    tag, length, inner = body[0], body[1], body[2:]
    assert length == len(inner) < 127 - len(UNKNOWN_FIELD)
    return wire.frame(bytes([tag, length + len(UNKNOWN_FIELD)]) + inner + UNKNOWN_FIELD)


def test_the_section_names_the_rules_it_is_tested_by() -> None:
    text = section()
    for claim in ("optional field", "enum value", "Version 2", "protocol_version = 1",
                  "VERSION_MISMATCH", "skips unknown fields"):
        assert claim in text, claim
    assert re.search(r"^- \[ \] skips unknown fields", DOC, re.M)  # the checklist agrees


async def test_a_newer_clients_unknown_fields_are_ignored() -> None:
    async with running_server() as server:
        c = await RawClient.connect(server.port)
        c.send(with_unknown_field(hello_frame("ada", "versions")))
        welcome = await c.next_message()
        assert welcome.WhichOneof("body") == "welcome", welcome
        plain = client_frame(input=pb.Input(seq=1, payload=b"jump"))
        c.send(with_unknown_field(plain))
        while True:
            tick = await c.next_tick()
            if tick.inputs:
                break
        assert [(i.seq, i.payload) for i in tick.inputs] == [(1, b"jump")]
        await c.close()


def test_the_sdk_reads_a_tick_with_an_unknown_field() -> None:
    tick = pb.ServerMessage(tick=pb.Tick(number=7, inputs=[pb.RelayedInput(slot=1, seq=2)]))
    newer = with_unknown_field(wire.frame(tick.SerializeToString()))
    decoded = wire.decode_server_frame_body(newer[wire.prefix_length(newer):])
    assert decoded.tick.number == 7 and decoded.tick.inputs[0].seq == 2
    core = sdk.ClientCore("ada", "r")
    core.on_welcome(pb.Welcome(slot=1, first_tick=7, tick_rate=30))
    (typed,) = core.on_tick_frame(newer[wire.prefix_length(newer):], decoded.tick)
    assert typed.number == 7 and [i.seq for i in typed.inputs] == [2]


def test_the_sdk_gives_up_on_an_unknown_kick_reason() -> None:
    unknown = sdk.kick_error(pb.Kick(reason=99, detail="from a newer server"))  # type: ignore[arg-type]
    assert sdk._terminal(unknown)
    assert not sdk._terminal(sdk.kick_error(pb.Kick(reason=pb.REASON_SLOW_CONSUMER)))


async def test_protocol_version_2_is_refused_with_version_mismatch() -> None:
    async with running_server() as server:
        c = await RawClient.connect(server.port)
        c.send(hello_frame("ada", "versions", protocol_version=2))
        kick = await c.expect_kick()
        await c.close()
    assert kick.reason == pb.REASON_VERSION_MISMATCH and "1" in kick.detail
