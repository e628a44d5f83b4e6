"""The hand decoder of Input frames must agree with protobuf on every body it accepts."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tickcast import wire
from tickcast.proto import pb


def protobuf_view(body: bytes) -> tuple[int, bytes] | None:
    """(seq, payload) if protobuf parses `body` as ClientMessage{input}, else None."""
    msg = pb.ClientMessage()
    try:
        msg.ParseFromString(body)
    except Exception:
        return None
    if msg.WhichOneof("body") != "input":
        return None
    return msg.input.seq, msg.input.payload


def check(body: bytes) -> None:
    fast = wire.decode_input_fast(body)
    if fast is not None:
        assert fast == protobuf_view(body), body.hex()


@settings(max_examples=1000)
@given(st.binary(max_size=200))
@example(b"\x12\x00")
@example(b"\x12\x02\x08\x00")
@example(b"\x12\x06\x08\x80\x80\x80\x80\x10")  # 2**32: over uint32
@example(b"\x12\x06\x08\xff\xff\xff\xff\x0f")  # 2**32 - 1
@example(b"\x12\x07\x08\x80\x80\x80\x80\x80\x00")  # 6-byte varint
@example(b"\x12\x04\x12\x00\x08\x01")  # payload before seq
@example(b"\x12\x04\x08\x01\x08\x02")  # seq twice: protobuf keeps the last
@example(b"\x12\x85\x01" + b"\x12\x83\x01" + b"x" * 131)  # two-byte lengths
def test_random_bytes_agree_with_protobuf(body: bytes) -> None:
    check(body)


@settings(max_examples=1000)
@given(seq=st.integers(0, 2**32 - 1), payload=st.binary(max_size=300))
def test_canonical_inputs_decode_exactly(seq: int, payload: bytes) -> None:
    body = pb.ClientMessage(input=pb.Input(seq=seq, payload=payload)).SerializeToString()
    fast = wire.decode_input_fast(body)
    if len(body) < 130:  # one-byte lengths: the fast path must take it
        assert fast == (seq, payload)
    else:
        assert fast is None or fast == (seq, payload)


_fields = st.sampled_from(
    [b"\x08\x05", b"\x08\x80\x01", b"\x12\x01z", b"\x12\x00", b"\x18\x01", b"\x08\x00", b"\x1a\x00"]
)


@settings(max_examples=1000)
@given(parts=st.lists(_fields, max_size=4), tail=st.binary(max_size=4), outer=st.booleans())
def test_mixed_fields_agree_with_protobuf(parts: list[bytes], tail: bytes, outer: bool) -> None:
    inner = b"".join(parts) + (tail if outer else b"")
    body = b"\x12" + wire.encode_varint(len(inner)) + inner
    if not outer:
        body += tail
    check(body)


def test_other_messages_are_not_taken() -> None:
    for msg in (
        pb.ClientMessage(ping=pb.Ping(nonce=7)),
        pb.ClientMessage(hello=pb.Hello(protocol_version=1, player_id="p")),
        pb.ClientMessage(ack=pb.Ack(tick=3)),
        pb.ClientMessage(),
    ):
        assert wire.decode_input_fast(msg.SerializeToString()) is None
