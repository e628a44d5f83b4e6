"""Checks and exports over a recorded match, a chunk of ticks at a time."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass

from tickcast import wire
from tickcast.errors import RemoteProtocolError
from tickcast.proto import pb
from tickcast.store.log import TickLog, iter_ticks


@dataclass(frozen=True, slots=True)
class Verdict:
    """What `verify_match` found: `first_bad` is None when every tick checks out."""

    ticks: int
    chained: int
    first_bad: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def verify_match(log: TickLog, match_id: int) -> Verdict:
    """Check a match end to end: every frame whole and canonical, numbered as stored,
    and its `chain` equal to H(previous chain || content) (the spec's Chain rule).

    Ticks missing from the log (empty ticks a room skipped) still advance the chain:
    the room hashed them as `Tick{number}`. A part of a match (`MatchInfo.is_part`: a
    cluster node that took the room over mid-match) starts at its `first_tick` from
    the `base_chain` it recorded: the chain of the tick before."""
    match = log.match(match_id)
    chain = match.base_chain if match is not None else b""
    expected = match.first_tick if match is not None else 1
    count = chained = 0
    for number, frame in iter_ticks(log, match_id):
        try:
            tick = _decode_stored(number, frame)
        except _BadTick as exc:
            return Verdict(count, chained, number, str(exc))
        while expected < number:  # skipped empty ticks
            chain = wire.next_chain(chain, wire.encode_tick_content(expected, b""))
            expected += 1
        content = pb.Tick()
        content.CopyFrom(tick)
        content.ClearField("chain")
        content.ClearField("desyncs")
        chain = wire.next_chain(chain, content.SerializeToString())
        if tick.chain:
            if tick.chain != chain:
                return Verdict(
                    count, chained, number, "chain mismatch: the tick's content or chain changed"
                )
            chained += 1
        expected = number + 1
        count += 1
    return Verdict(count, chained)


class _BadTick(Exception):
    pass


def _decode_stored(number: int, frame: bytes) -> pb.Tick:
    """The Tick of a stored frame, or _BadTick saying what is wrong with the bytes."""
    try:
        length, pos = wire.decode_varint(frame)
    except (IndexError, RemoteProtocolError):
        raise _BadTick("the frame's length prefix is damaged") from None
    if pos + length != len(frame):
        raise _BadTick(f"the frame's length prefix says {length} bytes, it has {len(frame) - pos}")
    try:
        msg = pb.ServerMessage.FromString(frame[pos:])
    except Exception as exc:  # protobuf's DecodeError and friends
        raise _BadTick(f"the frame does not decode: {exc}") from None
    if not msg.HasField("tick"):
        raise _BadTick("the frame is not a Tick")
    if msg.tick.number != number:
        raise _BadTick(f"stored as tick {number} but the frame says {msg.tick.number}")
    if wire.encode_server_message(msg) != frame:
        raise _BadTick("the frame is not canonically encoded (bytes were changed)")
    return msg.tick


def tick_record(match_id: int, tick: pb.Tick) -> dict[str, object]:
    """One tick as a JSON-ready dict (payloads in base64, the chain in hex)."""
    return {
        "match": match_id,
        "tick": tick.number,
        "inputs": [
            {"slot": i.slot, "seq": i.seq, "payload": base64.b64encode(i.payload).decode()}
            for i in tick.inputs
        ],
        "joined": [{"slot": m.slot, "player_id": m.player_id} for m in tick.joined],
        "left": list(tick.left),
        "desyncs": [{"tick": d.tick, "slots": list(d.slots)} for d in tick.desyncs],
        "chain": tick.chain.hex(),
    }


def export_ndjson(log: TickLog, match_id: int) -> Iterator[str]:
    """One JSON line per tick, in order (streamed: memory is one chunk of ticks)."""
    for _, frame in iter_ticks(log, match_id):
        tick = wire.decode_server_frame_body(frame[wire.prefix_length(frame) :]).tick
        yield json.dumps(tick_record(match_id, tick), separators=(",", ":")) + "\n"
