"""The datagram codec: layout, MAC, bodies, refusals, and the replay window."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickcast import wire
from tickcast.client import input_frame
from tickcast.proto import pb
from tickcast.udp import datagram as dg
from tickcast.udp.datagram import Refusal, Refused, ReplayWindow

KEY = bytes(range(100, 132))
SID = b"session!"


def tick_frame(number: int, payload: bytes = b"") -> bytes:
    inputs = wire.encode_relayed_input(1, number, payload) if payload else b""
    return wire.encode_tick_frame(wire.encode_tick_content(number, inputs))


def server_datagram(seq: int = 1, **fields: object) -> bytes:
    frames = fields.pop("frames", [])
    return dg.seal(dg.SERVER_KIND, SID, seq, KEY, [dg.server_fields(**fields), *frames])  # type: ignore[arg-type, list-item]


def client_datagram(
    seq: int = 1, inputs: tuple[tuple[int, bytes], ...] = (), **fields: object
) -> bytes:
    parts = [dg.client_fields(**fields)]  # type: ignore[arg-type]
    parts += [input_frame(s, p) for s, p in inputs]
    return dg.seal(dg.CLIENT_KIND, SID, seq, KEY, parts)


def test_header_and_mac_layout() -> None:
    data = dg.seal(dg.CLIENT_KIND, SID, 0x01020304, KEY, [b"\x00\x05"])
    assert data[0] == 0x11
    assert data[1:9] == SID
    assert data[9:13] == b"\x01\x02\x03\x04"  # big-endian
    assert data[13:15] == b"\x00\x05"
    assert data[15:] == hmac.new(KEY, data[:15], hashlib.sha256).digest()[:16]
    assert len(data) == dg.HEADER_BYTES + 2 + dg.MAC_BYTES
    assert dg.parse_header(data, dg.CLIENT_KIND) == (SID, 0x01020304)
    assert dg.verify(data, KEY)


def test_server_body_round_trip_keeps_the_frames_byte_for_byte() -> None:
    frames = [tick_frame(12, b"late"), tick_frame(11), tick_frame(9, b"x" * 300)]
    data = server_datagram(7, newest=12, span=4, challenge=b"c" * 8, pong=99, frames=frames)
    body = dg.decode_server_body(dg.body_of(data))
    assert (body.newest, body.span, body.first, body.challenge, body.pong) == (
        12,
        4,
        9,
        b"c" * 8,
        99,
    )
    assert [n for n, _ in body.frames] == [12, 11, 9]
    assert [wire.frame(f) for _, f in body.frames] == frames
    for n, f in body.frames:
        assert pb.ServerMessage.FromString(f).tick.number == n
        assert dg.tick_of(f) == pb.ServerMessage.FromString(f).tick.SerializeToString()


def test_client_body_round_trip() -> None:
    data = client_datagram(
        3,
        ((4, b"a"), (5, b""), (300, b"z" * 200)),
        received=70000,
        active=True,
        response=b"r" * 8,
        ping=1 << 40,
    )
    body = dg.decode_client_body(dg.body_of(data))
    assert body == dg.ClientBody(
        70000, True, b"r" * 8, 1 << 40, ((4, b"a"), (5, b""), (300, b"z" * 200))
    )
    bare = dg.decode_client_body(dg.body_of(client_datagram(received=0, active=False)))
    assert bare == dg.ClientBody(0, False, None, None, ())


def test_an_input_encoded_the_long_way_still_decodes() -> None:
    """A client's protobuf library may emit an input the fast path does not take."""
    odd = pb.ClientMessage(input=pb.Input(seq=1 << 31, payload=b"p" * 200)).SerializeToString()
    data = dg.seal(dg.CLIENT_KIND, SID, 1, KEY, [dg.client_fields(0, active=True), wire.frame(odd)])
    assert dg.decode_client_body(dg.body_of(data)).inputs == ((1 << 31, b"p" * 200),)


def test_a_tick_in_another_field_order_still_has_its_number() -> None:
    odd = b"\x12\x06" + b"\x2a\x02ch" + b"\x08\x05"  # chain before number: legal protobuf
    assert dg.tick_number(odd) == 5


def test_the_largest_tick_frame_fits_with_every_field_at_its_largest() -> None:
    frame = b"\xff" * dg.MAX_TICK_FRAME
    data = dg.seal(
        dg.SERVER_KIND,
        SID,
        dg.MAX_SEQ,
        KEY,
        [dg.server_fields((1 << 64) - 1, (1 << 64) - 1, b"c" * 8, (1 << 64) - 1), frame],
    )
    assert len(data) == dg.MAX_DATAGRAM


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x11" + SID + b"\x00\x00\x00\x01" + b"\x00" * 17, Refusal.TRUNCATED),
        (client_datagram(received=0, active=False) + b"\x00" * 1200, Refusal.OVERSIZED),
        (server_datagram(newest=1, span=0, pong=1), Refusal.BAD_KIND),  # reflected back
        (b"\x21" + client_datagram(received=0, active=False)[1:], Refusal.BAD_KIND),  # version 2
    ],
    ids=["truncated", "oversized", "reflected", "other-version"],
)
def test_header_refusals(data: bytes, reason: Refusal) -> None:
    with pytest.raises(Refused) as exc:
        dg.parse_header(data, dg.CLIENT_KIND)
    assert exc.value.reason is reason


@given(key=st.binary(min_size=0, max_size=100), data=st.binary(max_size=1300))
def test_the_fast_mac_is_hmac_sha256_truncated(key: bytes, data: bytes) -> None:
    expected = hmac.new(key, data, hashlib.sha256).digest()[:16]
    assert dg.MacKey(key).mac(data) == expected == dg.mac(key, data)


@given(data=st.data())
def test_any_changed_bit_fails_the_mac(data: st.DataObject) -> None:
    good = client_datagram(9, ((1, b"jump"),), received=5, active=True, ping=3)
    i = data.draw(st.integers(0, len(good) - 1))
    bit = data.draw(st.integers(0, 7))
    bad = bytearray(good)
    bad[i] ^= 1 << bit
    assert not dg.verify(bytes(bad), KEY)
    assert not dg.verify(good, bytes(32))  # another session's key


def body_refused(body: bytes, decode: object) -> Refusal:
    with pytest.raises(Refused) as exc:
        decode(body)  # type: ignore[operator]
    return exc.value.reason


@pytest.mark.parametrize(
    "body",
    [
        b"\x00",  # too short
        b"\x80\x01\x00",  # unknown flag
        b"\x00\xff",  # varint runs off the end
        b"\x01\x05\x01abc",  # challenge cut short
        b"\x00\x05\x09",  # covers numbers below 1
        b"\x00\x05\x01" + tick_frame(4),  # frame outside the covered range
        b"\x00\x05\x00" + tick_frame(5),  # frames but nothing covered
        b"\x00\x05\x01" + tick_frame(5)[:-1],  # frame cut short
        b"\x00\x05\x01" + wire.encode_server_message(pb.ServerMessage(pong=pb.Pong(nonce=1))),
    ],
)
def test_malformed_server_bodies(body: bytes) -> None:
    assert body_refused(body, dg.decode_server_body) is Refusal.MALFORMED


@pytest.mark.parametrize(
    "body",
    [
        b"\x04",
        b"\x08\x00",  # unknown flag
        b"\x02\x00",  # ping flagged, missing
        b"\x04\x00" + wire.frame(pb.ClientMessage(ping=pb.Ping(nonce=1)).SerializeToString()),
        b"\x04\x00" + wire.frame(b"\xff\xff"),  # does not decode
        b"\x04\x00" + input_frame(5, b"a") + input_frame(5, b"b"),  # seq not increasing
        b"\x04\x00" + input_frame(6, b"a") + input_frame(5, b"b"),
        b"\x04\x00\x00",  # an empty frame
    ],
)
def test_malformed_client_bodies(body: bytes) -> None:
    assert body_refused(body, dg.decode_client_body) is Refusal.MALFORMED


def test_authenticate_checks_in_the_documented_order() -> None:
    replay = ReplayWindow()
    good = client_datagram(4, received=1, active=True)
    assert dg.authenticate(good, dg.CLIENT_KIND, SID, KEY, replay) == (4, dg.body_of(good))

    def why(data: bytes, sid: bytes = SID, key: bytes = KEY) -> Refusal:
        with pytest.raises(Refused) as exc:
            dg.authenticate(data, dg.CLIENT_KIND, sid, key, replay)
        return exc.value.reason

    assert why(good, sid=b"another!") is Refusal.UNKNOWN_SESSION
    assert why(good[:-1] + bytes([good[-1] ^ 1])) is Refusal.BAD_MAC
    replay.record(4)
    assert why(good) is Refusal.REPLAY
    forged_replay = good[:-1] + bytes([good[-1] ^ 1])
    assert why(forged_replay) is Refusal.BAD_MAC  # the MAC is checked before the window


# ---------------------------------------------------------------- replay window


def test_replay_window_basics() -> None:
    w = ReplayWindow()
    assert w.check(0) is Refusal.TOO_OLD
    assert w.check(1) is None
    w.record(1)
    assert w.check(1) is Refusal.REPLAY
    w.record(100)
    assert w.check(37) is None and w.check(36) is Refusal.TOO_OLD  # 100 - 63 is the oldest
    w.record(37)
    assert w.check(37) is Refusal.REPLAY
    w.record(200)  # a jump over the whole window forgets it
    assert w.check(137) is None and w.check(100) is Refusal.TOO_OLD
    w.record(dg.MAX_SEQ)
    assert w.check(dg.MAX_SEQ) is Refusal.REPLAY


@given(seqs=st.lists(st.integers(0, 300), max_size=300))
def test_replay_window_accepts_exactly_the_new_numbers_within_64_of_the_newest(
    seqs: list[int],
) -> None:
    w = ReplayWindow()
    seen: set[int] = set()
    top = 0
    for seq in seqs:
        new = seq > top or (seq > 0 and top - seq < 64 and seq not in seen)
        got = w.check(seq)
        assert (got is None) == new, (seq, top)
        if got is None:
            w.record(seq)
            seen.add(seq)
            top = max(top, seq)
        elif seq in seen and top - seq < 64:
            assert got is Refusal.REPLAY
        else:
            assert got is Refusal.TOO_OLD
        assert w.top == top


def test_header_struct_is_13_bytes_big_endian() -> None:
    assert struct.calcsize("!B8sI") == dg.HEADER_BYTES == 13
