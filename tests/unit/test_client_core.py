"""The client's sans-I/O core: resume point, resends, gaps, duplicates, presence."""

from __future__ import annotations

import pytest

from tickcast import wire
from tickcast.client import ClientCore, Input, Member, input_frame
from tickcast.errors import TickGap
from tickcast.proto import pb


def tick_frame(
    number: int, inputs: list[tuple[int, int, bytes]] = (), **fields: object
) -> tuple[bytes, pb.Tick]:  # type: ignore[assignment]
    t = pb.Tick(
        number=number,
        inputs=[pb.RelayedInput(slot=s, seq=q, payload=p) for s, q, p in inputs],
        **fields,  # type: ignore[arg-type]
    )
    body = pb.ServerMessage(tick=t).SerializeToString()
    return body, t


def welcome(**fields: object) -> pb.Welcome:
    fields.setdefault("room", "r")
    fields.setdefault("tick_rate", 30)
    return pb.Welcome(**fields)  # type: ignore[arg-type]


def feed(core: ClientCore, number: int, inputs=(), **fields):  # type: ignore[no-untyped-def]
    return core.on_tick_frame(*tick_frame(number, list(inputs), **fields))


def parse_hello(frame: bytes) -> pb.Hello:
    (body,) = wire.Framer(1 << 20).feed(frame)
    return wire.decode_client_message(body).hello


def test_input_frame_equals_protobuf_encoding() -> None:
    for seq, payload in [(1, b""), (300, b"x" * 200), (2**32 - 1, b"\x00\xff")]:
        msg = pb.ClientMessage(input=pb.Input(seq=seq, payload=payload))
        assert input_frame(seq, payload) == wire.frame(msg.SerializeToString())


def test_first_hello_is_a_fresh_join_then_resumes_after_the_last_tick() -> None:
    core = ClientCore("ada", "r", "tok", full_history=True)
    hello = parse_hello(core.hello_frame())
    assert (hello.player_id, hello.room, hello.token, hello.resume_after) == ("ada", "r", "tok", 0)
    assert hello.full_history and hello.protocol_version == 1
    core.on_welcome(welcome(slot=1, first_tick=5))
    assert parse_hello(core.hello_frame()).resume_after == 4  # nothing received yet
    feed(core, 5)
    feed(core, 6)
    hello = parse_hello(core.hello_frame())
    assert hello.resume_after == 6 and not hello.full_history


def test_welcomed_at_tick_one_and_dropped_asks_for_full_history() -> None:
    core = ClientCore("ada")
    core.on_welcome(welcome(slot=1, first_tick=1))
    hello = parse_hello(core.hello_frame())
    assert hello.full_history and hello.resume_after == 0


def test_unconfirmed_inputs_are_resent_after_last_seq_and_confirmed_by_ticks() -> None:
    core = ClientCore("ada")
    core.on_welcome(welcome(slot=2, first_tick=1))
    assert [core.next_input(bytes([i]))[0] for i in range(1, 6)] == [1, 2, 3, 4, 5]
    feed(core, 1, [(2, 1, b"\x01")])
    assert [s for s, _ in core.unacked] == [2, 3, 4, 5]
    resend = core.on_welcome(welcome(slot=2, first_tick=2, last_seq=3))
    assert resend == [input_frame(4, b"\x04"), input_frame(5, b"\x05")]
    feed(core, 2, [(1, 9, b"other"), (2, 4, b"\x04"), (2, 5, b"\x05")])
    assert not core.unacked
    assert core.next_input(b"x")[0] == 6


def test_a_fresh_join_continues_above_the_servers_last_seq() -> None:
    core = ClientCore("ada")
    core.on_welcome(welcome(slot=1, first_tick=40, last_seq=17))
    assert core.next_input(b"x")[0] == 18


def test_duplicates_are_dropped_and_gaps_raise() -> None:
    core = ClientCore("ada")
    core.on_welcome(welcome(slot=1, first_tick=1))
    assert [t.number for t in feed(core, 1)] == [1]
    assert feed(core, 1) == []
    assert core.duplicate_ticks == 1
    with pytest.raises(TickGap) as info:
        feed(core, 3)
    assert (info.value.expected, info.value.got) == (2, 3)


def test_skipped_empty_ticks_are_delivered_as_empty_ticks() -> None:
    core = ClientCore("ada", skip_empty_ticks=True)
    core.on_welcome(welcome(slot=1, first_tick=1))
    ticks = feed(core, 4, [(1, 1, b"go")])
    assert [t.number for t in ticks] == [1, 2, 3, 4]
    assert all(t.empty for t in ticks[:3]) and not ticks[3].empty
    assert pb.Tick.FromString(ticks[0].raw).number == 1


def test_presence_names_inputs_and_left_members() -> None:
    core = ClientCore("bob")
    core.on_welcome(welcome(slot=2, first_tick=8, members=[pb.Member(slot=1, player_id="ada")]))
    (t,) = feed(
        core,
        8,
        [(1, 1, b"a"), (2, 1, b"b")],
        joined=[pb.Member(slot=2, player_id="bob")],
        left=[1],
        desyncs=[pb.Desync(tick=3, slots=[1])],
    )
    assert t.joined == (Member(2, "bob"),)
    assert t.inputs == (Input(1, 1, b"a", "ada"), Input(2, 1, b"b", "bob"))
    assert t.left == (Member(1, "ada"),)
    assert t.desyncs[0].tick == 3 and t.desyncs[0].slots == (1,)
    assert pb.Tick.FromString(t.raw).number == 8


def test_fast_constructors_set_every_field_like_the_dataclass_ones() -> None:
    """The hot path skips the dataclass __init__: a field added later must be set there too."""
    import dataclasses

    from tickcast import client

    i = client._new_input(2, 7, b"p", "bob")
    assert i == Input(2, 7, b"p", "bob") and hash(i) == hash(Input(2, 7, b"p", "bob"))
    values = [5, (i,), (Member(2, "bob"),), (Member(1, "ada"),), (), b"c" * 32, b"raw"]
    t = client._new_tick(*values)  # type: ignore[arg-type]
    assert t == client.Tick(*values)  # type: ignore[arg-type]
    for cls, obj in ((Input, i), (client.Tick, t)):
        for f in dataclasses.fields(cls):
            getattr(obj, f.name)  # AttributeError if the fast constructor skipped it
    assert [getattr(t, f.name) for f in dataclasses.fields(client.Tick)] == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.number = 6  # type: ignore[misc]


RETRIED = {"SLOW_CONSUMER", "SERVER_SHUTDOWN", "IDLE_TIMEOUT", "HANDSHAKE_TIMEOUT", "RATE_LIMITED"}
"""The kicks docs/client.md says the client resumes after (REDIRECT is followed)."""


@pytest.mark.parametrize("reason", [r for r in pb.Reason.values() if r], ids=pb.Reason.Name)
def test_each_kick_is_a_typed_exception_retried_only_when_resuming_makes_sense(
    reason: int,
) -> None:
    from tickcast.client import _terminal, kick_error
    from tickcast.errors import AuthFailed, Kicked, ResumeUnavailable

    exc = kick_error(pb.Kick(reason=reason, detail="why"))
    name = pb.Reason.Name(reason).removeprefix("REASON_")
    assert isinstance(exc, Kicked) and exc.reason == reason and exc.detail == "why"
    assert isinstance(exc, AuthFailed) == (name == "AUTH_FAILED")
    assert isinstance(exc, ResumeUnavailable) == (name == "RESUME_UNAVAILABLE")
    assert _terminal(exc) == (name not in RETRIED | {"REDIRECT"})
