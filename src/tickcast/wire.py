"""Sans-I/O wire format: the varint length-prefix framer and canonical encoders.

Framing (TCP) is the standard protobuf "delimited" stream: every message is
preceded by its length as a base-128 varint. No delimiter byte exists, so any
byte value may appear in a payload.

The hot-path encoders below build `Tick` frames by hand from already-encoded
pieces. They emit exactly the canonical encoding that protobuf libraries emit
(fields in number order, packed repeated scalars, defaults omitted); the unit
tests check them byte for byte against the generated code. That lets a room
encode each input once when it is accepted and each tick once for all members.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from tickcast.errors import FrameTooLarge, RemoteProtocolError
from tickcast.proto import pb

MAX_VARINT32_BYTES = 5
"""A frame length is a 32-bit value: a longer varint is a protocol error."""

# Wire-format tags (field number << 3 | wire type) used by the hand encoders.
_TAG_SM_TICK = b"\x12"  # ServerMessage.tick = 2, length-delimited
_TAG_TICK_NUMBER = b"\x08"  # Tick.number = 1, varint
_TAG_TICK_INPUT = b"\x12"  # Tick.inputs = 2, length-delimited
_TAG_TICK_JOINED = b"\x1a"  # Tick.joined = 3
_TAG_TICK_LEFT = b"\x22"  # Tick.left = 4, packed
_TAG_TICK_CHAIN = b"\x2a"  # Tick.chain = 5
_TAG_TICK_DESYNC = b"\x32"  # Tick.desyncs = 6

_VARINT_CACHE: list[bytes] = []


def _varint_slow(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_VARINT_CACHE.extend(_varint_slow(i) for i in range(1 << 14))


def encode_varint(n: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    if n < 16384:
        return _VARINT_CACHE[n]
    if n < 0:
        raise ValueError("varint of a negative number")
    return _varint_slow(n)


def decode_varint(data: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode a varint at `pos`: (value, position after it). Raises IndexError if truncated."""
    result = 0
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise RemoteProtocolError("varint too long")


def frame(body: bytes) -> bytes:
    """Length-prefix one encoded message for the TCP stream."""
    return encode_varint(len(body)) + body


def prefix_length(frame_bytes: bytes) -> int:
    """Length of the varint prefix at the start of a frame (to strip it for WebSocket)."""
    i = 0
    while frame_bytes[i] & 0x80:
        i += 1
    return i + 1


class Framer:
    """Splits a TCP byte stream into frames (message bodies, without the prefix).

    `feed(data)` returns every frame completed by `data`, in order. A length
    over `max_frame` raises `FrameTooLarge` as soon as its prefix is read (the
    body is never buffered); a prefix longer than 5 bytes raises
    `RemoteProtocolError`. After an error the framer must not be fed again.

    Invariant: `_buf` holds only the bytes of one incomplete frame (prefix and
    partial body); complete frames never stay in it. The common case, whole
    frames in one read and nothing buffered, copies nothing into `_buf`.
    """

    __slots__ = ("max_frame", "_buf")

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        if not buf and data:
            # the hot path: one read holds exactly one small frame (an Input)
            length = data[0]
            if length + 1 == len(data) and length < 0x80 and length <= self.max_frame:
                return [data[1:]]
        elif buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        frames: list[bytes] = []
        pos = 0
        end = len(data)
        max_frame = self.max_frame
        while pos < end:
            b = data[pos]
            if b < 0x80:  # the common case: a frame under 128 bytes
                length = b
                start = pos + 1
            else:
                length = b & 0x7F
                shift = 7
                start = pos + 1
                while True:
                    if start >= end:
                        if start - pos >= MAX_VARINT32_BYTES:
                            raise RemoteProtocolError("frame length varint longer than 5 bytes")
                        buf += data[pos:]  # an incomplete prefix
                        return frames
                    b = data[start]
                    start += 1
                    length |= (b & 0x7F) << shift
                    if b < 0x80:
                        break
                    shift += 7
                    if start - pos >= MAX_VARINT32_BYTES:
                        raise RemoteProtocolError("frame length varint longer than 5 bytes")
            if length > max_frame:
                raise FrameTooLarge(f"frame of {length} bytes is over the limit of {max_frame}")
            stop = start + length
            if stop > end:
                buf += data[pos:]
                return frames
            frames.append(data[start:stop])
            pos = stop
        return frames


# ---------------------------------------------------------------- encoders


def encode_server_message(msg: pb.ServerMessage) -> bytes:
    """A complete TCP frame (length prefix + body) of a ServerMessage."""
    return frame(msg.SerializeToString())


def encode_relayed_input(slot: int, seq: int, payload: bytes) -> bytes:
    """One `Tick.inputs` entry as it appears inside an encoded Tick (tag + length + body).

    slot >= 1 and seq >= 1 always hold for a sequenced input, so both fields are present.
    """
    n = len(payload)
    if slot < 0x80 and seq < 16384 and n < 120:
        # the per-input hot path: one formatting step instead of seven concatenations
        s = _VARINT_CACHE[seq]
        if n:
            return b"\x12%c\x08%c\x10%b\x1a%c%b" % (n + 5 + len(s), slot, s, n, payload)
        return b"\x12%c\x08%c\x10%b" % (3 + len(s), slot, s)
    if payload:
        body = (
            b"\x08"
            + encode_varint(slot)
            + b"\x10"
            + encode_varint(seq)
            + b"\x1a"
            + encode_varint(len(payload))
            + payload
        )
    else:
        body = b"\x08" + encode_varint(slot) + b"\x10" + encode_varint(seq)
    return _TAG_TICK_INPUT + encode_varint(len(body)) + body


def encode_member(slot: int, player_id: str) -> bytes:
    """An encoded `Member` message body."""
    out = b""
    if slot:
        out = b"\x08" + encode_varint(slot)
    if player_id:
        pid = player_id.encode()
        out += b"\x12" + encode_varint(len(pid)) + pid
    return out


def _packed(tag: bytes, values: Iterable[int]) -> bytes:
    body = b"".join(encode_varint(v) for v in values)
    if not body:
        return b""
    return tag + encode_varint(len(body)) + body


def encode_tick_content(
    number: int,
    inputs: bytes,
    joined: Sequence[tuple[int, str]] = (),
    left: Sequence[int] = (),
) -> bytes:
    """The canonical encoding of a `Tick` without `chain` and `desyncs`.

    `inputs` is the concatenation of `encode_relayed_input` results, in order.
    This is also the "content" that the spec's Chain rule hashes.
    """
    out = _TAG_TICK_NUMBER + encode_varint(number) + inputs if number else inputs
    for slot, player_id in joined:
        member = encode_member(slot, player_id)
        out += _TAG_TICK_JOINED + encode_varint(len(member)) + member
    if left:
        out += _packed(_TAG_TICK_LEFT, left)
    return out


def encode_desync(tick: int, slots: Sequence[int]) -> bytes:
    """One `Tick.desyncs` entry (tag + length + body)."""
    body = (b"\x08" + encode_varint(tick) if tick else b"") + _packed(b"\x12", slots)
    return _TAG_TICK_DESYNC + encode_varint(len(body)) + body


def encode_tick_frame(content: bytes, chain: bytes = b"", desyncs: bytes = b"") -> bytes:
    """A complete TCP frame of `ServerMessage{tick}` from its encoded parts."""
    tick = content
    if chain:
        tick += _TAG_TICK_CHAIN + encode_varint(len(chain)) + chain
    if desyncs:
        tick += desyncs
    sm_len = len(tick)
    inner = _TAG_SM_TICK + encode_varint(sm_len)
    return encode_varint(len(inner) + sm_len) + inner + tick


def next_chain(previous: bytes, content: bytes) -> bytes:
    """Tick.chain: BLAKE2b-256 of (previous chain || this tick's content); b"" before tick 1."""
    return hashlib.blake2b(previous + content, digest_size=32).digest()


# ---------------------------------------------------------------- decoding


def decode_client_message(body: bytes) -> pb.ClientMessage:
    """Parse one client frame body; raises RemoteProtocolError if it is not a ClientMessage."""
    msg = pb.ClientMessage()
    try:
        msg.ParseFromString(body)
    except Exception as exc:  # protobuf raises DecodeError (and others on garbage)
        raise RemoteProtocolError(f"frame does not decode as ClientMessage: {exc}") from None
    return msg


def decode_input_fast(body: bytes) -> tuple[int, bytes] | None:
    """(seq, payload) of a body that is exactly `ClientMessage{input}` in its common
    compact form, else None (the caller then parses it with protobuf).

    This is the per-input hot path: building protobuf objects for each input
    costs more than the rest of its handling. It accepts only the shapes it can
    decode exactly as protobuf would: one `input` field (tag 0x12) spanning the
    whole body with a one-byte length, and inside it an optional `seq` (tag
    0x08, varint of at most 5 bytes below 2**32) followed by an optional
    `payload` (tag 0x12, one-byte length) and nothing else. Anything else
    (unknown fields, repeated or reordered fields, longer lengths, other
    messages) returns None, so the general parser stays the single authority
    on every edge case; the unit tests compare the two with hypothesis.
    """
    end = len(body)
    if end < 2 or body[0] != 0x12 or body[1] + 2 != end or body[1] > 0x7F:
        return None
    pos = 2
    seq = 0
    if pos < end and body[pos] == 0x08:
        b = body[pos + 1] if pos + 1 < end else 0x80
        if b < 0x80:  # the common case: seq < 128
            seq = b
            pos += 2
        else:
            start = pos + 1
            try:
                seq, pos = decode_varint(body, start)
            except (IndexError, RemoteProtocolError):
                return None
            if pos - start > MAX_VARINT32_BYTES or seq > 0xFFFFFFFF or pos > end:
                return None
    if pos == end:
        return seq, b""
    if body[pos] != 0x12 or pos + 1 >= end:
        return None
    if body[pos + 1] + pos + 2 != end or body[pos + 1] > 0x7F:
        return None
    return seq, body[pos + 2 :]


def tick_number(frame: bytes) -> int:
    """The number of an encoded tick frame, read from its first bytes: `Tick.number`
    (field 1, never 0) comes first. For frames from elsewhere (a stream, a file); a
    frame the room just built comes with its number in its `TickRecord`."""
    pos = prefix_length(frame) + 1  # skip the length and ServerMessage.tick's tag
    _, pos = decode_varint(frame, pos)  # the Tick's length
    return decode_varint(frame, pos + 1)[0]  # skip Tick.number's tag


def decode_server_frame_body(body: bytes) -> pb.ServerMessage:
    """Parse one server frame body (used by clients and tests)."""
    msg = pb.ServerMessage()
    msg.ParseFromString(body)
    return msg


def decode_tick_frame(frame: bytes) -> pb.Tick:
    """Parse an encoded tick frame (length prefix + ServerMessage{tick}) with the
    generated code: for frames read back once (a restore, the tools), never for one
    the room just built (its `TickRecord` says what is in it)."""
    msg = decode_server_frame_body(frame[prefix_length(frame) :])
    if not msg.HasField("tick"):
        raise ValueError("frame is not a Tick")
    return msg.tick


def kick_frame(reason: int, detail: str = "", redirect: str = "") -> bytes:
    """A complete frame of `ServerMessage{kick}`."""
    return encode_server_message(
        pb.ServerMessage(kick=pb.Kick(reason=reason, detail=detail, redirect=redirect))  # type: ignore[arg-type]
    )
