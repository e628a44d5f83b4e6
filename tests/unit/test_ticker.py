"""The ticker (issue 2, point 5) runs on absolute deadlines: however late a firing
runs, the next one is scheduled on the original grid, so ticks do not drift.

Driven by a fake loop (time and call_at only) and a stand-in relay: no sleeping."""

from __future__ import annotations

import random

import pytest

from tickcast.config import Config
from tickcast.server import Server


class FakeHandle:
    def cancel(self) -> None:
        pass


class FakeLoop:
    """The two loop methods the ticker uses: a clock the test sets, and call_at recorded."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.scheduled: list[float] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: object, *args: object) -> FakeHandle:
        self.scheduled.append(when)
        return FakeHandle()


class BusyRelay:
    """A relay whose rooms always have members, in every tick phase."""

    ticking = True

    def __init__(self) -> None:
        self.ticked_at: list[float] = []

    def tick(self, now: float, phase: int | None = None) -> None:
        self.ticked_at.append(now)

    def steps_to_next_phase(self, phase: int, phases: int) -> int:
        return 1


@pytest.mark.parametrize("phases", [1, 8])
def test_late_firings_do_not_shift_the_next_deadlines(phases: int) -> None:
    server = Server(Config(tick_rate=50, tick_phases=phases, server_id="t"))
    loop = FakeLoop(now=100.0)
    relay = BusyRelay()
    server._loop = loop  # type: ignore[assignment]
    server.relay = relay  # type: ignore[assignment]
    step = 0.02 / phases
    server._start_ticker()
    rnd = random.Random(7)
    firings = 400
    for k in range(1, firings + 1):
        deadline = loop.scheduled[-1]
        assert deadline == pytest.approx(100.0 + k * step, abs=1e-9), k
        loop.now = deadline + rnd.uniform(0, 0.75 * step)  # the loop runs the timer late
        server._on_tick()
    assert len(relay.ticked_at) == firings
    # scheduling "one step after the firing ran" would have drifted by ~firings x 3/8 step
    assert loop.scheduled[-1] == pytest.approx(100.0 + (firings + 1) * step, abs=1e-9)
    assert server.ticks_late == 0


def test_a_ticker_too_far_behind_starts_a_fresh_phase_instead_of_a_burst() -> None:
    server = Server(Config(tick_rate=50, tick_phases=1, server_id="t"))
    loop = FakeLoop(now=100.0)
    server._loop = loop  # type: ignore[assignment]
    server.relay = BusyRelay()  # type: ignore[assignment]
    server._start_ticker()
    loop.now = 101.0  # 50 ticks late (a stalled process): no catch-up burst of 50 ticks
    server._on_tick()
    assert loop.scheduled[-1] == pytest.approx(101.02)
    assert server.ticks_late == 1
