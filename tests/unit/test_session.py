"""Unit tests of the session state machine: the spec's Handshake, Identity (no
tokens yet), Spectators, Ping and Leave rules, driven with bytes and a fake clock."""

from __future__ import annotations

import pytest
from support import client_frame, hello_frame, input_frame

from tickcast import wire
from tickcast.proto import pb
from tickcast.session import SessionState
from tickcast.testing import MemorySink

from .harness import Harness


@pytest.fixture
def h() -> Harness:
    return Harness()


# ---------------------------------------------------------------- handshake


@pytest.mark.parametrize(
    "first",
    [
        client_frame(input=pb.Input(seq=1, payload=b"x")),
        client_frame(ping=pb.Ping(nonce=1)),
        client_frame(leave=pb.Leave()),
        client_frame(ack=pb.Ack(tick=1)),
        b"\x00",  # an empty ClientMessage
    ],
    ids=["input", "ping", "leave", "ack", "empty"],
)
def test_first_frame_not_hello_is_a_protocol_error(h: Harness, first: bytes) -> None:
    c = h.connect()
    c.send_bytes(first)
    assert c.kick().reason == pb.REASON_PROTOCOL_ERROR
    assert c.session.state is SessionState.CLOSED
    assert h.relay.rooms == {} and h.relay.sessions == set()


@pytest.mark.parametrize(
    "garbage",
    [
        wire.frame(b"\xff\xff\xff\xff"),  # not a protobuf message
        wire.frame(b"\x0a\x05ab"),  # Hello whose length runs past the frame: truncated
        wire.frame(b"\x0a\x02\x10"),  # Hello containing a truncated varint field
    ],
    ids=["noise", "truncated-field", "truncated-varint"],
)
def test_garbage_bytes_are_a_protocol_error(h: Harness, garbage: bytes) -> None:
    c = h.connect()
    c.send_bytes(garbage)
    assert c.kick().reason == pb.REASON_PROTOCOL_ERROR
    assert h.relay.rooms == {}


def test_varint_prefix_over_five_bytes_is_a_protocol_error(h: Harness) -> None:
    c = h.connect()
    for _ in range(6):
        c.send_bytes(b"\xff")
    assert c.kick().reason == pb.REASON_PROTOCOL_ERROR


def test_frame_over_max_frame_is_refused_before_its_body(h: Harness) -> None:
    c = h.connect()
    c.send_bytes(wire.encode_varint(h.config.max_frame + 1))
    assert c.kick().reason == pb.REASON_FRAME_TOO_LARGE
    assert c.session.framer.buffered == 0


@pytest.mark.parametrize("version", [0, 2, 2**32 - 1])
def test_protocol_version_mismatch(h: Harness, version: int) -> None:
    kick = h.refused("p", protocol_version=version)
    assert kick.reason == pb.REASON_VERSION_MISMATCH
    assert h.relay.rooms == {}


def test_handshake_timeout_with_the_fake_clock(h: Harness) -> None:
    c = h.connect()
    start = h.clock.now()
    c.session.handle_timer(start + h.config.handshake_timeout - 0.001)
    assert c.messages() == [] and not c.sink.closed
    c.session.handle_timer(start + h.config.handshake_timeout)
    assert c.kick().reason == pb.REASON_HANDSHAKE_TIMEOUT
    assert h.relay.sessions == set()


def test_handshake_timeout_through_the_relay_sweep(h: Harness) -> None:
    c = h.connect()
    late = h.connect()
    joined, _ = h.join("p")
    h.clock.advance(h.config.handshake_timeout)
    h.relay.sweep(h.clock.now())
    assert c.kick().reason == pb.REASON_HANDSHAKE_TIMEOUT
    assert late.kick().reason == pb.REASON_HANDSHAKE_TIMEOUT
    assert not joined.sink.closed  # a joined session is not subject to the handshake timeout


def test_partial_hello_does_not_stop_the_handshake_timeout(h: Harness) -> None:
    c = h.connect()
    c.send_bytes(hello_frame("p")[:3])
    h.clock.advance(h.config.handshake_timeout)
    h.relay.sweep(h.clock.now())
    assert c.kick().reason == pb.REASON_HANDSHAKE_TIMEOUT


def test_valid_hello_gets_welcome_first(h: Harness) -> None:
    c = h.connect()
    c.hello("alice", "arena")
    (msg,) = c.messages()
    w = msg.welcome
    assert (w.room, w.slot, w.tick_rate, w.first_tick, w.last_seq) == ("arena", 1, 10, 1, 0)
    assert w.server_id == "test"
    assert c.session.state is SessionState.JOINED


def test_hello_with_empty_room_joins_the_lobby(h: Harness) -> None:
    _, welcome = h.join("p", room="")
    assert welcome.room == "lobby"
    assert set(h.relay.rooms) == {"lobby"}


def test_hello_and_inputs_pipelined_in_one_read(h: Harness) -> None:
    c = h.connect()
    c.send_bytes(hello_frame("p") + input_frame(1, b"a") + input_frame(2, b"b"))
    h.tick()
    msgs = c.take()
    assert msgs[0].HasField("welcome")
    assert [(i.seq, i.payload) for i in msgs[1].tick.inputs] == [(1, b"a"), (2, b"b")]


# ---------------------------------------------------------------- identity


@pytest.mark.parametrize(
    "player_id", ["", "x" * 65, "é" * 33], ids=["empty", "65-ascii", "66-utf8"]
)
def test_player_id_must_be_1_to_64_bytes(h: Harness, player_id: str) -> None:
    assert h.refused(player_id).reason == pb.REASON_PROTOCOL_ERROR
    assert h.relay.rooms == {}


@pytest.mark.parametrize("player_id", ["x", "x" * 64, "é" * 32, "🎮" * 16])
def test_player_id_of_1_to_64_bytes_is_accepted(h: Harness, player_id: str) -> None:
    _, welcome = h.join(player_id)
    assert welcome.slot == 1


def test_room_name_over_64_bytes_is_refused(h: Harness) -> None:
    assert h.refused("p", room="r" * 65).reason == pb.REASON_PROTOCOL_ERROR


def test_hello_after_the_handshake_is_a_protocol_error(h: Harness) -> None:
    c, _ = h.join("p")
    c.hello("p")
    assert c.kick().reason == pb.REASON_PROTOCOL_ERROR


def test_empty_message_after_the_handshake_is_a_protocol_error(h: Harness) -> None:
    c, _ = h.join("p")
    c.send_bytes(b"\x00")
    assert c.kick().reason == pb.REASON_PROTOCOL_ERROR


# ---------------------------------------------------------------- spectators


def test_spectator_gets_slot_zero_and_the_same_ticks(h: Harness) -> None:
    p, _ = h.join("p")
    h.tick()
    s, welcome = h.join("watcher", spectator=True)
    assert welcome.slot == 0
    p.input(1, b"go")
    h.tick(2)
    player_bodies = p.tick_bodies()
    watcher_bodies = s.tick_bodies()
    assert watcher_bodies == {n: player_bodies[n] for n in (2, 3)}


def test_spectator_appears_in_no_presence_list(h: Harness) -> None:
    p, _ = h.join("p")
    h.join("watcher", spectator=True)
    h.tick(2)
    joined = [m.player_id for t in p.ticks() for m in t.joined]
    assert joined == ["p"]
    late, welcome = h.join("late")
    assert [m.player_id for m in welcome.members] == ["p"]


def test_spectator_input_is_a_protocol_error(h: Harness) -> None:
    h.join("p")
    s, _ = h.join("watcher", spectator=True)
    s.input(1, b"cheat")
    assert s.kick().reason == pb.REASON_PROTOCOL_ERROR
    h.tick()


class OrderedSink(MemorySink):
    """A sink that logs its name on every write into a list shared with others."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name = name
        self.log = log

    def write(self, data: bytes) -> None:
        self.log.append(self.name)
        super().write(data)


def test_spectator_is_served_after_players(h: Harness) -> None:
    order: list[str] = []
    h.join("watcher", spectator=True, sink=OrderedSink("spectator", order))
    h.join("p", sink=OrderedSink("player", order))
    order.clear()
    h.tick()
    assert order == ["player", "spectator"]


# ---------------------------------------------------------------- ping


def test_ping_gets_pong_with_nonce_and_last_tick(h: Harness) -> None:
    c, _ = h.join("p")
    c.send(ping=pb.Ping(nonce=2**64 - 1))
    (pong,) = c.take()
    assert (pong.pong.nonce, pong.pong.tick) == (2**64 - 1, 0)
    h.tick(3)
    c.take()
    c.send(ping=pb.Ping(nonce=7))
    (pong,) = c.take()
    assert (pong.pong.nonce, pong.pong.tick) == (7, 3)


# ---------------------------------------------------------------- leave


def test_leave_takes_effect_in_the_next_tick_and_closes_with_a_kick(h: Harness) -> None:
    a, _ = h.join("a")
    b, wb = h.join("b")
    h.tick()
    a.take()
    b.send(leave=pb.Leave())
    kick = b.kick()
    assert kick.reason == pb.REASON_UNSPECIFIED
    assert not b.sink.aborted
    h.tick()
    (t,) = a.ticks()
    assert list(t.left) == [wb.slot]
    assert b.kick() == kick  # still the last frame: nothing was sent after it


def test_inputs_before_leave_in_the_same_read_are_sequenced(h: Harness) -> None:
    a, _ = h.join("a")
    b, wb = h.join("b")
    h.tick()
    a.take()
    b.send_bytes(input_frame(1, b"bye") + client_frame(leave=pb.Leave()) + input_frame(2))
    h.tick()
    (t,) = a.ticks()
    assert [(i.slot, i.seq) for i in t.inputs] == [(wb.slot, 1)]
    assert list(t.left) == [wb.slot]


def test_last_member_leaving_ends_the_ticks(h: Harness) -> None:
    a, _ = h.join("a")
    h.tick(2)
    a.send(leave=pb.Leave())
    h.tick(3)
    assert [m.tick.number for m in a.messages() if m.HasField("tick")] == [1, 2]
    assert h.relay.rooms == {} and not h.relay.ticking


# ---------------------------------------------------------------- the final Kick


def test_kick_is_always_the_last_frame(h: Harness) -> None:
    c, _ = h.join("p")
    other, _ = h.join("q")
    h.tick()
    c.send_bytes(wire.frame(b"\xff\xff") + input_frame(1) + client_frame(ping=pb.Ping(nonce=1)))
    kick = c.kick()
    other.input(1)
    h.tick(3)
    c.send(ping=pb.Ping(nonce=2))
    c.session.handle_timer(h.clock.now() + 1000, idle_timeout=1)
    assert c.kick() == kick
    assert kick.reason == pb.REASON_PROTOCOL_ERROR


# ---------------------------------------------------------------- idle timeout


def test_idle_timeout() -> None:
    h = Harness(idle_timeout=10.0)
    c, _ = h.join("p")
    h.clock.advance(9.0)
    c.send(ack=pb.Ack(tick=0))  # any frame counts as activity
    h.clock.advance(9.0)
    h.relay.sweep(h.clock.now())
    assert not c.sink.closed
    h.clock.advance(1.0)
    h.relay.sweep(h.clock.now())
    assert c.kick().reason == pb.REASON_IDLE_TIMEOUT


def test_idle_timeout_zero_means_never() -> None:
    h = Harness(idle_timeout=0.0)
    c, _ = h.join("p")
    h.clock.advance(1e6)
    h.relay.sweep(h.clock.now())
    assert not c.sink.closed


def test_shutdown_kicks_every_session_even_in_handshake(h: Harness) -> None:
    waiting = h.connect()
    joined, _ = h.join("p")
    h.relay.shutdown()
    assert waiting.kick().reason == pb.REASON_SERVER_SHUTDOWN
    assert joined.kick().reason == pb.REASON_SERVER_SHUTDOWN
    assert h.refused("late").reason == pb.REASON_SERVER_SHUTDOWN


# ---------------------------------------------------------------- state hashes and acks


def test_state_hash_over_64_bytes_is_a_protocol_error(h: Harness) -> None:
    c, _ = h.join("p")
    h.tick()
    c.send(state_hash=pb.StateHash(tick=1, hash=b"h" * 64))
    assert not c.sink.closed
    c.send(state_hash=pb.StateHash(tick=1, hash=b"h" * 65))
    assert c.kick().reason == pb.REASON_PROTOCOL_ERROR


def test_ack_is_recorded_and_never_goes_back(h: Harness) -> None:
    c, _ = h.join("p")
    c.send(ack=pb.Ack(tick=5))
    c.send(ack=pb.Ack(tick=3))
    assert c.session.acked_tick == 5
    assert c.take() == []  # an Ack has no answer


# ---------------------------------------------------------------- whole messages (WebSocket)


def test_message_transport_handshake_and_ping(h: Harness) -> None:
    c = h.connect()
    hello = pb.ClientMessage(hello=pb.Hello(protocol_version=1, player_id="ws", room="r"))
    c.session.message_received(hello.SerializeToString(), h.clock.now())
    ping = pb.ClientMessage(ping=pb.Ping(nonce=9))
    c.session.message_received(ping.SerializeToString(), h.clock.now())
    welcome, pong = c.take()
    assert welcome.welcome.slot == 1 and pong.pong.nonce == 9


def test_message_transport_refuses_an_oversized_message(h: Harness) -> None:
    c = h.connect()
    c.session.message_received(b"\x00" * (h.config.max_frame + 1), h.clock.now())
    assert c.kick().reason == pb.REASON_FRAME_TOO_LARGE


def test_message_transport_refuses_garbage(h: Harness) -> None:
    c = h.connect()
    c.session.message_received(b"\xff\xff\xff", h.clock.now())
    assert c.kick().reason == pb.REASON_PROTOCOL_ERROR
