"""Atheris harness: coverage-guided fuzzing of the framer, the session and the relay.

Long runs, outside CI (the bounded hypothesis fuzz test in
tests/unit/test_fuzz_session.py runs in CI). atheris is not a dependency of
tickcast; install it where you fuzz:

    pip install atheris
    mkdir -p /tmp/tickcast-corpus
    PYTHONPATH=src python fuzz/fuzz_session.py /tmp/tickcast-corpus fuzz/corpus \
        -max_total_time=3600 -rss_limit_mb=2048

(libFuzzer writes new inputs into the first directory; fuzz/corpus holds the
seeds and stays as it is. A crash is saved as ./crash-<sha1>; replay it with
`python fuzz/fuzz_session.py crash-<sha1>`.)

One input is a little program: its first bytes choose how many connections
there are and how the byte stream is cut into reads and where the clock
advances; the rest is the bytes the clients send. A crash is any exception
escaping `Session.data_received`, or a broken invariant (a frame written after
the Kick, an "internal server error" Kick, a framer holding more than one
frame, a room nobody was welcomed into).

`python fuzz/fuzz_session.py --seed-corpus fuzz/corpus` rewrites the seed
inputs (valid Hellos, inputs and pings) that start a run from the joined state.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tickcast import wire
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.relay import Relay

MAX_FRAME = 1024
CONFIG = Config(port=0, max_frame=MAX_FRAME, tick_rate=20, server_id="fuzz", handshake_timeout=1.0)


class Sink:
    """Keeps what the server writes and checks nothing follows the close."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            raise AssertionError("write after close")
        self.writes.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True

    abort = close


def test_one_input(data: bytes) -> None:
    """Run one fuzz input; raise on any broken invariant."""
    if len(data) < 2:
        return
    n_conns = 1 + data[0] % 3
    cut_seed = data[1]
    body = data[2:]
    relay = Relay(CONFIG, auth=None)
    now = 0.0
    sinks = [Sink() for _ in range(n_conns)]
    conns = [(relay.open_session(sink, now, "fuzz"), sink) for sink in sinks]
    pos, step = 0, 0
    while pos < len(body):
        size = 1 + (cut_seed * (step + 7)) % 97
        session, _ = conns[step % n_conns]
        session.data_received(body[pos : pos + size], now)
        if session.framer.buffered > MAX_FRAME + wire.MAX_VARINT32_BYTES:
            raise AssertionError("framer holds more than one frame")
        pos += size
        step += 1
        if step % 4 == 0:
            now += 0.05
            relay.tick(now)
            relay.sweep(now)
    welcomed: set[str] = set()
    for _, sink in conns:
        messages = [
            wire.decode_server_frame_body(f)
            for w in sink.writes
            for f in wire.Framer(1 << 24).feed(w)
        ]
        kinds = [m.WhichOneof("body") for m in messages]
        if "kick" in kinds:
            if kinds.count("kick") != 1 or kinds[-1] != "kick":
                raise AssertionError(f"frames after the Kick: {kinds}")
            if messages[-1].kick.detail == "internal server error":
                raise AssertionError("the session met a bug (see the logged traceback)")
        if kinds and kinds[0] == "welcome":
            welcomed.add(messages[0].welcome.room)
    if not set(relay.rooms) <= welcomed:
        raise AssertionError(f"rooms nobody was welcomed into: {set(relay.rooms) - welcomed}")


def seed_inputs() -> dict[str, bytes]:
    """A few valid conversations to start the fuzzer from."""

    def frame(**body: object) -> bytes:
        return wire.frame(pb.ClientMessage(**body).SerializeToString())  # type: ignore[arg-type]

    hello = frame(hello=pb.Hello(protocol_version=1, player_id="ada", room="r"))
    inputs = b"".join(frame(input=pb.Input(seq=i, payload=b"x" * i)) for i in range(1, 6))
    return {
        "join_and_play": b"\x00\x05" + hello + inputs + frame(ping=pb.Ping(nonce=9)),
        "two_players": b"\x01\x11"
        + hello
        + frame(hello=pb.Hello(protocol_version=1, player_id="bob"))
        + inputs,
        "spectator_hash_leave": b"\x00\x03"
        + frame(hello=pb.Hello(protocol_version=1, player_id="s", spectator=True))
        + frame(state_hash=pb.StateHash(tick=1, hash=b"h"))
        + frame(leave=pb.Leave()),
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--seed-corpus":
        out = Path(sys.argv[2])
        out.mkdir(parents=True, exist_ok=True)
        for name, data in seed_inputs().items():
            (out / name).write_bytes(data)
        return
    import atheris  # only needed for fuzzing runs

    logging.disable(logging.CRITICAL)  # kicks are expected; keep the fuzzer's output readable
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
