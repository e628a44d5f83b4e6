"""The server side of the UDP core on a fake clock: the window and its
acknowledgements, the fallback to the stream, address validation,
anti-amplification, NAT rebinding, and the refusal of anything unauthentic.

The client here is hand-made datagrams (`Peer`), so every rule of the server
is checked without the SDK's client core."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from udp_support import counter_bytes

from tickcast import wire
from tickcast.client import input_frame
from tickcast.udp import Refusal, UdpEndpoint, UdpMember, UdpServerSettings
from tickcast.udp import datagram as dg

A = ("198.51.100.7", 40000)
B = ("198.51.100.7", 40001)  # the same client after a NAT rebinding
EVE = ("203.0.113.66", 666)
INTERVAL = 1 / 30


def frame(number: int, size: int = 0) -> bytes:
    inputs = wire.encode_relayed_input(2, number, bytes(size)) if size else b""
    return wire.encode_tick_frame(wire.encode_tick_content(number, inputs))


def decode(data: bytes) -> dg.ServerBody:
    return dg.decode_server_body(dg.body_of(data))


class Peer:
    """Hand-made client datagrams for one member's session."""

    def __init__(self, member: UdpMember) -> None:
        self.member = member
        self.seq = 0
        self.challenge: bytes | None = None

    def datagram(
        self,
        received: int = 0,
        *,
        active: bool = True,
        ping: int | None = None,
        inputs: tuple[tuple[int, bytes], ...] = (),
        respond: bool = True,
        seq: int | None = None,
    ) -> bytes:
        if seq is None:
            self.seq += 1
            seq = self.seq
        fields = dg.client_fields(
            received,
            active=active,
            response=self.challenge if respond else None,
            ping=ping,
        )
        parts = [fields] + [input_frame(s, p) for s, p in inputs]
        return dg.seal(dg.CLIENT_KIND, self.member.session_id, seq, self.member.key, parts)

    def send(self, now: float, addr: object = A, **kw: object) -> list[tuple[int, bytes]] | None:
        return self.member.datagram_received(self.datagram(**kw), addr, now)  # type: ignore[arg-type]

    def take(self, now: float) -> list[tuple[dg.ServerBody, object]]:
        """The member's datagrams now, decoded (and the challenge remembered)."""
        out = []
        for data, addr in self.member.datagrams_to_send(now):
            assert len(data) <= dg.MAX_DATAGRAM
            body = decode(data)
            if body.challenge is not None:
                self.challenge = body.challenge
            out.append((body, addr))
        return out


def active_member(**settings_: object) -> tuple[UdpMember, Peer]:
    """A member whose client proved its address and asked for ticks by UDP."""
    endpoint = UdpEndpoint(UdpServerSettings(**settings_), random_bytes=counter_bytes())  # type: ignore[arg-type]
    m = endpoint.open(first_tick=1, tick_interval=INTERVAL)
    peer = Peer(m)
    peer.send(0.0, active=False, ping=1)
    peer.take(0.0)  # the challenge
    peer.send(0.0)
    assert m.validated and m.on_udp
    assert peer.take(0.0) == []  # nothing to say yet
    return m, peer


# ---------------------------------------------------------------- no answer to strangers


def test_nothing_unauthentic_is_ever_answered_and_each_refusal_is_counted() -> None:
    endpoint = UdpEndpoint(random_bytes=counter_bytes())
    m = endpoint.open(first_tick=1, tick_interval=INTERVAL)
    peer = Peer(m)
    good = peer.datagram(active=False, ping=1)
    forged = good[:-1] + bytes([good[-1] ^ 0x80])
    other_key = dg.seal(
        dg.CLIENT_KIND, m.session_id, 1, bytes(32), [dg.client_fields(0, active=True)]
    )
    unknown = dg.seal(dg.CLIENT_KIND, b"\x00" * 8, 1, m.key, [dg.client_fields(0, active=True)])
    for data in (forged, other_key, unknown, good[:20], good + bytes(1200), b"\x12" + good[1:]):
        assert endpoint.datagram_received(data, EVE, 0.0) is None
    assert m.address is None and m.datagrams_to_send(0.0) == []
    assert endpoint.refused == Counter(
        {
            Refusal.BAD_MAC: 2,
            Refusal.UNKNOWN_SESSION: 1,
            Refusal.TRUNCATED: 1,
            Refusal.OVERSIZED: 1,
            Refusal.BAD_KIND: 1,
        }
    )
    # the genuine one is taken; the same bytes again are a replay, also from elsewhere
    assert endpoint.datagram_received(good, A, 0.0) is not None
    assert endpoint.datagram_received(good, EVE, 0.0) is None
    assert endpoint.refused[Refusal.REPLAY] == 1
    assert m.address == A
    assert [addr for _, addr in peer.take(0.0)] == [A]


def test_a_malformed_but_authentic_datagram_changes_nothing() -> None:
    m, peer = active_member()
    bad = dg.seal(dg.CLIENT_KIND, m.session_id, 50, m.key, [b"\x04\x00", wire.frame(b"\xff")])
    assert m.datagram_received(bad, B, 1.0) is None
    assert m.refused[Refusal.MALFORMED] == 1
    assert m.address == A and m.last_valid == 0.0


def test_a_closed_session_refuses_and_sends_nothing() -> None:
    endpoint = UdpEndpoint(random_bytes=counter_bytes())
    m = endpoint.open(first_tick=1, tick_interval=INTERVAL)
    peer = Peer(m)
    endpoint.close(m)
    assert endpoint.datagram_received(peer.datagram(ping=1), A, 0.0) is None
    assert endpoint.refused[Refusal.UNKNOWN_SESSION] == 1
    m.push(1, frame(1), 0.0)
    assert m.datagrams_to_send(0.0) == [] and m.stream_frames() == []


# ---------------------------------------------------------------- validation, amplification


def test_the_first_address_gets_a_challenge_within_three_times_what_it_sent() -> None:
    endpoint = UdpEndpoint(random_bytes=counter_bytes())
    m = endpoint.open(first_tick=1, tick_interval=INTERVAL)
    peer = Peer(m)
    probe = peer.datagram(active=False, ping=7)
    m.datagram_received(probe, A, 0.0)
    ((data, addr),) = m.datagrams_to_send(0.0)
    body = decode(data)
    assert addr == A and body.challenge is not None and body.pong == 7 and body.span == 0
    assert len(data) <= 3 * len(probe)
    assert not m.validated
    peer.challenge = body.challenge
    peer.send(0.0, respond=False)  # active, but no echo yet: still limited
    assert not m.validated
    peer.send(0.0)  # the echo
    assert m.validated


def test_a_wrong_echo_does_not_validate() -> None:
    endpoint = UdpEndpoint(random_bytes=counter_bytes())
    m = endpoint.open(first_tick=1, tick_interval=INTERVAL)
    peer = Peer(m)
    peer.send(0.0, ping=1)
    peer.take(0.0)
    peer.challenge = b"guessed!"
    peer.send(0.0)
    assert not m.validated


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["tick", "ping", "plain"]), st.integers(0, 900)), max_size=80
    )
)
def test_an_unvalidated_address_never_gets_more_than_three_times_its_bytes(
    steps: list[tuple[str, int]],
) -> None:
    """Whatever the (active, never echoing) client sends and however big the
    ticks, the bytes sent to its address stay within 3x the bytes from it."""
    endpoint = UdpEndpoint(random_bytes=counter_bytes())
    m = endpoint.open(first_tick=1, tick_interval=INTERVAL)
    peer = Peer(m)
    received = sent = 0
    number = 0
    now = 0.0
    for kind, size in steps:
        now += 0.01
        if kind == "tick":
            number += 1
            m.push(number, frame(number, size), now)
        else:
            data = peer.datagram(received=0, ping=1 if kind == "ping" else None, respond=False)
            assert m.datagram_received(data, A, now) is not None
            received += len(data)
        for data, addr in m.datagrams_to_send(now):
            assert addr == A
            sent += len(data)
        assert sent <= 3 * received
        m.handle_timer(now)
        m.stream_frames()
    assert not m.validated


# ---------------------------------------------------------------- the window


def test_ticks_go_by_udp_only_once_the_client_says_it_receives_them() -> None:
    endpoint = UdpEndpoint(random_bytes=counter_bytes())
    m = endpoint.open(first_tick=1, tick_interval=INTERVAL)
    peer = Peer(m)
    peer.send(0.0, active=False, ping=1)
    peer.take(0.0)
    peer.send(0.0, active=False)  # echoed, but not active: a probe
    assert m.validated and not m.on_udp
    f1 = frame(1)
    m.push(1, f1, 0.0)
    assert m.stream_frames() == [f1] and peer.take(0.0) == []
    peer.send(0.0, received=1)
    assert m.on_udp
    f2 = frame(2)
    m.push(2, f2, 0.01)
    ((body, _),) = peer.take(0.01)
    assert (body.newest, body.span, [wire.frame(f) for _, f in body.frames]) == (2, 1, [f2])
    assert m.stream_frames() == []


def test_every_datagram_carries_the_unacknowledged_ticks_newest_first_as_the_same_bytes() -> None:
    m, peer = active_member()
    frames = {n: frame(n, 10) for n in range(1, 6)}
    for n, f in frames.items():
        m.push(n, f, n * INTERVAL)
    assert all(e.frame is frames[e.number] for e in m._window)  # the room's own objects
    ((body, _),) = peer.take(0.2)
    assert [n for n, _ in body.frames] == [5, 4, 3, 2, 1]
    assert (body.first, body.newest) == (1, 5)
    assert [wire.frame(f) for _, f in body.frames] == [frames[n] for n in (5, 4, 3, 2, 1)]
    peer.send(0.2, received=3)
    assert (m.acked, m.lo, m.behind, m.unacknowledged) == (3, 4, 2, 2)
    m.push(6, frame(6), 0.21)
    ((body, _),) = peer.take(0.21)
    assert [n for n, _ in body.frames] == [6, 5, 4] and body.first == 4


def test_a_datagram_holds_as_many_whole_ticks_as_fit_and_covers_exactly_them() -> None:
    m, peer = active_member()
    for n in range(1, 5):
        m.push(n, frame(n, 400), 0.0)  # ~410 bytes each: two fit
    ((body, _),) = peer.take(0.0)
    assert [n for n, _ in body.frames] == [4, 3]
    assert (body.first, body.newest) == (3, 4)  # 1 and 2 are not claimed
    assert m.stream_frames() == []  # they wait for an ack or their timeout


def test_skipped_ticks_are_covered_without_bytes() -> None:
    m, peer = active_member()
    m.push(1, None, 0.0)
    m.push(2, None, 0.0)
    assert peer.take(0.0) == []  # nothing worth a datagram
    m.push(3, frame(3, 5), 0.0)
    m.push(4, None, 0.0)
    ((body, _),) = peer.take(0.0)
    assert (body.first, body.newest, [n for n, _ in body.frames]) == (1, 4, [3])
    m.push(5, frame(5, 2000), 0.0)  # too large: the stream, with every older tick
    m.push(6, frame(6), 0.0)
    stream = m.stream_frames()
    assert [dg.tick_number(f[wire.prefix_length(f) :]) for f in stream] == [3, 5]
    ((body, _),) = peer.take(0.0)
    assert (body.first, body.newest, [n for n, _ in body.frames]) == (6, 6, [6])


def test_a_full_window_sends_its_oldest_ticks_to_the_stream() -> None:
    m, _ = active_member(max_window=4)
    for n in range(1, 8):
        m.push(n, frame(n), 0.0)
    got = [dg.tick_number(f[wire.prefix_length(f) :]) for f in m.stream_frames()]
    assert got == [1, 2, 3] and m.lo == 4 and m.behind == 4


def test_an_unacknowledged_tick_goes_to_the_stream_after_the_timeout_with_all_older_ones() -> None:
    m, peer = active_member()
    assert m.rto == pytest.approx(0.25 + 2 * INTERVAL)  # before any round-trip sample
    for n in (1, 2, 3):
        m.push(n, frame(n), n * 0.01)
        peer.take(n * 0.01)
    assert m.get_timer() == pytest.approx(0.01 + m.rto)
    m.handle_timer(0.01 + m.rto - 0.001)
    assert m.stream_frames() == []
    m.handle_timer(0.02 + m.rto)
    got = [dg.tick_number(f[wire.prefix_length(f) :]) for f in m.stream_frames()]
    assert got == [1, 2] and m.lo == 3 and m.on_udp
    peer.send(0.5, received=3)
    assert m.behind == 0 and m.ticks_to_stream == 2


def test_the_timeout_follows_the_measured_round_trip() -> None:
    m, peer = active_member()
    now = 0.0
    for n in range(1, 40):
        m.push(n, frame(n), now)
        peer.take(now)
        now += 0.02  # the acknowledgement comes 20 ms later
        peer.send(now, received=n)
        now += INTERVAL - 0.02
    assert m.srtt == pytest.approx(0.02, abs=1e-3)
    assert m.rto == pytest.approx(0.05 + 2 * INTERVAL, abs=2e-3)  # min_rto is the floor
    assert m.ticks_to_stream == 0


def test_silence_falls_back_with_no_gap_and_udp_may_come_back() -> None:
    m, peer = active_member()
    m.push(1, frame(1), 0.1)
    m.push(2, frame(2), 0.2)
    peer.take(0.2)
    assert m.get_timer() == pytest.approx(0.1 + m.rto)
    m.handle_timer(2.0)  # nothing heard since t=0: silence is 2 s
    assert not m.on_udp and m.fallbacks == 1
    m.push(3, frame(3), 2.1)
    got = [dg.tick_number(f[wire.prefix_length(f) :]) for f in m.stream_frames()]
    assert got == [1, 2, 3] and m.get_timer() is None
    peer.send(3.0, received=1, ping=5)  # UDP works again
    assert m.on_udp and m.returns == 1
    ((body, _),) = peer.take(3.0)
    assert body.pong == 5 and body.frames == ()  # 1..3 went by the stream
    m.push(4, frame(4), 3.1)
    ((body, _),) = peer.take(3.1)
    assert (body.first, body.newest, [n for n, _ in body.frames]) == (4, 4, [4])


def test_a_client_that_says_it_fell_back_gets_everything_by_the_stream_at_once() -> None:
    m, peer = active_member()
    m.push(1, frame(1), 0.0)
    m.push(2, frame(2), 0.0)
    peer.send(0.1, active=False, ping=9)
    assert not m.on_udp and len(m.stream_frames()) == 2
    ((body, _),) = peer.take(0.1)
    assert body.pong == 9 and body.span == 0  # a probe gets its pong, no ticks


def test_an_old_datagram_does_not_change_the_clients_mode() -> None:
    m, peer = active_member()
    late = peer.datagram(active=False)  # sent before...
    peer.send(0.1, received=0)  # ...this one, which arrives first
    m.datagram_received(late, A, 0.1)
    assert m.client_active and m.on_udp


def test_stream_only_while_a_catch_up_runs() -> None:
    m, peer = active_member()
    m.push(1, frame(1), 0.0)
    m.stream_only = True
    assert not m.on_udp and len(m.stream_frames()) == 1
    m.push(2, frame(2), 0.0)
    assert len(m.stream_frames()) == 1
    m.stream_only = False
    m.push(3, frame(3), 0.0)
    ((body, _),) = peer.take(0.0)
    assert (body.first, [n for n, _ in body.frames]) == (3, [3])


# ---------------------------------------------------------------- inputs


def test_inputs_come_out_once_and_in_order() -> None:
    endpoint = UdpEndpoint(random_bytes=counter_bytes())
    m = endpoint.open(first_tick=1, tick_interval=INTERVAL, last_seq=3)  # Welcome.last_seq
    peer = Peer(m)
    assert peer.send(0.0, inputs=((3, b"old"), (4, b"a"))) == [(4, b"a")]
    assert peer.send(0.0, inputs=((4, b"a"), (5, b"b"), (6, b"c"))) == [(5, b"b"), (6, b"c")]
    late = peer.datagram(inputs=((4, b"a"),), seq=1)
    assert m.datagram_received(late, A, 0.0) is None  # seq 1 was used: a replay
    assert peer.send(0.0, inputs=((6, b"c"),)) == []
    assert m.last_seq == 6 and m.inputs_in == 3


# ---------------------------------------------------------------- rebinding


def test_nat_rebinding_moves_the_session_limited_until_the_new_address_echoes() -> None:
    m, peer = active_member()
    for n in range(1, 4):
        m.push(n, frame(n, 300), 0.0)
    peer.take(0.0)
    small = peer.datagram(received=0)
    assert m.datagram_received(small, B, 0.1) is not None  # the newest, from a new port
    assert m.address == B and not m.validated and m.migrations == 1
    ((data, addr),) = m.datagrams_to_send(0.1)
    assert addr == B and len(data) <= 3 * len(small)
    body = decode(data)
    assert body.challenge is not None  # only what 3x allows: no 300-byte tick fits
    assert body.frames == ()
    peer.challenge = body.challenge
    peer.send(0.1, addr=B, received=0)
    assert m.validated
    ((body, addr),) = peer.take(0.1)
    assert addr == B and [n for n, _ in body.frames] == [3, 2, 1]


def test_a_late_datagram_from_the_old_address_does_not_move_it_back() -> None:
    m, peer = active_member()
    late = peer.datagram()
    peer.send(0.1, addr=B)
    assert m.address == B
    assert m.datagram_received(late, A, 0.1) is not None  # authentic, so its content counts
    assert m.address == B


def test_moving_back_to_a_validated_address_is_not_limited() -> None:
    m, peer = active_member()
    peer.send(0.1, addr=B)
    peer.take(0.1)
    peer.send(0.1, addr=B)  # echo: B validated too
    assert m.validated
    peer.send(0.2, addr=A)
    assert m.address == A and m.validated and m.migrations == 2


def test_a_captured_datagram_sent_from_elsewhere_moves_nothing() -> None:
    """An attacker on the path replays a client's datagram from its own address."""
    m, peer = active_member()
    data = peer.datagram()
    assert m.datagram_received(data, A, 0.1) is not None
    assert m.datagram_received(data, EVE, 0.1) is None
    assert m.address == A


# ---------------------------------------------------------------- the endpoint


def test_the_endpoint_routes_by_session_id_and_sweeps_timers() -> None:
    endpoint = UdpEndpoint(random_bytes=counter_bytes())
    m1 = endpoint.open(first_tick=1, tick_interval=INTERVAL)
    m2 = endpoint.open(first_tick=7, tick_interval=INTERVAL)
    assert m1.session_id != m2.session_id and m1.key != m2.key
    got = endpoint.datagram_received(Peer(m2).datagram(inputs=((1, b"x"),)), A, 0.0)
    assert got is not None and got.member is m2 and got.inputs == [(1, b"x")]
    offer = m2.offer(7777, "udp.example.net")
    assert (offer.version, offer.port, offer.host) == (1, 7777, "udp.example.net")
    assert (offer.session_id, offer.key) == (m2.session_id, m2.key)
    assert endpoint.handle_timer(10.0) == [m2]  # on UDP, then silent
    assert not m2.on_udp


def test_pushing_out_of_order_is_a_host_bug() -> None:
    m, _ = active_member()
    m.push(1, frame(1), 0.0)
    with pytest.raises(ValueError):
        m.push(1, frame(1), 0.0)


def test_a_session_that_used_every_sequence_number_falls_back() -> None:
    m, peer = active_member()
    m._seq = dg.MAX_SEQ - 1
    m.push(1, frame(1), 0.0)
    assert len(peer.take(0.0)) == 1  # the last number
    m.push(2, frame(2), 0.0)
    assert not m.on_udp and len(m.stream_frames()) == 2  # tick 1 unacked, and 2
    assert peer.take(0.0) == []


def test_skipped_ticks_after_the_streams_last_frame_are_covered_when_udp_comes_back() -> None:
    m, peer = active_member()
    m.stream_only = True  # as a fallback would
    m.push(1, frame(1), 0.0)  # by the stream
    m.push(2, None, 0.0)  # skipped: the stream cannot tell the client
    m.push(3, None, 0.0)
    assert len(m.stream_frames()) == 1 and m.lo == 2
    m.stream_only = False
    m.push(4, frame(4), 0.0)
    ((body, _),) = peer.take(0.0)
    assert (body.first, body.newest, [n for n, _ in body.frames]) == (2, 4, [4])


def test_a_catch_up_hands_over_to_udp_after_its_last_frame() -> None:
    """A resume: the outbox sends ticks 1..5 from the room's history (5 was skipped,
    the last frame is 4) while live ticks 6, 7 arrive; then UDP takes over."""
    endpoint = UdpEndpoint(random_bytes=counter_bytes())
    m = endpoint.open(first_tick=1, tick_interval=INTERVAL)  # Welcome.first_tick
    m.stream_only = True  # from the Welcome, while the outbox catches up
    peer = Peer(m)
    peer.send(0.0, ping=1)
    peer.take(0.0)
    peer.send(0.0)
    assert m.validated and not m.on_udp
    m.push(6, frame(6), 0.0)  # live, during the catch-up: the stream's, in order
    m.push(7, None, 0.0)
    assert len(m.stream_frames()) == 1
    m.stream_carried(4)  # the history's last frame was older than the live ones: no change
    assert m.lo == 7
    m.stream_only = False
    m.push(8, frame(8), 0.0)
    ((body, _),) = peer.take(0.0)
    assert (body.first, body.newest, [n for n, _ in body.frames]) == (7, 8, [8])
    # a catch-up that ends before any live tick: its last frame says where UDP starts
    m2 = endpoint.open(first_tick=1, tick_interval=INTERVAL)
    m2.stream_only = True
    peer2 = Peer(m2)
    peer2.send(0.0, ping=1)
    peer2.take(0.0)
    peer2.send(0.0)
    m2.stream_carried(4)
    m2.stream_only = False
    m2.push(5, None, 0.0)
    m2.push(6, frame(6), 0.0)
    ((body, _),) = peer2.take(0.0)
    assert (body.first, body.newest, [n for n, _ in body.frames]) == (5, 6, [6])
