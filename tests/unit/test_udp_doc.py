"""docs/protocol.md's UDP part must match the code.

The worked example's hex blocks (each after a `<!-- udp-bytes: NAME -->` marker)
are produced here by the real state machines (`UdpMember` and `UdpClientCore`
driven through the story, with the example's session id, key and challenge),
and must equal the doc byte for byte. The MACs are recomputed independently
with `hmac` and `hashlib`, and the layout is read back with `struct`; the
figures the text states (sizes, defaults) are checked against the code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickcast import wire
from tickcast.client import ClientCore
from tickcast.proto import pb
from tickcast.udp import UdpClientCore, UdpClientSettings, UdpEndpoint, UdpServerSettings
from tickcast.udp import datagram as dg

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
UDP_PART = DOC.split("\n## The UDP transport\n", 1)[1]

KEY = bytes(range(32))
SESSION_ID = bytes.fromhex("a1b2c3d4e5f60718")
CHALLENGE = bytes.fromhex("3c5e0b7a21d4f89e")
CHAIN_129 = bytes.fromhex("7dc888515e9775c479d2244c4661b26c7c0dfb25ce92df8a6e1d489b1a66b63a")


def blocks(marker: str) -> dict[str, bytes]:
    """Every block after `<!-- {marker}: NAME -->`: a line contributes bytes if its
    first column (up to two spaces) is a run of two-digit hex bytes."""
    out: dict[str, bytes] = {}
    pattern = re.compile(rf"<!-- {marker}: ([\w-]+) -->\n```text\n(.*?)```", re.S)
    for name, text in pattern.findall(DOC):
        data = bytearray()
        for line in text.splitlines():
            first = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            if re.fullmatch(r"[0-9a-f]{2}( [0-9a-f]{2})*", first):
                data += bytes.fromhex(first)
        assert name not in out, f"two blocks named {name}"
        out[name] = bytes(data)
    return out


UDP = blocks("udp-bytes")
STREAM = blocks("bytes")  # the stream's worked example, which the UDP one continues


def story_bytes() -> Iterator[bytes]:
    """What the real endpoint and client produce in the doc's story, in its order."""
    randoms = iter([SESSION_ID, KEY, CHALLENGE])
    endpoint = UdpEndpoint(UdpServerSettings(), random_bytes=lambda n: next(randoms))
    member = endpoint.open(first_tick=130, tick_interval=1 / 30)
    (stream_welcome,) = wire.Framer(1 << 20).feed(STREAM["welcome"])
    welcome = pb.ServerMessage.FromString(stream_welcome).welcome  # cy's, as on the stream
    welcome.udp.CopyFrom(member.offer(7777))
    yield wire.encode_server_message(pb.ServerMessage(welcome=welcome))
    core = ClientCore("cy", "arena")
    core.on_welcome(welcome)
    now = 50.0
    client = UdpClientCore.from_welcome(core, welcome, now, UdpClientSettings())
    assert client is not None
    (probe,) = client.datagrams_to_send(now)
    yield probe
    cy = ("203.0.113.5", 51000)
    assert endpoint.datagram_received(probe, cy, now) is not None
    ((challenge, to),) = member.datagrams_to_send(now)
    assert to == cy
    yield challenge
    assert client.datagram_received(challenge, now) == []
    client.send_input(b"fire", now)
    (active,) = client.datagrams_to_send(now)
    yield active
    got = endpoint.datagram_received(active, cy, now)
    assert got is not None and got.inputs == [(1, b"fire")]
    assert member.validated and member.on_udp
    inputs = wire.encode_relayed_input(1, 7, b"L") + wire.encode_relayed_input(2, 4, b"jump")
    content = wire.encode_tick_content(130, inputs, [(3, "cy")])
    frame = wire.encode_tick_frame(content, wire.next_chain(CHAIN_129, content))
    member.push(130, frame, now)
    ((tick, _),) = member.datagrams_to_send(now)
    yield tick
    (t130,) = client.datagram_received(tick, now)
    assert t130.number == 130 and t130.raw == dg.tick_of(frame[1:])  # after the prefix 44


def test_the_doc_has_every_udp_example() -> None:
    assert list(UDP) == [
        "udp-hello",
        "udp-welcome",
        "udp-probe",
        "udp-challenge",
        "udp-active",
        "udp-tick",
    ]


def test_hello_asking_for_udp() -> None:
    expected = pb.ClientMessage(
        hello=pb.Hello(protocol_version=1, player_id="cy", room="arena", udp_version=1)
    )
    assert UDP["udp-hello"] == wire.frame(expected.SerializeToString())


def test_the_story_produces_the_doc_bytes() -> None:
    names = ["udp-welcome", "udp-probe", "udp-challenge", "udp-active", "udp-tick"]
    for name, produced in zip(names, story_bytes(), strict=True):
        assert UDP[name] == produced, name


def test_the_welcome_is_the_stream_example_plus_the_offer() -> None:
    (body,) = wire.Framer(1 << 20).feed(UDP["udp-welcome"])
    welcome = pb.ServerMessage.FromString(body).welcome
    assert welcome.udp == pb.UdpOffer(version=1, port=7777, session_id=SESSION_ID, key=KEY)
    welcome.ClearField("udp")
    (old,) = wire.Framer(1 << 20).feed(STREAM["welcome"])
    assert welcome == pb.ServerMessage.FromString(old).welcome


@pytest.mark.parametrize("name", ["udp-probe", "udp-challenge", "udp-active", "udp-tick"])
def test_each_datagram_reads_back_as_the_layout_table_says(name: str) -> None:
    data = UDP[name]
    assert len(data) <= 1200
    kind, session_id, seq = struct.unpack_from(">B8sI", data)
    assert session_id == SESSION_ID
    assert kind == (0x11 if name in ("udp-probe", "udp-active") else 0x12)
    assert seq == (1 if name in ("udp-probe", "udp-challenge") else 2)
    # the MAC, computed without tickcast: HMAC-SHA256 over everything before it, 16 bytes
    assert data[-16:] == hmac.new(KEY, data[:-16], hashlib.sha256).digest()[:16]


def test_the_tick_datagram_carries_the_stream_frame_byte_for_byte() -> None:
    body = dg.decode_server_body(UDP["udp-tick"][13:-16])
    assert (body.newest, body.span, body.challenge, body.pong) == (130, 1, None, None)
    ((number, frame_body),) = body.frames
    assert number == 130
    assert wire.frame(frame_body) == STREAM["tick"]


def test_the_texts_figures_are_the_codes() -> None:
    assert dg.HEADER_BYTES + dg.MIN_BODY + dg.MAC_BYTES == 31
    assert "between 13 + 2 + 16 = 31 and 1,200 bytes" in UDP_PART
    assert dg.MAX_DATAGRAM == 1200 and "at most **1,200 bytes**" in UDP_PART
    assert f"over {dg.MAX_TICK_FRAME:,} bytes" in UDP_PART
    c = UdpClientSettings()
    modes = re.findall(r"^\| (probing|active|fallback)[^|]*\| (.*)$", UDP_PART, re.M)
    row = dict(modes)
    assert sorted(row) == ["active", "fallback", "probing"]
    assert f"every {c.probe_interval:g} s" in row["probing"]
    assert f"within {c.probe_timeout:g} s" in row["probing"]
    assert f"one every {c.keepalive:g} s" in row["active"]
    assert f"for {c.silence:g} s" in row["active"]
    assert f"every {c.retry_interval:g} s" in row["fallback"]
    s = UdpServerSettings()
    assert f"within the silence timeout [{s.silence:g} s]" in UDP_PART
    assert f"between {s.min_rto:g} and {s.max_rto:g} s, {s.initial_rto:g} s before" in UDP_PART
    assert f"plus\n  {s.repair_ticks} tick intervals" in UDP_PART
    assert f"too many\n  ticks [{s.max_window}]" in UDP_PART
    assert f"at most {s.amplification} times the bytes" in UDP_PART
    assert f"a few addresses it validated [{s.validated_kept}]" in UDP_PART
