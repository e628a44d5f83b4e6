"""Unit tests of the wire format: the framer (spec: Framing) and the hand encoders.

The hand encoders must emit exactly what protobuf's SerializeToString emits
(the canonical encoding), since clients verify Tick.chain over those bytes.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickcast import wire
from tickcast.errors import FrameTooLarge, RemoteProtocolError
from tickcast.proto import pb

FAST = settings(max_examples=100, deadline=None)

UINT32 = st.integers(0, 2**32 - 1)
UINT64 = st.integers(0, 2**64 - 1)
ALL_BYTES = bytes(range(256))


def stream(bodies: list[bytes]) -> bytes:
    return b"".join(wire.frame(b) for b in bodies)


# ---------------------------------------------------------------- Framer


def test_one_frame_split_over_many_reads() -> None:
    body = ALL_BYTES + b"tail"  # 260 bytes: a two-byte length prefix
    data = wire.frame(body)
    framer = wire.Framer(65536)
    for i in range(len(data) - 1):
        assert framer.feed(data[i : i + 1]) == []
        assert framer.buffered == i + 1
    assert framer.feed(data[-1:]) == [body]
    assert framer.buffered == 0


def test_many_frames_in_one_read() -> None:
    bodies = [b"a", b"", ALL_BYTES, b"\x00" * 200, b"z" * 127, b"y" * 128]
    framer = wire.Framer(65536)
    assert framer.feed(stream(bodies)) == bodies
    assert framer.buffered == 0


def test_frames_and_a_partial_one_in_one_read() -> None:
    data = stream([b"first", b"second", b"third"])
    framer = wire.Framer(65536)
    assert framer.feed(data[:-2]) == [b"first", b"second"]
    assert framer.feed(data[-2:]) == [b"third"]
    assert framer.buffered == 0


def test_zero_length_frames() -> None:
    framer = wire.Framer(65536)
    assert framer.feed(b"\x00\x00\x00") == [b"", b"", b""]
    assert framer.feed(b"\x00\x01x\x00") == [b"", b"x", b""]
    assert framer.buffered == 0


@FAST
@given(
    bodies=st.lists(st.binary(max_size=300), max_size=12),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
)
def test_any_split_of_a_valid_stream_decodes_to_the_same_frames(
    bodies: list[bytes], cuts: list[int]
) -> None:
    data = stream(bodies)
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    framer = wire.Framer(65536)
    got: list[bytes] = []
    for start, stop in zip(points, points[1:], strict=False):
        got.extend(framer.feed(data[start:stop]))
    assert got == bodies
    assert framer.buffered == 0


def test_length_over_max_frame_refused_when_the_prefix_is_read() -> None:
    framer = wire.Framer(1000)
    with pytest.raises(FrameTooLarge) as err:
        framer.feed(wire.encode_varint(1001))  # the prefix alone, no body
    assert err.value.reason == pb.REASON_FRAME_TOO_LARGE
    assert framer.buffered == 0


def test_length_over_max_frame_refused_when_the_prefix_arrives_byte_by_byte() -> None:
    framer = wire.Framer(1000)
    prefix = wire.encode_varint(70_000)  # three bytes
    assert len(prefix) == 3
    assert framer.feed(prefix[:1]) == []
    assert framer.feed(prefix[1:2]) == []
    with pytest.raises(FrameTooLarge):
        framer.feed(prefix[2:])
    assert framer.buffered == 0


def test_length_equal_to_max_frame_is_accepted() -> None:
    framer = wire.Framer(1000)
    assert framer.feed(wire.frame(b"q" * 1000)) == [b"q" * 1000]


def test_frame_too_large_after_good_frames_in_the_same_read() -> None:
    framer = wire.Framer(100)
    with pytest.raises(FrameTooLarge):
        framer.feed(wire.frame(b"ok") + wire.encode_varint(101))


def test_varint_longer_than_five_bytes_is_a_protocol_error() -> None:
    framer = wire.Framer(1 << 30)
    with pytest.raises(RemoteProtocolError) as err:
        framer.feed(b"\x80\x80\x80\x80\x80\x01" + b"x" * 10)
    assert err.value.reason == pb.REASON_PROTOCOL_ERROR


def test_varint_longer_than_five_bytes_byte_by_byte() -> None:
    framer = wire.Framer(1 << 30)
    for _ in range(4):  # four continuation bytes: still a possible 5-byte varint
        assert framer.feed(b"\x80") == []
    with pytest.raises(RemoteProtocolError) as err:
        # the fifth byte has its continuation bit set: the varint is over 5 bytes
        framer.feed(b"\x80")
        framer.feed(b"\x01")
    assert err.value.reason == pb.REASON_PROTOCOL_ERROR


def test_five_byte_varint_is_accepted() -> None:
    framer = wire.Framer(1 << 30)
    body = b"five"
    prefix = b"\x84\x80\x80\x80\x00"  # 4, in a non-minimal but legal 5-byte form
    assert framer.feed(prefix + body) == [body]


# ---------------------------------------------------------------- varints


@FAST
@given(UINT64)
def test_varint_round_trip(n: int) -> None:
    encoded = wire.encode_varint(n)
    assert wire.decode_varint(encoded) == (n, len(encoded))
    assert wire.prefix_length(encoded + b"rest") == len(encoded)


# ---------------------------------------------------------------- encoders

inputs_st = st.lists(
    st.tuples(st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1), st.binary(max_size=64)),
    max_size=6,
)
members_st = st.lists(st.tuples(UINT32, st.text(max_size=16)), max_size=4)


def relayed(inputs: list[tuple[int, int, bytes]]) -> list[pb.RelayedInput]:
    return [pb.RelayedInput(slot=s, seq=q, payload=p) for s, q, p in inputs]


@FAST
@given(st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1), st.binary(max_size=300))
def test_encode_relayed_input_equals_protobuf(slot: int, seq: int, payload: bytes) -> None:
    expected = pb.Tick(inputs=[pb.RelayedInput(slot=slot, seq=seq, payload=payload)])
    assert wire.encode_relayed_input(slot, seq, payload) == expected.SerializeToString()


def test_encode_relayed_input_with_every_byte_value() -> None:
    expected = pb.Tick(inputs=[pb.RelayedInput(slot=3, seq=2**32 - 1, payload=ALL_BYTES)])
    assert wire.encode_relayed_input(3, 2**32 - 1, ALL_BYTES) == expected.SerializeToString()


@FAST
@given(UINT32, st.text(max_size=64))
def test_encode_member_equals_protobuf(slot: int, player_id: str) -> None:
    expected = pb.Member(slot=slot, player_id=player_id).SerializeToString()
    assert wire.encode_member(slot, player_id) == expected


@FAST
@given(UINT64, st.lists(UINT32, max_size=8))
def test_encode_desync_equals_protobuf(tick: int, slots: list[int]) -> None:
    expected = pb.Tick(desyncs=[pb.Desync(tick=tick, slots=slots)]).SerializeToString()
    assert wire.encode_desync(tick, slots) == expected


@FAST
@given(UINT64, inputs_st, members_st, st.lists(UINT32, max_size=6))
def test_encode_tick_content_equals_protobuf(
    number: int,
    inputs: list[tuple[int, int, bytes]],
    joined: list[tuple[int, str]],
    left: list[int],
) -> None:
    encoded_inputs = b"".join(wire.encode_relayed_input(*i) for i in inputs)
    expected = pb.Tick(
        number=number,
        inputs=relayed(inputs),
        joined=[pb.Member(slot=s, player_id=p) for s, p in joined],
        left=left,
    )
    got = wire.encode_tick_content(number, encoded_inputs, joined, left)
    assert got == expected.SerializeToString()


@FAST
@given(
    number=UINT64,
    inputs=inputs_st,
    joined=members_st,
    left=st.lists(UINT32, max_size=6),
    chain=st.one_of(st.just(b""), st.binary(min_size=32, max_size=32)),
    desyncs=st.lists(st.tuples(UINT64, st.lists(UINT32, max_size=4)), max_size=3),
)
def test_encode_tick_frame_equals_protobuf(
    number: int,
    inputs: list[tuple[int, int, bytes]],
    joined: list[tuple[int, str]],
    left: list[int],
    chain: bytes,
    desyncs: list[tuple[int, list[int]]],
) -> None:
    content = wire.encode_tick_content(
        number, b"".join(wire.encode_relayed_input(*i) for i in inputs), joined, left
    )
    encoded_desyncs = b"".join(wire.encode_desync(t, s) for t, s in desyncs)
    tick = pb.Tick(
        number=number,
        inputs=relayed(inputs),
        joined=[pb.Member(slot=s, player_id=p) for s, p in joined],
        left=left,
        chain=chain,
        desyncs=[pb.Desync(tick=t, slots=s) for t, s in desyncs],
    )
    expected = wire.encode_server_message(pb.ServerMessage(tick=tick))
    assert wire.encode_tick_frame(content, chain, encoded_desyncs) == expected


def test_large_tick_frame_with_unicode_ids_and_every_byte_value() -> None:
    """A tick over 16 KiB (three-byte length prefixes) with non-ASCII player ids."""
    inputs = [(slot, 2**31 + slot, ALL_BYTES * 2) for slot in range(1, 40)]
    joined = [(7, "jürgen-🎮"), (2**32 - 1, "玩家" * 10)]
    content = wire.encode_tick_content(
        2**63, b"".join(wire.encode_relayed_input(*i) for i in inputs), joined, [1, 2**32 - 1]
    )
    frame = wire.encode_tick_frame(content, b"\xff" * 32, wire.encode_desync(2**40, [5, 6]))
    tick = pb.Tick(
        number=2**63,
        inputs=relayed(inputs),
        joined=[pb.Member(slot=s, player_id=p) for s, p in joined],
        left=[1, 2**32 - 1],
        chain=b"\xff" * 32,
        desyncs=[pb.Desync(tick=2**40, slots=[5, 6])],
    )
    assert len(frame) > 16384
    assert frame == wire.encode_server_message(pb.ServerMessage(tick=tick))


def test_kick_frame_decodes() -> None:
    body = wire.Framer(1 << 20).feed(wire.kick_frame(pb.REASON_REDIRECT, "go", "h:1"))[0]
    kick = wire.decode_server_frame_body(body).kick
    assert (kick.reason, kick.detail, kick.redirect) == (pb.REASON_REDIRECT, "go", "h:1")


def test_decode_client_message_refuses_garbage() -> None:
    with pytest.raises(RemoteProtocolError):
        wire.decode_client_message(b"\xff\xff\xff")
