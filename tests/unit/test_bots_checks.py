"""The checks `tickcast bots` makes on each bot's stream, fed by hand."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tickcast.bots import WINDOW, Bot, RoomCheck, percentile
from tickcast.client import Input, Tick
from tickcast.proto import pb


def bot(check: RoomCheck, slot: int = 1) -> Bot:
    client: Any = SimpleNamespace(slot=slot)
    return Bot(client, check, spectator=False)


def tick(n: int, *inputs: Input, marker: bytes = b"") -> Tick:
    raw = pb.Tick(number=n, chain=marker).SerializeToString()
    return Tick(n, inputs=tuple(inputs), raw=raw)


def stamp_input(slot: int, seq: int) -> Input:
    return Input(slot, seq, (0).to_bytes(8, "little") + b"pad", "p")


def test_gaps_and_duplicates_are_counted() -> None:
    b = bot(RoomCheck())
    for n in (1, 2, 2, 4, 5, 3):
        b.on_tick(tick(n))
    assert (b.gaps, b.duplicates, b.ticks) == (1, 2, 4)


def test_own_inputs_must_come_back_once_in_order() -> None:
    b = bot(RoomCheck(), slot=2)
    b.on_tick(tick(1, stamp_input(2, 1), stamp_input(1, 1), stamp_input(2, 2)))
    b.on_tick(tick(2, stamp_input(2, 2)))  # applied twice
    b.on_tick(tick(3, stamp_input(2, 4)))  # 3 was lost
    assert (b.own_seen, b.misordered, b.deliveries) == (4, 2, 5)
    assert len(b.latencies) == 4


def test_members_with_the_same_windows_agree_and_a_different_one_is_caught() -> None:
    check = RoomCheck()
    a, b, c = bot(check), bot(check), bot(check)
    for n in range(1, 2 * WINDOW + 1):
        a.on_tick(tick(n))
        b.on_tick(tick(n))
        c.on_tick(tick(n, marker=b"x" if n == WINDOW + 3 else b""))
    assert check.compared == 4  # 2 windows, 2 later members each
    assert check.inconsistencies == 1


def test_a_member_that_joined_mid_window_skips_that_window() -> None:
    check = RoomCheck()
    a, late = bot(check), bot(check)
    for n in range(1, 2 * WINDOW + 1):
        a.on_tick(tick(n))
        if n > 5:
            late.on_tick(tick(n))
    assert check.compared == 1 and check.inconsistencies == 0


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (50, 99, 0)
