"""The client side of the UDP core on a fake clock: modes and their timers, the
two paths of inputs, acknowledgements, the tick merger, and refusals.

The server here is hand-made datagrams (`Server`), so the client's rules are
checked without the server's state machine."""

from __future__ import annotations

import pytest

from tickcast import wire
from tickcast.client import ClientCore, input_frame
from tickcast.proto import pb
from tickcast.udp import ClientMode, Refusal, TickMerger, UdpClientCore, UdpClientSettings
from tickcast.udp import datagram as dg

SID = b"sess-id!"
KEY = bytes(range(32))
SLOT = 3


def frame(number: int, *inputs: tuple[int, int, bytes]) -> bytes:
    body = b"".join(wire.encode_relayed_input(s, q, p) for s, q, p in inputs)
    return wire.encode_tick_frame(wire.encode_tick_content(number, body))


def body_of_frame(f: bytes) -> bytes:
    return f[wire.prefix_length(f) :]


class Server:
    """Hand-made server datagrams for the session."""

    def __init__(self) -> None:
        self.seq = 0

    def datagram(
        self,
        newest: int,
        span: int = 0,
        frames: tuple[bytes, ...] = (),
        *,
        challenge: bytes | None = None,
        pong: int | None = None,
        seq: int | None = None,
        key: bytes = KEY,
    ) -> bytes:
        if seq is None:
            self.seq += 1
            seq = self.seq
        fields = dg.server_fields(newest, span, challenge, pong)
        return dg.seal(dg.SERVER_KIND, SID, seq, key, [fields, *frames])


def client(first_tick: int = 1, last_seq: int = 0, **settings: float) -> UdpClientCore:
    core = ClientCore("cy", "r")
    offer = pb.UdpOffer(version=1, port=7777, session_id=SID, key=KEY)
    core.on_welcome(
        pb.Welcome(room="r", slot=SLOT, tick_rate=30, first_tick=first_tick, last_seq=last_seq)
    )
    return UdpClientCore(core, offer, 0.0, UdpClientSettings(**settings))


def sent(c: UdpClientCore, now: float) -> dg.ClientBody | None:
    out = c.datagrams_to_send(now)
    assert len(out) <= 1
    if not out:
        return None
    data = out[0]
    assert len(data) <= dg.MAX_DATAGRAM and dg.verify(data, KEY)
    assert dg.parse_header(data, dg.CLIENT_KIND)[0] == SID
    return dg.decode_client_body(dg.body_of(data))


def activate(c: UdpClientCore, server: Server, now: float = 0.0) -> None:
    sent(c, now)  # the probe
    c.datagram_received(server.datagram(c.merger.contiguous, pong=1), now)
    assert c.mode is ClientMode.ACTIVE
    sent(c, now)


# ---------------------------------------------------------------- modes


def test_probing_then_fallback_when_nothing_answers() -> None:
    c = client()
    probe = sent(c, 0.0)
    assert probe is not None and probe.ping is not None and not probe.active
    assert sent(c, 0.1) is None
    assert c.get_timer() == pytest.approx(0.25)
    assert sent(c, 0.25) is not None
    c.send_input(b"a", 0.3)
    assert c.stream_frames_to_send() == [input_frame(1, b"a")]  # UDP is unproven
    c.handle_timer(2.0)
    assert c.mode is ClientMode.FALLBACK and c.fallbacks == 1
    assert c.stream_frames_to_send() == []  # input 1 is on the stream already
    assert c.get_timer() == pytest.approx(4.0)
    assert sent(c, 3.9) is None
    retry = sent(c, 4.0)
    assert retry is not None and retry.ping is not None and not retry.active


def test_the_first_valid_datagram_makes_it_active_and_it_says_so_at_once() -> None:
    c = client(first_tick=130)
    server = Server()
    probe = sent(c, 0.0)
    assert probe is not None and probe.received == 129
    c.datagram_received(server.datagram(129, challenge=b"chal-one", pong=probe.ping), 0.05)
    assert c.mode is ClientMode.ACTIVE and c.rtt == pytest.approx(0.05)
    reply = sent(c, 0.05)
    assert reply is not None and reply.active and reply.response == b"chal-one"
    # the response goes on while the newest server datagram carries a challenge
    assert sent(c, 0.55) == dg.ClientBody(129, True, b"chal-one", 2, ())
    c.datagram_received(server.datagram(129), 0.6)
    assert c.datagrams_to_send(0.6) == []  # nothing new to say
    keep = sent(c, 1.05)
    assert keep is not None and keep.response is None and keep.ping == 3


def test_keepalive_and_ping_every_half_second_while_active() -> None:
    c = client()
    server = Server()
    activate(c, server)
    times = []
    now = 0.0
    while now < 3.0:
        now = round(now + 0.05, 2)
        body = sent(c, now)
        if body is not None:
            times.append(now)
            assert body.ping is not None
            c.datagram_received(server.datagram(0, pong=body.ping), now)
    assert times == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert c.mode is ClientMode.ACTIVE


def test_silence_falls_back_and_writes_the_unconfirmed_inputs_on_the_stream() -> None:
    c = client(last_seq=4)  # a resume: the server sequenced up to 4
    server = Server()
    activate(c, server)
    assert c.core.next_seq == 5
    for payload in (b"a", b"b", b"c"):
        c.send_input(payload, 0.1)
    assert c.stream_frames_to_send() == []  # they went by datagram
    body = sent(c, 0.1)
    assert body is not None and body.inputs == ((5, b"a"), (6, b"b"), (7, b"c"))
    assert c.get_timer() == pytest.approx(0.6)  # keepalive first; silence at 2.0
    c.handle_timer(2.0)
    assert c.mode is ClientMode.FALLBACK
    assert c.stream_frames_to_send() == [
        input_frame(5, b"a"),
        input_frame(6, b"b"),
        input_frame(7, b"c"),
    ]
    c.send_input(b"d", 2.1)
    assert c.stream_frames_to_send() == [input_frame(8, b"d")]
    probe = sent(c, 4.0)
    assert probe is not None and not probe.active
    assert [s for s, _ in probe.inputs] == [5, 6, 7, 8]  # still the oldest first
    c.datagram_received(server.datagram(0, pong=probe.ping), 4.01)
    assert c.mode is ClientMode.ACTIVE
    c.send_input(b"e", 4.1)
    assert c.stream_frames_to_send() == []
    body = sent(c, 4.1)
    assert body is not None and body.active and [s for s, _ in body.inputs] == [5, 6, 7, 8, 9]


# ---------------------------------------------------------------- inputs


def test_inputs_are_carried_until_a_tick_confirms_them() -> None:
    c = client()
    server = Server()
    activate(c, server)
    c.send_input(b"a", 0.1)
    c.send_input(b"b", 0.1)
    body = sent(c, 0.1)
    assert body is not None and body.inputs == ((1, b"a"), (2, b"b"))
    f1 = frame(1, (SLOT, 1, b"a"))
    (t1,) = c.datagram_received(server.datagram(1, 1, (f1,)), 0.12)
    assert [(i.seq, i.payload) for i in t1.inputs] == [(1, b"a")]
    body = sent(c, 0.12)  # the acknowledgement, at once
    assert body is not None and body.received == 1 and body.inputs == ((2, b"b"),)


def test_a_burst_that_does_not_fit_goes_by_the_stream_in_seq_order() -> None:
    c = client()
    server = Server()
    activate(c, server)
    big = b"x" * 400
    c.send_input(big, 0.1)  # 1
    c.send_input(big, 0.1)  # 2: two fit (about 810 bytes)
    assert c.stream_frames_to_send() == []
    c.send_input(big, 0.1)  # 3: three do not fit in one datagram
    assert c.stream_frames_to_send() == [input_frame(n, big) for n in (1, 2, 3)]
    c.send_input(b"s", 0.1)  # 4: still does not fit with the others
    assert c.stream_frames_to_send() == [input_frame(4, b"s")]
    body = sent(c, 0.1)
    assert body is not None and [s for s, _ in body.inputs] == [1, 2]  # the prefix that fits
    # a tick confirms 1..3 (too big for a datagram, it comes by the stream): the
    # rest fits again, and goes by datagram only
    f1 = body_of_frame(frame(1, (SLOT, 1, big), (SLOT, 2, big), (SLOT, 3, big)))
    c.stream_tick(f1, pb.ServerMessage.FromString(f1).tick, dg.tick_of(f1))
    c.send_input(b"t", 0.2)
    assert c.stream_frames_to_send() == []
    body = sent(c, 0.2)
    assert body is not None and body.inputs == ((4, b"s"), (5, b"t"))


def test_an_input_too_large_for_any_datagram_goes_by_the_stream_and_blocks_none() -> None:
    c = client()
    server = Server()
    activate(c, server)
    c.send_input(b"h" * 2000, 0.1)
    assert c.stream_frames_to_send() == [input_frame(1, b"h" * 2000)]
    c.send_input(b"s", 0.1)
    assert c.stream_frames_to_send() == [input_frame(2, b"s")]
    assert sent(c, 0.1) is None  # nothing went by datagram, so nothing is due
    body = sent(c, 0.5)  # the keepalive
    assert body is not None and body.inputs == ()  # never 2 without 1 before it


# ---------------------------------------------------------------- ticks


def test_ticks_from_both_paths_come_out_once_in_order() -> None:
    c = client()
    server = Server()
    activate(c, server)
    f = {n: frame(n, (1, n, b"p%d" % n)) for n in range(1, 7)}
    assert c.datagram_received(server.datagram(3, 1, (f[3],)), 0.1) == []  # 1, 2 missing
    assert c.datagram_received(server.datagram(2, 1, (f[2],)), 0.1) == []
    out = c.datagram_received(server.datagram(3, 3, (f[3], f[2], f[1])), 0.1)
    assert [t.number for t in out] == [1, 2, 3] and c.repaired == 1  # 1 came second in its datagram
    tick4 = pb.ServerMessage.FromString(body_of_frame(f[4])).tick
    raw4 = dg.tick_of(body_of_frame(f[4]))
    (t4,) = c.stream_tick(body_of_frame(f[4]), tick4, raw4)
    assert t4.number == 4 and t4.raw == raw4
    assert c.datagram_received(server.datagram(4, 2, (f[4], f[3])), 0.1) == []  # all seen
    (t5,) = c.datagram_received(server.datagram(5, 1, (f[5],)), 0.1)
    assert t5.raw == dg.tick_of(body_of_frame(f[5]))
    assert c.stream_tick(body_of_frame(f[5]), tick4, raw4) == []  # a duplicate from the stream
    assert (c.ticks_by_udp, c.ticks_by_stream, c.core.duplicate_ticks) == (4, 1, 0)
    assert sent(c, 0.1) == dg.ClientBody(5, True, None, None, ())


def test_skipped_ticks_count_as_received_once_covered() -> None:
    core = ClientCore("cy", "r", skip_empty_ticks=True)
    core.on_welcome(pb.Welcome(room="r", slot=SLOT, tick_rate=30, first_tick=1))
    c = UdpClientCore(core, pb.UdpOffer(version=1, port=1, session_id=SID, key=KEY), 0.0)
    server = Server()
    activate(c, server)
    f3 = frame(3, (1, 1, b"x"))
    out = c.datagram_received(server.datagram(6, 6, (f3,)), 0.1)  # 1, 2, 4..6 were skipped
    assert [(t.number, t.empty) for t in out] == [(1, True), (2, True), (3, False)]
    assert c.merger.contiguous == 6 and core.received == 3  # resume point: the last real tick
    assert sent(c, 0.1) == dg.ClientBody(6, True, None, None, ())


def test_nothing_unauthentic_changes_anything() -> None:
    c = client()
    server = Server()
    good = server.datagram(1, 1, (frame(1),), pong=1)
    tampered = good[:20] + bytes([good[20] ^ 1]) + good[21:]
    other_session = b"\x12" + b"another!" + good[9:]
    reflected = dg.seal(dg.CLIENT_KIND, SID, 9, KEY, [dg.client_fields(0, active=True)])
    other_key = server.datagram(1, 1, (frame(1),), key=bytes(32))
    outside = server.datagram(1, 1, (frame(2),))  # a frame outside the range it covers
    for data in (tampered, other_session, reflected, other_key, outside, good[:30]):
        assert c.datagram_received(data, 0.1) == []
    assert c.mode is ClientMode.PROBING and c.last_received is None
    assert dict(c.refused) == {
        Refusal.BAD_MAC: 2,
        Refusal.UNKNOWN_SESSION: 1,
        Refusal.BAD_KIND: 1,
        Refusal.MALFORMED: 1,
        Refusal.TRUNCATED: 1,
    }
    assert [t.number for t in c.datagram_received(good, 0.2)] == [1]
    assert c.datagram_received(good, 0.3) == [] and c.refused[Refusal.REPLAY] == 1
    for _ in range(70):
        server.datagram(1)  # numbers used by datagrams that never arrive
    late = server.datagram(1, seq=2)
    c.datagram_received(server.datagram(1), 0.4)
    assert c.datagram_received(late, 0.4) == [] and c.refused[Refusal.TOO_OLD] == 1


def test_only_the_newest_datagrams_challenge_counts() -> None:
    c = client()
    server = Server()
    sent(c, 0.0)
    old = server.datagram(0, challenge=b"old-chal")
    c.datagram_received(server.datagram(0, challenge=b"new-chal"), 0.1)
    c.datagram_received(old, 0.1)
    body = sent(c, 0.1)
    assert body is not None and body.response == b"new-chal"


def test_a_session_out_of_sequence_numbers_stays_on_the_stream() -> None:
    c = client()
    server = Server()
    activate(c, server)
    c._seq = dg.MAX_SEQ - 1
    c.send_input(b"a", 0.1)
    assert sent(c, 0.1) is not None  # the last number
    c.handle_timer(0.2)
    assert c.mode is ClientMode.FALLBACK and c.get_timer() is None
    assert c.stream_frames_to_send() == [input_frame(1, b"a")]
    assert c.datagrams_to_send(5.0) == []


# ---------------------------------------------------------------- the merger alone


def test_merger_stream_rule_and_ranges() -> None:
    m = TickMerger(10)
    assert m.add_datagram(12, 13, [(13, b"13"), (12, b"12")]) == []  # 10, 11 unknown
    assert m.has(12) and not m.has(11) and m.buffered == 2
    assert m.add_stream(11, b"11") == [b"11", b"12", b"13"]  # 10 was skipped: the stream says
    assert m.contiguous == 13
    assert m.add_datagram(14, 20, [(15, b"15")]) == [b"15"]  # 14, 16..20 skipped
    assert m.contiguous == 20 and m.buffered == 0
    assert m.add_stream(20, b"dup") == [] and m.add_datagram(1, 20, []) == []
    assert m.add_datagram(25, 25, [(25, b"25")]) == []
    assert m.add_datagram(21, 23, [(22, b"22")]) == [b"22"]  # 24 still unknown
    assert m.add_datagram(24, 24, []) == [b"25"]
    assert m.contiguous == 25


def test_merger_keeps_nothing_of_a_datagram_it_cannot_hold() -> None:
    m = TickMerger(1)
    many = [(n, b"%d" % n) for n in range(3, 3 + 4096)]
    assert m.add_datagram(3, 3 + 4095, many) == [] and m.buffered == 4096  # 1, 2 unknown
    assert m.add_datagram(5000, 5000, [(5000, b"5000")]) == []  # over the bound
    assert m.buffered == 4096 and not m.has(5000)  # neither its frame nor its range
    out = m.add_stream(2, b"2")
    assert out == [b"2"] + [f for _, f in many] and m.contiguous == 4098
