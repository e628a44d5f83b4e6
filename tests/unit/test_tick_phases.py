"""Config.tick_phases: rooms spread over moments of the tick interval."""

from __future__ import annotations

from support import room_names_in_distinct_phases

from tickcast.proto import pb

from .harness import Harness


def test_each_phase_ticks_only_its_rooms_and_every_room_ticks_once_per_interval() -> None:
    h = Harness(tick_phases=4)
    names = room_names_in_distinct_phases(4)
    clients = [h.join(f"p{i}", room=name)[0] for i, name in enumerate(names)]
    for c in clients:
        c.take()  # the Welcomes
    assert [h.relay.rooms[n].phase for n in names] == [0, 1, 2, 3]
    for interval in range(3):
        for phase in range(4):
            h.relay.tick(h.clock.now(), phase)
            # the room of this phase got its tick now; the others did not
            got = [len(c.ticks()) for c in clients]
            assert got == [1 if p == phase else 0 for p in range(4)], (interval, phase, got)
            h.clock.advance(0.025)
    assert [h.relay.rooms[n].last_sent() for n in names] == [3, 3, 3, 3]


def test_without_a_phase_every_room_ticks() -> None:
    h = Harness(tick_phases=4)
    names = room_names_in_distinct_phases(4)
    clients = [h.join(f"p{i}", room=name)[0] for i, name in enumerate(names)]
    h.relay.tick(h.clock.now())
    assert [h.relay.rooms[n].last_sent() for n in names] == [1, 1, 1, 1]
    assert all(c.ticks() for c in clients)


def test_ticker_goes_on_until_a_left_room_in_another_phase_is_ticked_and_dropped() -> None:
    # the last member leaves a phase-1 room; the next firing is phase 0's: the
    # relay must still say it is ticking, or the ticker stops before the room
    # announces the leave and is dropped (it was: the room stayed forever)
    h = Harness(tick_phases=4)
    name = room_names_in_distinct_phases(4)[1]
    c, _ = h.join("ada", room=name)
    h.relay.tick(h.clock.now(), 1)
    c.send(leave=pb.Leave())
    h.clock.advance(0.025)
    h.relay.tick(h.clock.now(), 2)
    assert name in h.relay.rooms and h.relay.ticking
    h.clock.advance(0.075)
    h.relay.tick(h.clock.now(), 1)
    assert name not in h.relay.rooms
    assert not h.relay.ticking  # now the ticker may stop: nothing left to tick


def test_the_ticker_skips_phases_without_rooms() -> None:
    h = Harness(tick_phases=8)
    assert h.relay.steps_to_next_phase(3, 8) == 1  # no rooms: nothing to skip to
    names = room_names_in_distinct_phases(8)
    h.join("ada", room=names[1])
    h.join("bob", room=names[5])
    assert h.relay.steps_to_next_phase(1, 8) == 4  # 1 -> 5
    assert h.relay.steps_to_next_phase(5, 8) == 4  # 5 -> 1, around the interval
    assert h.relay.steps_to_next_phase(2, 8) == 3  # 2 -> 5
    h.join("cy", room=names[2])
    assert h.relay.steps_to_next_phase(1, 8) == 1  # 1 -> 2


def test_with_many_rooms_the_ticker_visits_every_phase() -> None:
    # 32 rooms over 8 phases: it does not look for gaps (every phase almost surely has rooms)
    h = Harness(tick_phases=8)
    for i in range(32):
        h.join(f"p{i}", room=f"r{i}")
    assert h.relay.steps_to_next_phase(0, 8) == 1
