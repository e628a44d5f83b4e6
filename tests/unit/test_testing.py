"""The public test helpers behave as their docstrings promise."""

from __future__ import annotations

import pytest

from tickcast import wire
from tickcast.proto import pb
from tickcast.testing import FakeClock, MemorySink, decode_frames


def pong(nonce: int) -> bytes:
    return wire.encode_server_message(pb.ServerMessage(pong=pb.Pong(nonce=nonce)))


def test_fake_clock_moves_only_forward_when_told() -> None:
    clock = FakeClock(start=5.0)
    assert clock.now() == 5.0 == clock.now()
    assert clock.advance(0.25) == 5.25 == clock.now()
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_decode_frames_and_a_trailing_partial_frame() -> None:
    data = pong(1) + pong(2)
    assert [m.pong.nonce for m in decode_frames(data)] == [1, 2]
    with pytest.raises(ValueError):
        decode_frames(data + pong(3)[:-1])
    assert len(decode_frames(data + pong(3)[:-1], allow_partial=True)) == 2


def test_memory_sink_paused_drain_and_take() -> None:
    sink = MemorySink(paused=True)
    sink.write(pong(1))
    sink.write(pong(2))
    assert sink.get_write_buffer_size() == 2 * len(pong(1)) and sink.messages() == []
    assert sink.drain_frames(1) == len(pong(1))
    assert [m.pong.nonce for m in sink.take()] == [1]
    sink.unsent = 100
    assert sink.get_write_buffer_size() == len(pong(2)) + 100
    sink.resume()
    sink.write(pong(3))
    assert [m.pong.nonce for m in sink.take()] == [2, 3] and sink.take() == []


def test_memory_sink_drain_frames_refuses_more_than_is_waiting() -> None:
    sink = MemorySink(paused=True)
    sink.write(pong(1))
    with pytest.raises(ValueError):
        sink.drain_frames(2)


def test_memory_sink_close_abort_and_late_writes() -> None:
    sink = MemorySink(paused=True)
    sink.write(pong(1))
    sink.abort()
    sink.write(pong(2))
    assert sink.closed and sink.aborted and sink.pending == 0
    assert sink.writes == 1 and sink.writes_after_close == 1


def test_the_fake_clock_example_in_docs_client_md_runs() -> None:
    """docs/client.md shows a relay driven by FakeClock and MemorySink: it works as printed."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "client.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "FakeClock()" in b]
    scope: dict[str, object] = {}
    exec(example, scope)  # noqa: S102 - our own documentation
    welcome, tick = scope["welcome"], scope["tick"]
    assert welcome.HasField("welcome") and welcome.welcome.slot == 1  # type: ignore[attr-defined]
    assert tick.HasField("tick") and tick.tick.number == 1  # type: ignore[attr-defined]
    assert [m.player_id for m in tick.tick.joined] == ["p"]  # type: ignore[attr-defined]
