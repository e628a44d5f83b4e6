"""The hot-path shortcuts of wire.py agree with the general code.

test_wire.py checks the encoders against protobuf over the whole uint32 range,
where the one-step format of `encode_relayed_input` (slot < 128, seq < 16384,
payload < 120 bytes) is rarely drawn; here the values are drawn around its
edges. The framer's one-frame-per-read path must keep the size limit.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickcast import wire
from tickcast.errors import FrameTooLarge
from tickcast.proto import pb


@settings(max_examples=1000)
@given(
    slot=st.integers(1, 200),
    seq=st.integers(1, 20000),
    payload=st.binary(max_size=130),
)
def test_relayed_input_around_the_one_step_format_is_canonical(
    slot: int, seq: int, payload: bytes
) -> None:
    expected = pb.Tick(inputs=[pb.RelayedInput(slot=slot, seq=seq, payload=payload)])
    assert wire.encode_relayed_input(slot, seq, payload) == expected.SerializeToString()


def test_framer_single_frame_read_respects_the_limit() -> None:
    assert wire.Framer(64).feed(wire.frame(b"x" * 64)) == [b"x" * 64]
    with pytest.raises(FrameTooLarge):
        wire.Framer(64).feed(wire.frame(b"x" * 65))
    with pytest.raises(FrameTooLarge):
        wire.Framer(100).feed(wire.frame(b"x" * 101))
