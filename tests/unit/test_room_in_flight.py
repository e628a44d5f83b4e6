"""Ticks in flight to a tick log (write before send), at the sans-I/O level.

A recorder that holds every cycle until the test releases it stands in for
the disk: between `produce` and `deliver`, no client may see a tick, resumes
see only delivered ticks, and a fresh joiner starts exactly at its first_tick.
"""

from __future__ import annotations

from tickcast.relay import TickCycle
from tickcast.room import Room
from tickcast.session import Session

from .harness import Client, Harness


class HeldRecorder:
    """Keeps each cycle until `release()`: a tick log whose commits are slow."""

    def __init__(self, h: Harness) -> None:
        self.relay = h.relay
        self.cycles: list[TickCycle] = []
        h.relay.recorder = self

    def record(self, produced: TickCycle) -> None:
        self.cycles.append(produced)

    def kicked(self, session: Session) -> None:
        pass

    def release(self) -> None:
        cycles, self.cycles = self.cycles, []
        for produced in cycles:
            self.relay.deliver(produced)


def tick_numbers(c: Client) -> list[int]:
    return [t.number for t in c.ticks()]


def test_nothing_is_sent_before_the_log_has_it_and_order_is_kept() -> None:
    h = Harness()
    rec = HeldRecorder(h)
    a, _ = h.join("ada")
    h.tick(3)
    room = h.relay.rooms["r"]
    assert a.ticks() == [] and room.last_sent() == 0 and room.next == 4
    rec.release()
    assert tick_numbers(a) == [1, 2, 3] and room.last_sent() == 3


def test_a_resume_sees_only_delivered_ticks_and_gets_held_ones_once() -> None:
    h = Harness()
    rec = HeldRecorder(h)
    h.join("ada")
    b, _ = h.join("bob")
    h.tick(2)
    rec.release()
    h.tick(2)  # ticks 3 and 4 held
    assert "not been sent" in h.refused("bob", resume_after=3).detail
    b2, w = h.join("bob", resume_after=1)
    assert w.first_tick == 2
    assert tick_numbers(b2) == [2]  # catch-up stops at the last delivered tick
    rec.release()
    assert tick_numbers(b2) == [3, 4]


def test_a_fresh_join_while_ticks_are_in_flight_starts_at_its_first_tick() -> None:
    h = Harness()
    rec = HeldRecorder(h)
    h.join("ada")
    h.tick(2)
    c, w = h.join("cyd")
    assert w.first_tick == 3 and [m.player_id for m in w.members] == ["ada"]
    h.tick()
    rec.release()
    ticks = c.ticks()
    assert [t.number for t in ticks] == [3]
    assert [m.player_id for m in ticks[0].joined] == ["cyd"]


def test_skipped_empty_ticks_count_as_sent_once_what_is_before_them_is() -> None:
    h = Harness(skip_empty_ticks=True)
    rec = HeldRecorder(h)
    a, _ = h.join("ada")
    h.tick()  # tick 1 carries the join: held
    h.tick(3)  # 2..4 empty: skipped
    room = h.relay.rooms["r"]
    assert room.last_sent() == 0
    rec.release()
    assert tick_numbers(a) == [1] and room.last_sent() == 4
    h.tick()  # 5: empty, nothing in flight: sent at once
    assert room.last_sent() == 5


def tick_frame(room: Room, now: float) -> bytes | None:
    """Produce a tick and deliver it at once (no tick log): its frame, or None."""
    record = room.produce(now)
    if record is None:
        return None
    room.deliver(record)
    return record.frame


def test_a_restored_room_goes_on_with_the_same_chain_and_rebuilds_empty_ticks() -> None:
    from tickcast.config import Config
    from tickcast.restore import RoomState
    from tickcast.room import Player
    from tickcast.store.log import tick_of_frame

    config = Config(tick_rate=10, reconnect_grace=1e9, server_id="t", history_seconds=2)
    original = Room("r", config)
    ada = Player("ada", 1)
    original.players["ada"] = ada
    original._next_slot = 2
    original._admit(ada, "ada")
    history = []
    for n in range(1, 51):
        frame = tick_frame(original, n / 10)
        assert frame is not None
        history.append((n, frame))
    member = Player("ada", 1)
    member.member, member.join_tick = True, 1
    state = RoomState(last_tick=50, chain=original.chain, players={1: member}, history=history)
    restored = Room.restored("r", config, state, now=5.0)
    for n in range(51, 56):
        expected = tick_frame(original, n / 10)
        got = tick_frame(restored, n / 10)
        assert got == expected and tick_of_frame(got).chain
        assert restored.frame(n) == expected  # an empty tick, rebuilt from its chain
    assert restored.frame(45) == history[44][1]
