"""The hand encoders and the framer's fast path agree with protobuf and the general path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickcast import wire
from tickcast.errors import FrameTooLarge
from tickcast.proto import pb


@settings(max_examples=1000)
@given(
    slot=st.integers(1, 2**32 - 1) | st.integers(1, 200),
    seq=st.integers(1, 2**32 - 1) | st.integers(1, 20000),
    payload=st.binary(max_size=300),
)
def test_relayed_input_is_canonical(slot: int, seq: int, payload: bytes) -> None:
    expected = pb.Tick(inputs=[pb.RelayedInput(slot=slot, seq=seq, payload=payload)])
    assert wire.encode_relayed_input(slot, seq, payload) == expected.SerializeToString()


def frames_of(stream: bytes, cuts: list[int], max_frame: int) -> list[bytes]:
    framer = wire.Framer(max_frame)
    out: list[bytes] = []
    last = 0
    for cut in [*sorted(cuts), len(stream)]:
        out += framer.feed(stream[last:cut])
        last = cut
    return out


@settings(max_examples=500)
@given(
    bodies=st.lists(st.binary(max_size=200), max_size=6),
    cuts=st.lists(st.integers(0, 1500), max_size=6),
)
def test_framer_returns_every_frame_whatever_the_reads(
    bodies: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(wire.frame(b) for b in bodies)
    cuts = [c for c in cuts if c <= len(stream)]
    assert frames_of(stream, cuts, 1 << 20) == bodies


def test_framer_single_frame_read_respects_the_limit() -> None:
    framer = wire.Framer(64)
    assert framer.feed(wire.frame(b"x" * 64)) == [b"x" * 64]
    with pytest.raises(FrameTooLarge):
        wire.Framer(64).feed(wire.frame(b"x" * 65))
    with pytest.raises(FrameTooLarge):
        wire.Framer(100).feed(wire.frame(b"x" * 101))
