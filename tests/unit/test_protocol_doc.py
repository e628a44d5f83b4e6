"""docs/protocol.md's worked examples and tables must match the real protocol.

The hex blocks in the doc (each after a `<!-- bytes: NAME -->` marker) are
parsed back into bytes and decoded with the generated protobuf code; they must
be the documented messages and exactly what the server's own encoders
(`tickcast.wire`) emit. The Kick table and the message tables are checked
against the schema. So the doc cannot drift from the code unnoticed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from support import tick_content

from tickcast import wire
from tickcast.proto import pb

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")

_BLOCK = re.compile(r"<!-- bytes: ([\w-]+) -->\n```text\n(.*?)```", re.S)
_HEX_RUN = re.compile(r"[0-9a-f]{2}( [0-9a-f]{2})*")


def hex_blocks(doc: str) -> dict[str, tuple[bytes, list[str]]]:
    """Every marked block: its bytes and its lines. A line contributes bytes if
    its first column (up to two spaces) is a run of two-digit hex bytes."""
    blocks: dict[str, tuple[bytes, list[str]]] = {}
    for name, text in _BLOCK.findall(doc):
        out = bytearray()
        lines = text.splitlines()
        for line in lines:
            first = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            if _HEX_RUN.fullmatch(first):
                out += bytes.fromhex(first)
        assert name not in blocks, f"two blocks named {name}"
        blocks[name] = (bytes(out), lines)
    return blocks


BLOCKS = hex_blocks(DOC)


def single_frame(name: str) -> bytes:
    """The block's bytes as one TCP frame: returns the body, checks the prefix
    and that the first line's "N bytes follow" is right."""
    data, lines = BLOCKS[name]
    frames = wire.Framer(1 << 20).feed(data)
    assert len(frames) == 1, f"{name}: not exactly one frame"
    body = frames[0]
    assert wire.frame(body) == data, f"{name}: trailing or missing bytes"
    said = re.search(r"length prefix: (\d+) bytes follow", lines[0])
    assert said is not None and int(said.group(1)) == len(body)
    return body


def test_the_doc_has_every_example() -> None:
    assert set(BLOCKS) == {"hello", "input", "welcome", "chain-129", "tick"}


def test_hello_example() -> None:
    expected = pb.ClientMessage(hello=pb.Hello(protocol_version=1, player_id="ada", room="arena"))
    body = single_frame("hello")
    assert wire.decode_client_message(body) == expected
    assert body == expected.SerializeToString()


def test_input_example() -> None:
    expected = pb.ClientMessage(input=pb.Input(seq=7, payload=b"L"))
    body = single_frame("input")
    assert wire.decode_client_message(body) == expected
    assert body == expected.SerializeToString()


def test_welcome_example() -> None:
    expected = pb.ServerMessage(
        welcome=pb.Welcome(
            room="arena",
            slot=3,
            tick_rate=30,
            first_tick=130,
            members=[pb.Member(slot=1, player_id="ada"), pb.Member(slot=2, player_id="bob")],
            server_id="eu-1",
        )
    )
    body = single_frame("welcome")
    assert wire.decode_server_frame_body(body) == expected
    assert wire.frame(body) == wire.encode_server_message(expected)


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


content = tick_content  # the spec's chain input, computed independently of tickcast.wire


def test_chain_of_tick_129_follows_the_story() -> None:
    """ada and bob joined at tick 1, ticks 2..129 were empty."""
    first = pb.Tick(
        number=1, joined=[pb.Member(slot=1, player_id="ada"), pb.Member(slot=2, player_id="bob")]
    )
    chain = blake2b_256(content(first))
    for n in range(2, 130):
        chain = blake2b_256(chain + content(pb.Tick(number=n)))
    assert BLOCKS["chain-129"][0] == chain


def test_tick_example() -> None:
    body = single_frame("tick")
    msg = wire.decode_server_frame_body(body)
    assert msg.WhichOneof("body") == "tick"
    tick = msg.tick
    assert tick.number == 130
    assert [(i.slot, i.seq, i.payload) for i in tick.inputs] == [(1, 7, b"L"), (2, 4, b"jump")]
    assert [(m.slot, m.player_id) for m in tick.joined] == [(3, "cy")]
    assert list(tick.left) == [] and list(tick.desyncs) == []
    # the chain rule, as the doc states it
    chain_129 = BLOCKS["chain-129"][0]
    assert tick.chain == blake2b_256(chain_129 + content(tick))
    # "content(130) is the 32 bytes from 08 82 01 up to the chain's key"
    tick_bytes = tick.SerializeToString()
    assert content(tick) == tick_bytes[: tick_bytes.index(b"\x2a\x20")]
    assert len(content(tick)) == 32 and content(tick).startswith(b"\x08\x82\x01")
    # and these are exactly the bytes the server's hand encoders send
    inputs = wire.encode_relayed_input(1, 7, b"L") + wire.encode_relayed_input(2, 4, b"jump")
    server_content = wire.encode_tick_content(130, inputs, [(3, "cy")])
    assert wire.encode_tick_frame(server_content, wire.next_chain(chain_129, server_content)) == (
        wire.frame(body)
    )


def test_skipped_tick_content_is_08_and_the_number() -> None:
    """The Chain section says a skipped tick N contributes `08` + varint(N)."""
    for n in (5, 130, 70000):
        assert content(pb.Tick(number=n)) == b"\x08" + wire.encode_varint(n)
        assert wire.encode_tick_content(n, b"") == b"\x08" + wire.encode_varint(n)


def test_kick_table_lists_every_reason_with_its_value() -> None:
    rows = dict(
        (name, int(value))
        for value, name in re.findall(r"^\| (\d+) \| `(REASON_\w+)` \|", DOC, re.M)
    )
    assert rows == {name: value for name, value in pb.Reason.items()}


@pytest.mark.parametrize(
    ("heading", "wrapper"),
    [("### Client to server", pb.ClientMessage), ("### Server to client", pb.ServerMessage)],
)
def test_message_tables_match_the_schema(heading: str, wrapper: type) -> None:
    section = DOC.split(heading, 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)\{([^}]*)\}` \|", section, re.M)
    oneof = wrapper.DESCRIPTOR.oneofs_by_name["body"]
    assert [int(n) for n, _, _ in rows] == [f.number for f in oneof.fields]
    for (number, name, fields), f in zip(rows, oneof.fields, strict=True):
        assert f.message_type.name == name, number
        documented = [x.strip() for x in fields.split(",") if x.strip()]
        assert documented == [g.name for g in f.message_type.fields], name
