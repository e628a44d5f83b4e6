"""Unit tests of the room sequencer through a real relay: slots, sequencing,
presence, ticks, history and resume, room limits, desyncs and the chain.
Driven with bytes and a fake clock (see harness.py)."""

from __future__ import annotations

import hashlib

import pytest

from tickcast.proto import pb

from .harness import Client, Harness


@pytest.fixture
def h() -> Harness:
    return Harness()


def numbers(ticks: list[pb.Tick]) -> list[int]:
    return [t.number for t in ticks]


def joined_ids(t: pb.Tick) -> list[str]:
    return [m.player_id for m in t.joined]


def drop(c: Client) -> None:
    """The connection is gone without Leave (reset, EOF)."""
    c.session.connection_lost()


# ---------------------------------------------------------------- slots


def test_slots_are_stable_per_player_across_leave_and_rejoin(h: Harness) -> None:
    a, wa = h.join("a")
    b, wb = h.join("b")
    assert (wa.slot, wb.slot) == (1, 2)
    h.tick()
    a.send(leave=pb.Leave())
    h.tick()
    _, wc = h.join("c")
    a2, wa2 = h.join("a")
    assert (wc.slot, wa2.slot) == (3, 1)
    drop(b)
    h.tick(int(h.config.reconnect_grace * h.config.tick_rate) + 2)  # b's grace runs out
    _, wb2 = h.join("b")
    assert wb2.slot == 2


def test_slot_is_per_room(h: Harness) -> None:
    h.join("x", room="one")
    _, w1 = h.join("p", room="one")
    _, w2 = h.join("p", room="two")
    assert (w1.slot, w2.slot) == (2, 1)


# ---------------------------------------------------------------- sequencing


def test_inputs_in_acceptance_order_in_the_open_tick(h: Harness) -> None:
    """Also the Identity rule: each input carries the slot of the connection that sent it."""
    a, wa = h.join("a")
    b, wb = h.join("b")
    h.tick()
    a.input(1, b"a1")
    b.input(1, b"b1")
    a.input(2, b"a2")
    h.tick()
    b.input(2, b"b2")
    h.tick()
    t2, t3 = a.ticks()[-2:]
    assert [(i.slot, i.seq, i.payload) for i in t2.inputs] == [
        (wa.slot, 1, b"a1"),
        (wb.slot, 1, b"b1"),
        (wa.slot, 2, b"a2"),
    ]
    assert [(i.slot, i.seq, i.payload) for i in t3.inputs] == [(wb.slot, 2, b"b2")]


def test_every_member_gets_the_same_tick_bytes(h: Harness) -> None:
    a, _ = h.join("a")
    b, _ = h.join("b")
    for seq in range(1, 6):
        a.input(seq, bytes([seq]) * seq)
        b.input(seq * 2, bytes(range(256)))
        h.tick()
    assert a.tick_bodies() == b.tick_bodies()
    assert sorted(a.tick_bodies()) == [1, 2, 3, 4, 5]


def test_seq_not_greater_than_the_last_is_dropped(h: Harness) -> None:
    a, _ = h.join("a")
    a.input(5, b"five")
    a.input(5, b"again")  # equal: dropped
    a.input(3, b"lower")  # lower: dropped
    a.input(9, b"gap is fine")
    h.tick()
    (t,) = a.ticks()
    assert [(i.seq, i.payload) for i in t.inputs] == [(5, b"five"), (9, b"gap is fine")]


def test_seq_dedup_across_reconnect(h: Harness) -> None:
    a, _ = h.join("a")
    h.tick()
    a.input(1, b"1")
    a.input(2, b"2")
    h.tick()
    drop(a)
    h.tick()
    a2, w = h.join("a", resume_after=1)
    assert w.last_seq == 2
    for seq in (1, 2, 3):  # the client resends everything it is unsure of
        a2.input(seq, str(seq).encode())
    h.tick()
    sequenced = [(i.seq, i.payload) for t in a2.ticks() for i in t.inputs]
    assert sequenced == [(1, b"1"), (2, b"2"), (3, b"3")]  # tick 2 replayed, then tick 4


def test_seq_dedup_across_a_fresh_rejoin_after_leave(h: Harness) -> None:
    a, _ = h.join("a")
    keep, _ = h.join("keep")
    a.input(7)
    h.tick()
    a.send(leave=pb.Leave())
    h.tick()
    a2, w = h.join("a")
    assert w.last_seq == 7
    a2.input(7, b"old")
    a2.input(8, b"new")
    h.tick()
    (t,) = a2.ticks()
    assert [i.seq for i in t.inputs] == [8]


# ---------------------------------------------------------------- presence


def test_a_join_appears_in_the_tick_it_takes_effect_for_every_member(h: Harness) -> None:
    a, _ = h.join("a")
    b, _ = h.join("b")
    h.tick(2)
    a.take()
    b.take()
    c, wc = h.join("c")
    assert wc.first_tick == 3
    assert [(m.slot, m.player_id) for m in wc.members] == [(1, "a"), (2, "b")]
    h.tick()
    ticks = {name: cl.ticks() for name, cl in (("a", a), ("b", b), ("c", c))}
    for name, got in ticks.items():
        assert numbers(got) == [3], name
        assert [(m.slot, m.player_id) for m in got[0].joined] == [(3, "c")], name


def test_first_joiners_appear_in_tick_one(h: Harness) -> None:
    a, wa = h.join("a")
    b, wb = h.join("b")
    assert (wa.first_tick, wb.first_tick) == (1, 1)
    assert [m.player_id for m in wb.members] == []  # before tick 1 nobody is a member
    h.tick()
    (ta,) = a.ticks()
    (tb,) = b.ticks()
    assert ta == tb
    assert ta.number == 1 and joined_ids(ta) == ["a", "b"]


def test_leave_after_leave_message(h: Harness) -> None:
    a, _ = h.join("a")
    b, wb = h.join("b")
    h.tick()
    b.send(leave=pb.Leave())
    late, w = h.join("late")  # joins while b's leave is in the open tick
    assert [m.player_id for m in w.members] == ["a", "b"]
    h.tick()
    (t,) = a.ticks()[-1:]
    assert list(t.left) == [wb.slot] and joined_ids(t) == ["late"]
    assert late.ticks() == [t]


def test_leave_after_the_reconnect_grace() -> None:
    h = Harness(reconnect_grace=1.0)
    a, _ = h.join("a")
    b, wb = h.join("b")
    h.tick()
    a.take()
    drop(b)
    dropped_at = h.clock.now()
    left_at: list[float] = []
    for _ in range(30):
        h.tick()
        for t in a.ticks():
            if t.left:
                assert list(t.left) == [wb.slot]
                left_at.append(h.clock.now())
    assert len(left_at) == 1  # exactly once
    assert left_at[0] - dropped_at >= 1.0
    assert left_at[0] - dropped_at < 1.0 + 1.5 * h.config.tick_interval


def test_reconnect_within_the_grace_keeps_membership(h: Harness) -> None:
    a, _ = h.join("a")
    b, _ = h.join("b")
    h.tick(3)
    drop(b)
    h.tick(5)
    b2, w = h.join("b", resume_after=3)
    h.tick(400)  # well past the grace
    for t in a.ticks():
        assert not t.left and (t.number == 1 or not t.joined)
    assert w.first_tick == 4


def test_join_and_leave_within_one_open_tick_cancel(h: Harness) -> None:
    a, _ = h.join("a")
    h.tick()
    a.take()
    b, _ = h.join("b")
    b.send(leave=pb.Leave())
    c, _ = h.join("c")
    drop(c)  # c's membership stays (grace): only b's join and leave cancel
    h.tick()
    (t,) = a.ticks()
    assert joined_ids(t) == ["c"] and list(t.left) == []


def test_leave_and_rejoin_within_one_open_tick_cancel(h: Harness) -> None:
    a, _ = h.join("a")
    b, _ = h.join("b")
    h.tick()
    a.take()
    b.send(leave=pb.Leave())
    b2, w = h.join("b")
    h.tick()
    (t,) = a.ticks()
    assert list(t.joined) == [] and list(t.left) == []
    assert b2.ticks() == [t] and w.first_tick == t.number


def test_second_connection_of_a_player_replaces_the_first(h: Harness) -> None:
    a, _ = h.join("a")
    old, w_old = h.join("p")
    h.tick()
    old.input(1, b"x")
    a.take()
    new, w_new = h.join("p")
    assert old.kick().reason == pb.REASON_REPLACED
    assert (w_new.slot, w_new.last_seq) == (w_old.slot, 1)
    new.input(2, b"y")
    h.tick(2)
    ticks = a.ticks()
    assert [[(i.slot, i.seq) for i in t.inputs] for t in ticks] == [[(2, 1), (2, 2)], []]
    assert all(not t.joined and not t.left for t in ticks)
    assert new.ticks() == ticks
    assert old.kick().reason == pb.REASON_REPLACED  # nothing after the Kick


# ---------------------------------------------------------------- ticks


def test_no_ticks_without_members(h: Harness) -> None:
    h.tick(5)
    assert h.relay.rooms == {} and h.relay.ticks_produced == 0
    watcher, _ = h.join("w", spectator=True)
    h.tick(3)
    assert watcher.take() == []  # a spectator alone does not make ticks


def test_ticks_numbered_from_one_and_only_while_members(h: Harness) -> None:
    a, _ = h.join("a")
    h.tick(4)
    a.send(leave=pb.Leave())
    h.tick(3)
    assert numbers([m.tick for m in a.messages() if m.HasField("tick")]) == [1, 2, 3, 4]
    assert h.relay.rooms == {}
    b, _ = h.join("b")  # a new room of the same name starts again at 1
    h.tick()
    assert numbers(b.ticks()) == [1]


def test_ticks_go_on_while_a_dropped_member_is_in_its_grace(h: Harness) -> None:
    a, _ = h.join("a")
    h.tick()
    drop(a)
    h.tick(3)
    a2, _ = h.join("a", resume_after=1)
    assert numbers(a2.ticks()) == [2, 3, 4]


def test_empty_ticks_are_sent(h: Harness) -> None:
    a, _ = h.join("a")
    h.tick(5)
    ticks = a.ticks()
    assert numbers(ticks) == [1, 2, 3, 4, 5]
    assert all(not t.inputs and not t.joined and not t.left for t in ticks[1:])


def test_skip_empty_ticks() -> None:
    h = Harness(skip_empty_ticks=True)
    a, _ = h.join("a")
    h.tick(3)
    a.input(1)
    h.tick(3)
    h.join("b")
    h.tick(3)
    assert numbers(a.ticks()) == [1, 4, 7]


# ---------------------------------------------------------------- history and resume


def history_room(h: Harness, ticks: int) -> tuple[Client, Client, pb.Welcome]:
    """Members a and b, `ticks` ticks with inputs from a; b has dropped after tick 2."""
    a, _ = h.join("a")
    b, wb = h.join("b")
    for n in range(1, ticks + 1):
        a.input(n, n.to_bytes(2, "big"))
        h.tick()
        if n == 2:
            drop(b)
    return a, b, wb


def test_resume_gets_exactly_the_missed_ticks_then_live(h: Harness) -> None:
    a, b, _ = history_room(h, 8)
    b2, w = h.join("b", resume_after=2)
    assert (w.first_tick, w.slot, w.last_seq, list(w.members)) == (3, 2, 0, [])
    caught_up = b2.tick_bodies()
    assert caught_up == {n: a.tick_bodies()[n] for n in range(3, 9)}  # byte-identical
    a.input(100)
    h.tick(2)
    assert numbers(b2.ticks()) == list(range(3, 11))  # nothing skipped or repeated
    assert b2.tick_bodies() == {n: a.tick_bodies()[n] for n in range(3, 11)}


def test_resume_at_the_last_tick_gets_only_live_ticks(h: Harness) -> None:
    a, b, _ = history_room(h, 4)
    b2, w = h.join("b", resume_after=4)
    assert w.first_tick == 5 and b2.take() == []
    h.tick()
    assert numbers(b2.ticks()) == [5]


def test_resume_with_the_oldest_kept_tick() -> None:
    h = Harness(history_seconds=0.5)  # 6 ticks kept at 10 ticks/s
    kept = h.config.history_ticks
    a, b, _ = history_room(h, 20)
    first_kept = 20 - kept + 1
    b2, w = h.join("b", resume_after=first_kept - 1)
    assert w.first_tick == first_kept
    assert numbers(b2.ticks()) == list(range(first_kept, 21))
    assert b2.tick_bodies() == {n: a.tick_bodies()[n] for n in range(first_kept, 21)}


def test_resume_unavailable_once_the_next_tick_is_no_longer_kept() -> None:
    h = Harness(history_seconds=0.5)
    a, b, _ = history_room(h, 20)
    first_kept = 20 - h.config.history_ticks + 1
    kick = h.refused("b", resume_after=first_kept - 2)
    assert kick.reason == pb.REASON_RESUME_UNAVAILABLE


def test_resume_unavailable_for_a_tick_in_the_future(h: Harness) -> None:
    history_room(h, 5)
    assert h.refused("b", resume_after=6).reason == pb.REASON_RESUME_UNAVAILABLE
    assert h.refused("b", resume_after=2**64 - 1).reason == pb.REASON_RESUME_UNAVAILABLE


def test_resume_unavailable_without_membership(h: Harness) -> None:
    history_room(h, 5)
    assert h.refused("stranger", resume_after=3).reason == pb.REASON_RESUME_UNAVAILABLE
    assert h.refused("x", room="nowhere", resume_after=1).reason == pb.REASON_RESUME_UNAVAILABLE
    assert "nowhere" not in h.relay.rooms


def test_resume_unavailable_after_the_grace_ran_out() -> None:
    h = Harness(reconnect_grace=0.5)
    history_room(h, 20)  # b dropped after tick 2: its grace ended long ago
    assert h.refused("b", resume_after=15).reason == pb.REASON_RESUME_UNAVAILABLE


def test_full_history_from_tick_one(h: Harness) -> None:
    a, _, _ = history_room(h, 6)
    late, w = h.join("late", full_history=True)
    assert w.first_tick == 1 and list(w.members) == []
    h.tick()
    assert numbers(late.ticks()) == list(range(1, 8))
    assert late.tick_bodies() == a.tick_bodies()
    assert joined_ids(a.ticks()[-1]) == ["late"]


def test_full_history_refused_once_the_ring_has_wrapped() -> None:
    h = Harness(history_seconds=0.5)
    kept = h.config.history_ticks
    a, _ = h.join("a")
    h.tick(kept)
    _, w = h.join("ok", full_history=True)  # tick 1 is still the oldest kept
    assert w.first_tick == 1
    h.tick()
    assert h.refused("late", full_history=True).reason == pb.REASON_RESUME_UNAVAILABLE


def test_spectator_may_resume_and_watch_the_full_history(h: Harness) -> None:
    a, _, _ = history_room(h, 4)
    s, w = h.join("w", spectator=True, full_history=True)
    assert (w.slot, w.first_tick) == (0, 1)
    assert s.tick_bodies() == a.tick_bodies()


# ---------------------------------------------------------------- limits


def test_room_full() -> None:
    h = Harness(max_players=2)
    a, _ = h.join("a")
    b, _ = h.join("b")
    h.tick()
    assert h.refused("c").reason == pb.REASON_ROOM_FULL
    h.join("watcher", spectator=True)  # spectators hold no slot
    h.join("b")  # a member replacing its own connection is not a new player
    drop(a)
    h.join("a", resume_after=1)  # nor is a resume within the grace
    assert h.relay.rooms["r"].members == 2


def test_room_full_frees_up_after_a_leave() -> None:
    h = Harness(max_players=1)
    h.join("watcher", spectator=True)  # keeps the room (and its slot numbering) alive
    a, _ = h.join("a")
    assert h.refused("b").reason == pb.REASON_ROOM_FULL
    a.send(leave=pb.Leave())
    _, w = h.join("b")
    assert w.slot == 2


# ---------------------------------------------------------------- desyncs


def report(c: Client, tick: int, digest: bytes) -> None:
    c.send(state_hash=pb.StateHash(tick=tick, hash=digest))


def desyncs_seen(c: Client) -> list[tuple[int, list[int]]]:
    return [(d.tick, list(d.slots)) for t in c.ticks() for d in t.desyncs]


def test_desync_minority_reported_once_in_a_later_tick(h: Harness) -> None:
    a, _ = h.join("a")
    b, _ = h.join("b")
    c, wc = h.join("c")
    h.tick(2)
    a.take()
    report(a, 1, b"good")
    report(b, 1, b"good")
    report(c, 1, b"bad!")
    report(c, 1, b"good")  # a second report for the same tick is ignored
    report(a, 2, b"same")
    report(b, 2, b"same")
    report(c, 2, b"same")
    h.tick(3)
    ticks = a.ticks()
    assert [(d.tick, list(d.slots)) for d in ticks[0].desyncs] == [(1, [wc.slot])]
    assert ticks[0].number == 3
    assert all(not t.desyncs for t in ticks[1:])


def test_desync_without_majority_reports_everyone(h: Harness) -> None:
    a, _ = h.join("a")
    b, _ = h.join("b")
    h.tick()
    report(a, 1, b"x")
    report(b, 1, b"y")
    h.tick()
    assert desyncs_seen(a) == [(1, [1, 2])]


def test_desync_judged_when_a_member_never_reports(h: Harness) -> None:
    a, _ = h.join("a")
    b, _ = h.join("b")
    c, _ = h.join("c")
    h.tick()
    report(a, 1, b"x")
    report(b, 1, b"x")
    report(c, 1, b"y")
    report(a, 1, b"x")
    d, _ = h.join("d")
    h.tick()
    report(a, 2, b"x")
    report(b, 2, b"y")
    report(c, 2, b"y")  # d never reports tick 2: judged when it leaves the window
    h.tick(3 * h.config.tick_rate)
    assert desyncs_seen(a) == [(1, [3]), (2, [1])]


def test_desync_reported_once_even_when_hashes_are_sent_again(h: Harness) -> None:
    """A client that reconnects may resend its StateHash for a tick already judged."""
    a, _ = h.join("a")
    b, _ = h.join("b")
    h.tick()
    report(a, 1, b"x")
    report(b, 1, b"y")
    h.tick()
    drop(b)
    b2, _ = h.join("b", resume_after=2)
    report(a, 1, b"x")
    report(b2, 1, b"y")
    h.tick(3 * h.config.tick_rate)
    assert desyncs_seen(a) == [(1, [1, 2])]


def test_spectator_state_hash_is_ignored(h: Harness) -> None:
    a, _ = h.join("a")
    b, _ = h.join("b")
    s, _ = h.join("w", spectator=True)
    h.tick()
    report(a, 1, b"x")
    report(s, 1, b"y")
    report(b, 1, b"x")
    h.tick(3 * h.config.tick_rate)
    assert desyncs_seen(a) == []
    assert not s.sink.closed


# ---------------------------------------------------------------- chain


def content_of(t: pb.Tick) -> bytes:
    """The spec's "content": the Tick with chain and desyncs left empty, canonically."""
    bare = pb.Tick()
    bare.CopyFrom(t)
    bare.ClearField("chain")
    bare.ClearField("desyncs")
    return bare.SerializeToString(deterministic=True)


def verify_chain(ticks: list[pb.Tick]) -> None:
    """Recompute every chain from tick 1; a number missing is an empty (skipped) tick."""
    chain = b""
    expected_number = 1
    for t in ticks:
        while expected_number < t.number:
            empty = pb.Tick(number=expected_number).SerializeToString()
            chain = hashlib.blake2b(chain + empty, digest_size=32).digest()
            expected_number += 1
        chain = hashlib.blake2b(chain + content_of(t), digest_size=32).digest()
        assert t.chain == chain, f"tick {t.number}"
        expected_number = t.number + 1


def test_chain_end_to_end(h: Harness) -> None:
    a, _ = h.join("a")
    b, _ = h.join("b")
    h.tick()
    for n in range(1, 10):
        a.input(n, bytes(range(256)))
        if n == 3:
            report(a, 1, b"x")
            report(b, 1, b"y")
        if n == 5:
            b.send(leave=pb.Leave())
        if n == 7:
            h.join("c")
        h.tick()
    ticks = a.ticks()
    assert any(t.desyncs for t in ticks) and any(t.left for t in ticks)
    assert all(len(t.chain) == 32 for t in ticks)
    verify_chain(ticks)


def test_chain_over_skipped_empty_ticks() -> None:
    h = Harness(skip_empty_ticks=True)
    a, _ = h.join("a")
    h.tick(3)
    a.input(1)
    h.tick(4)
    a.input(2)
    h.tick()
    ticks = a.ticks()
    assert numbers(ticks) == [1, 4, 8]
    verify_chain(ticks)


def test_chain_off() -> None:
    h = Harness(chain=False)
    a, _ = h.join("a")
    a.input(1)
    h.tick(2)
    assert [t.chain for t in a.ticks()] == [b"", b""]


def test_resume_replaces_a_connection_that_is_still_open(h: Harness) -> None:
    """A client whose old TCP connection is half-open reconnects with a resume."""
    a, _ = h.join("a")
    old, _ = h.join("p")
    h.tick(3)
    new, w = h.join("p", resume_after=1)
    assert old.kick().reason == pb.REASON_REPLACED
    assert w.first_tick == 2
    assert new.tick_bodies() == {n: a.tick_bodies()[n] for n in (2, 3)}
    h.tick()
    assert all(not t.joined and not t.left for t in a.ticks()[1:])


def test_inputs_of_a_cancelled_join_are_not_sequenced(h: Harness) -> None:
    """A player that joins, sends inputs and leaves within one open tick was a member
    of no tick: a tick must not carry its inputs, and its seqs are free again."""
    a, _ = h.join("a")
    h.tick()
    a.take()
    ghost, _ = h.join("ghost")
    ghost.input(1, b"boo")
    a.input(1, b"real")
    ghost.send(leave=pb.Leave())
    h.tick()
    (t,) = a.ticks()
    assert [(i.slot, i.payload) for i in t.inputs] == [(1, b"real")]
    assert not t.joined and not t.left
    _, w = h.join("ghost")
    assert w.last_seq == 0


def test_inputs_of_a_cancelled_join_do_not_leak_into_a_later_tick(h: Harness) -> None:
    h.join("watcher", spectator=True)  # keeps the room open while it has no members
    ghost, _ = h.join("ghost")
    ghost.input(1, b"boo")
    ghost.send(leave=pb.Leave())
    h.tick(3)  # nobody is a member: no tick
    late, _ = h.join("late")
    h.tick()
    (t,) = late.ticks()
    assert t.number == 1 and list(t.inputs) == [] and joined_ids(t) == ["late"]


def test_a_spectator_only_room_is_dropped_when_its_last_spectator_goes() -> None:
    """No room ticks (no players anywhere), so only the session's end can drop the room."""
    h = Harness()
    watcher, _ = h.join("eve", room="quiet", spectator=True)
    leaver, _ = h.join("sam", room="quiet2", spectator=True)
    assert {"quiet", "quiet2"} <= set(h.relay.rooms)
    watcher.session.connection_lost()
    leaver.send(leave=pb.Leave())
    assert "quiet" not in h.relay.rooms and "quiet2" not in h.relay.rooms


@pytest.mark.parametrize("gone", ["leave", "drop"])
def test_desync_waits_for_the_members_still_here_when_a_reporter_goes(
    h: Harness, gone: str
) -> None:
    """A member reports, then leaves (or drops): the tick is judged once every
    member still connected has reported, not as soon as the count of reports
    reaches the smaller membership (which judged a 1-1 tie and named the honest
    reporter, as the example game showed at its last tick)."""
    a, _ = h.join("a")
    b, _ = h.join("b")
    c, _ = h.join("c")
    h.tick()
    report(a, 1, b"good")
    if gone == "leave":
        a.send(leave=pb.Leave())
    else:
        drop(a)
    report(b, 1, b"bad!")
    report(c, 1, b"good")
    h.tick(3 * h.config.tick_rate)
    assert desyncs_seen(c) == [(1, [2])]
