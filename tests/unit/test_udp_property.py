"""Property tests of the UDP core: whatever the network does to datagrams (loss,
duplication, reordering, a NAT rebinding, UDP dying altogether) and however the
stream lags, the client's application gets every tick exactly once, in order,
byte-identical to the room's frame, and every input reaches the sequencer
exactly once, in order (the room's own rule drops repeats by seq).

Each example is a random sequence of events in `udp_support.World`, then calm
weather (`settle`) in which the room keeps ticking and everything in flight
arrives, with UDP working again or still dead."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from udp_support import World

from tickcast.udp import ClientMode

EVENTS = st.one_of(
    st.just(("tick",)),
    st.just(("tick_now",)),  # no time passes: the push is the host's next call
    st.just(("input",)),
    st.tuples(st.just("other"), st.sampled_from([20, 400, 900, 1500])),
    st.tuples(
        st.just("c2s"), st.integers(0, 9), st.sampled_from(["deliver", "drop", "dup", "last"])
    ),
    st.tuples(
        st.just("s2c"), st.integers(0, 9), st.sampled_from(["deliver", "drop", "dup", "last"])
    ),
    st.tuples(st.just("stream_to_server"), st.integers(1, 4)),
    st.tuples(st.just("stream_to_client"), st.integers(1, 4)),
    st.tuples(st.just("wait"), st.sampled_from([0.001, 1 / 30, 0.15, 0.6, 2.5])),
    st.just(("rebind",)),
    st.tuples(st.just("stream_only"), st.booleans()),  # a catch-up starts or ends
    st.tuples(st.just("catch_up"), st.integers(0, 3)),  # all of one, then a tick at once
)


def run(world: World, events: list[tuple[Any, ...]]) -> None:
    for event in events:
        kind = event[0]
        if kind == "tick":
            world.advance(1 / 60)
            world.tick()
        elif kind == "tick_now":
            world.tick()
        elif kind == "input":
            world.send_input()
        elif kind == "other":
            world.other_input(event[1])
        elif kind in ("c2s", "s2c"):
            flight = world.c2s if kind == "c2s" else world.s2c
            if not flight:
                continue
            i = event[1] % len(flight)
            how = event[2]
            if how == "drop":
                flight.pop(i)
                continue
            if how == "last":  # the newest overtakes the rest
                i = len(flight) - 1
            deliver = world.deliver_c2s if kind == "c2s" else world.deliver_s2c
            deliver(i, keep=how == "dup")
        elif kind == "stream_to_server":
            world.stream_to_server(event[1])
        elif kind == "stream_to_client":
            world.stream_to_client(event[1])
        elif kind == "wait":
            world.advance(event[1])
        elif kind == "rebind":
            world.rebind()
        elif kind == "stream_only":  # the host's next call may be a push
            world.member.stream_only = event[1]
        elif kind == "catch_up":
            world.member.stream_only = True
            for _ in range(event[1]):
                world.tick()
            world.member.stream_only = False
            world.tick()


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(EVENTS, min_size=10, max_size=150),
    skip_empty=st.booleans(),
    udp_up=st.booleans(),
    history=st.integers(0, 7),
)
def test_any_datagram_weather_then_calm_keeps_the_promise(
    events: list[tuple[Any, ...]], skip_empty: bool, udp_up: bool, history: int
) -> None:
    world = World(skip_empty=skip_empty, history=history)
    if udp_up:  # start with the handshake done (else the events may do it, or not)
        world.handshake()
    run(world, events)
    world.member.stream_only = False
    world.settle(udp=True)
    world.check_promise()


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(EVENTS, min_size=10, max_size=150),
    skip_empty=st.booleans(),
    udp_up=st.booleans(),
)
def test_udp_dying_for_good_falls_back_to_the_stream_without_a_gap(
    events: list[tuple[Any, ...]], skip_empty: bool, udp_up: bool
) -> None:
    world = World(skip_empty=skip_empty)
    if udp_up:
        world.handshake()
    run(world, events)
    world.settle(udp=False)
    world.check_promise()
    world.advance(world.member.settings.silence)
    world.c2s.clear()
    world.s2c.clear()
    assert world.member.on_udp is False  # the server noticed the silence
    assert world.udp.mode is not ClientMode.ACTIVE  # and so did the client
    for _ in range(5):  # play goes on over the stream alone
        world.send_input()
        world.tick()
    world.settle(udp=False)
    world.check_promise()


@settings(max_examples=100, deadline=None)
@given(
    loss=st.lists(st.booleans(), min_size=1, max_size=200),
    inputs=st.lists(st.booleans(), min_size=30, max_size=200),
)
def test_steady_play_with_single_losses_needs_no_stream(
    loss: list[bool], inputs: list[bool]
) -> None:
    """A tick per 1/30 s and an input now and then; each datagram is lost or not
    as `loss` says (cycled), but never two in a row in one direction: redundancy
    alone repairs every loss, and the stream carries nothing."""
    world = World()
    world.deliver_all()  # the probe, the challenge, the response
    fate = itertools.cycle(loss)
    lost_last = {"c2s": False, "s2c": False}

    def lose(direction: str) -> bool:
        lost = next(fate) and not lost_last[direction]
        lost_last[direction] = lost
        return lost

    for send in inputs:
        if send:
            world.send_input()
        world.advance(1 / 30)
        world.tick()
        while world.c2s or world.s2c:  # acks and answers go out at once
            if world.c2s:
                if lose("c2s"):
                    world.c2s.pop(0)
                else:
                    world.deliver_c2s(0)
            if world.s2c:
                if lose("s2c"):
                    world.s2c.pop(0)
                else:
                    world.deliver_s2c(0)
    world.settle()
    world.check_promise()
    assert world.member.ticks_to_stream == 0
    assert world.udp.ticks_by_stream == 0
    assert world.udp.inputs_by_stream == 0
    assert world.udp.ticks_by_udp == len(world.delivered)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.sampled_from(["input", "tick", "udp_off", "udp_on", "other"]), max_size=80),
    history=st.integers(0, 7),
)
# a frame by the stream, a skipped tick, then UDP again: the skipped number must
# come with UDP's first datagram (it once waited for the timeout)
@example(steps=["udp_off", "input", "tick", "tick", "udp_on", "input", "tick"], history=0)
def test_handing_over_between_the_paths_never_waits_for_a_timer(
    steps: list[str], history: int
) -> None:
    """No loss, every datagram and stream frame delivered at once, small ticks,
    empty ticks skipped: whenever the server moves between UDP and the stream,
    the client has every tick at once (a skipped number is never left for a
    timeout to explain), also after a catch-up at the join."""
    world = World(skip_empty=True, history=history)
    world.deliver_all()
    for step in steps:
        if step == "input":
            world.send_input()
        elif step == "tick":
            world.tick()
        elif step == "udp_off":
            world.member.stream_only = True
        elif step == "udp_on":
            world.member.stream_only = False
        else:
            world.other_input(30)
        world.deliver_all()
        last_frame = max((n for n, f in world.room.frames.items() if f is not None), default=0)
        assert world.delivered_through() == last_frame
    world.settle()
    world.check_promise()
