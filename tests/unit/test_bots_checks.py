"""The checks `tickcast bots` makes on each bot's stream, fed by hand."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

from tickcast.bots import (
    DRIVE_STEP,
    WINDOW,
    Bot,
    BotOptions,
    BotRun,
    RoomCheck,
    Summary,
    merge_summaries,
    summary_table,
)
from tickcast.client import Input, Tick
from tickcast.errors import AuthFailed
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


async def test_drive_sends_round_robin_so_players_stay_within_one_input() -> None:
    sent: dict[str, int] = {}

    def player(name: str) -> Bot:
        def send(payload: bytes) -> int:
            assert len(payload) == 16  # the stamp and the padding
            sent[name] = sent.get(name, 0) + 1
            return sent[name]

        client: Any = SimpleNamespace(slot=1, closed=False, send=send)
        return Bot(client, RoomCheck(), spectator=False)

    run = BotRun(BotOptions(input_rate=40, payload_bytes=16))
    run.bots = [player(f"p{i}") for i in range(7)]
    loop = asyncio.get_running_loop()
    await run.drive(loop.time() + 0.3)
    counts = [b.sent for b in run.bots]
    assert sum(counts) > 0 and counts == [sent.get(f"p{i}", 0) for i in range(7)]
    assert max(counts) - min(counts) <= 1  # spread over the players, whenever it stopped


def test_worker_summaries_merge_by_sums_and_pooled_latencies() -> None:
    a = Summary(options={}, bots=4, connected=4, inputs_sent=10, inputs_confirmed=10, ticks=50)
    a.duration, a.kick_reasons = 2.0, {"RATE_LIMITED": 1}
    b = Summary(options={}, bots=2, connected=1, connect_errors=1, inputs_sent=6, gaps=1)
    b.duration, b.kick_reasons, b.errors = 2.5, {"RATE_LIMITED": 2}, ["r/p: refused"]
    s = merge_summaries(
        BotOptions(workers=3, jwt_secret="x"),
        [(a, [1.0, 2.0, 3.0]), (b, [0.5, 10.0]), RuntimeError("worker 2 exited")],
    )
    assert (s.bots, s.connected, s.connect_errors, s.inputs_sent, s.ticks, s.gaps) == (
        6, 5, 1, 16, 50, 1
    )
    assert s.duration == 2.5 and s.inputs_per_second == round(16 / 2.5, 1)
    assert (s.latency_ms_p50, s.latency_ms_max) == (2.0, 10.0)
    assert s.kick_reasons == {"RATE_LIMITED": 3} and "jwt_secret" not in s.options
    assert s.errors[0] == "r/p: refused" and "worker 2 exited" in s.errors[1]
    assert not s.ok



async def test_drive_wakes_up_per_step_not_per_send(monkeypatch: Any) -> None:
    """Hundreds of players at 10 inputs/s must not turn the driver into a timer busy loop."""
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def counting_sleep(delay: float) -> None:
        sleeps.append(delay)
        await real_sleep(delay)

    client: Any = SimpleNamespace(slot=1, closed=False, send=lambda payload: 1)
    run = BotRun(BotOptions(input_rate=10))
    run.bots = [Bot(client, RoomCheck(), spectator=False) for _ in range(500)]
    monkeypatch.setattr(asyncio, "sleep", counting_sleep)
    loop = asyncio.get_running_loop()
    await run.drive(loop.time() + 0.2)
    assert min(sleeps) >= DRIVE_STEP  # 5000 sends/s, yet one wake-up per step
    assert sum(b.sent for b in run.bots) > 0


def test_every_failure_the_issue_names_makes_the_run_fail() -> None:
    """A gap, a duplicate, an inconsistency between members or an unexpected kick
    each turn the summary (and so the exit status) into a failure."""
    assert Summary(options={}).ok
    for failure in ("gaps", "duplicates", "inconsistencies", "kicks", "inputs_lost"):
        assert not Summary(options={}, **{failure: 1}).ok, failure


def test_own_inputs_are_expected_from_the_first_seq_the_sdk_gave() -> None:
    """A player the room knew is welcomed with last_seq 16: the SDK numbers from 17,
    and the check expects 17 first (it expected 1: `inputs misordered`)."""
    seqs = iter(range(17, 100))
    client: Any = SimpleNamespace(slot=3, send=lambda payload: next(seqs))
    b = Bot(client, RoomCheck(), spectator=False)
    for _ in range(3):
        b.send(b"")
    b.on_tick(tick(1, stamp_input(3, 17), stamp_input(3, 18)))
    b.on_tick(tick(2, stamp_input(3, 19)))
    assert (b.own_seen, b.misordered) == (3, 0)
    b.send(b"")  # 20, lost: 21 comes next
    b.send(b"")
    b.on_tick(tick(3, stamp_input(3, 21)))
    assert b.misordered == 1


def test_kicks_that_refused_a_first_connection_count_by_reason() -> None:
    run = BotRun(BotOptions())
    run.connect_errors = ["r/a: AuthFailed", "r/b: AuthFailed"]
    run.refused = [AuthFailed(pb.REASON_AUTH_FAILED, "no token")] * 2
    s = run.summary(1.0)
    assert (s.bots, s.connected, s.kicks, s.kick_reasons) == (2, 0, 2, {"AUTH_FAILED": 2})
    assert not s.ok
    assert re.search(r"kicks\s.*\b2 \{'AUTH_FAILED': 2\}", render(summary_table(s)))
    live = render(run.live_table()).splitlines()
    header = next(i for i, line in enumerate(live) if "kicks" in line)
    columns = [c.strip() for c in live[header].split("┃")]
    values = [c.strip() for c in live[header + 2].split("│")]
    assert values[columns.index("kicks")] == "2"


def render(table: Any) -> str:
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()
