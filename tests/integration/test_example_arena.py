"""The example game (examples/arena): clients agree; a broken client is reported."""

from __future__ import annotations

import sys
from pathlib import Path

from tickcast.testing import running_server

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "arena"))

from play import agreement, run_game  # noqa: E402


async def test_every_player_reaches_the_same_state() -> None:
    async with running_server(tick_rate=50) as server:
        logs = await run_game("127.0.0.1", server.port, players=4, ticks=120, hash_every=10)
    assert sorted(log.slot for log in logs) == [1, 2, 3, 4]
    by_tick = agreement(logs)
    assert sorted(by_tick) == list(range(10, 121, 10))
    assert all(len(hashes) == 1 for hashes in by_tick.values())
    assert all(len(log.hashes) == 12 for log in logs)
    assert not any(log.desyncs for log in logs)
    finals = [log.final for log in logs]
    assert all(f == finals[0] for f in finals)
    assert finals[0].tick == 120 and len(finals[0].players) == 4


async def test_a_diverging_player_is_reported_in_tick_desyncs() -> None:
    async with running_server(tick_rate=50) as server:
        logs = await run_game(
            "127.0.0.1", server.port, players=4, ticks=120, hash_every=10, broken=2
        )
    broken = next(log for log in logs if log.name == "player2")
    honest = [log for log in logs if log is not broken]
    assert all(log.hashes == honest[0].hashes for log in honest)
    assert broken.hashes[20] == honest[0].hashes[20]  # agreed before the bug
    assert broken.hashes[30] != honest[0].hashes[30]
    reported = {(tick, slots) for log in honest for tick, slots in log.desyncs}
    assert reported, "the server reported no desync"
    assert all(slots == (broken.slot,) for _, slots in reported)
    assert min(tick for tick, _ in reported) == 30
