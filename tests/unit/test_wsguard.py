"""The WebSocket frame guard's header walk (`tickcast.http.wsguard.FrameScanner`):
client frames built by the websockets library, fed in every split, are walked
frame by frame; the first unmasked one is found wherever it falls."""

from __future__ import annotations

import random

import pytest
from websockets.frames import Close, Frame, Opcode

from tickcast.http.wsguard import FrameScanner

SIZES = (0, 1, 125, 126, 300, 65535, 65536, 70000)


def client_frames(rng: random.Random) -> list[bytes]:
    """Masked client frames of every header form: data of 0..125 bytes (7-bit
    length), 126..65535 (16-bit) and over (64-bit), pings, pongs, a close."""
    made = [Frame(Opcode.BINARY, rng.randbytes(size)) for size in SIZES]
    made += [
        Frame(Opcode.PING, b"p" * 125),
        Frame(Opcode.PONG, b""),
        Frame(Opcode.CONT, b"c" * 10, fin=True),
        Frame(Opcode.CLOSE, Close(1000, "bye").serialize()),
    ]
    frames = [f.serialize(mask=True, extensions=[]) for f in made]
    rng.shuffle(frames)
    return frames


def feed(scanner: FrameScanner, data: bytes, rng: random.Random) -> int:
    """Feed `data` in random pieces (1 byte up to 3 KB, sometimes all at once); -1
    or where in `data` the unmasked frame starts (as far as the scanner can say)."""
    pos = 0
    while pos < len(data):
        step = rng.choice([1, 2, 3, 7, 14, 100, 3000, len(data)])
        bad = scanner.scan(data[pos : pos + step])
        if bad >= 0:
            return pos + bad
        pos += step
    return -1


@pytest.mark.parametrize("seed", range(20))
def test_masked_frames_pass_in_any_split(seed: int) -> None:
    rng = random.Random(seed)
    frames = client_frames(rng)
    scanner = FrameScanner()
    assert feed(scanner, b"".join(frames), rng) == -1
    assert scanner.frames == len(frames)


@pytest.mark.parametrize("seed", range(20))
def test_the_first_unmasked_frame_is_found_wherever_it_falls(seed: int) -> None:
    rng = random.Random(seed)
    frames = client_frames(rng)
    at = rng.randrange(len(frames) + 1)
    size = rng.choice([0, 5, 125, 200, 70000])
    unmasked = Frame(Opcode.BINARY, rng.randbytes(size)).serialize(mask=False, extensions=[])
    scanner = FrameScanner()
    start = sum(len(f) for f in frames[:at])
    found = feed(scanner, b"".join([*frames[:at], unmasked, *frames[at:]]), rng)
    # at its start, or (its header split over two reads) in the read after that
    assert start <= found < start + 10
    assert scanner.frames == at  # the frames before it were walked, and no further
