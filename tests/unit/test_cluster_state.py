"""Sans-I/O parts of the cluster: snapshots and restore from a (trimmed) stream,
the spectator mirror, held Hellos and redirects through the placement seam."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tickcast import wire
from tickcast.cluster.mirror import MirrorRoom
from tickcast.cluster.state import restore, restored_room, snapshot
from tickcast.proto import pb
from tickcast.relay import TickCycle
from tickcast.room import Room
from tickcast.session import HelloRequest, Session

from .harness import Client, Harness


class StreamRecorder:
    """A Relay.recorder that keeps what a cluster owner would append: each tick,
    with a snapshot every `every` ticks; delivers at once."""

    def __init__(self, harness: Harness, every: int) -> None:
        self.harness = harness
        self.every = every
        self.entries: list[tuple[int, bytes, bytes | None]] = []

    def record(self, produced: TickCycle) -> None:
        for rec in produced.records:
            number = rec.number
            snap = snapshot(rec.room) if (number - 1) % self.every == 0 else None
            self.entries.append((number, rec.frame, snap))
        self.harness.relay.deliver(produced)

    def kicked(self, session: Session) -> None:
        pass


def _state(room: Room) -> dict[str, tuple[int, int, bool, int, int]]:
    """What restore must bring back: slots, last seqs, membership and the ticks
    it began or ended at (a member's stale left_tick from an earlier stay is moot)."""
    return {
        p.id: (p.slot, p.last_seq, p.member, p.join_tick, 0 if p.member else p.left_tick)
        for p in room.players.values()
        if p.member or p.last_seq or p.left_tick
    }


@settings(max_examples=40, deadline=None)
@given(
    script=st.lists(
        st.tuples(st.sampled_from(["join", "input", "leave", "tick"]), st.integers(0, 3)),
        min_size=1,
        max_size=60,
    ),
    every=st.integers(1, 7),
    trim=st.integers(0, 30),
)
def test_restore_from_a_trimmed_stream_equals_the_live_room(
    script: list[tuple[str, int]], every: int, trim: int
) -> None:
    h = Harness(history_seconds=2)
    rec = StreamRecorder(h, every)
    h.relay.recorder = rec
    clients: dict[int, object] = {}
    seqs = dict.fromkeys(range(4), 0)
    for action, who in [*script, ("tick", 0)]:
        c = clients.get(who)
        if action == "join" and c is None:
            clients[who], _ = h.join(f"p{who}", "r")
        elif action == "input" and c is not None:
            seqs[who] += 1
            c.input(seqs[who], b"x")  # type: ignore[attr-defined]
        elif action == "leave" and c is not None:
            c.send(leave=pb.Leave())  # type: ignore[attr-defined]
            del clients[who]
        else:
            h.tick()
    room = h.relay.rooms.get("r")
    if room is None or not rec.entries:
        return
    # the owner trims below min(the history window, its newest snapshot)
    keep = h.config.history_ticks
    newest_snapshot = max(n for n, _, snap in rec.entries if snap is not None)
    cut = min(trim, rec.entries[-1][0] - keep + 1, newest_snapshot)
    entries = [e for e in rec.entries if e[0] >= cut]
    state = restore(entries, keep)
    assert state.last_tick == room.next - 1
    back = restored_room("r", h.config, state, h.clock.now())
    assert back.next == room.next
    assert back.chain == room.chain
    assert _state(back) == _state(room)
    assert back.members == room.members
    for n in range(back.first_kept(), back.next):
        assert back.frame(n) == room.frame(n)


def _tick_frame(number: int) -> bytes:
    return wire.encode_server_message(pb.ServerMessage(tick=pb.Tick(number=number)))


def test_mirror_appends_in_order_and_blanks_skipped_ticks() -> None:
    h = Harness(history_seconds=1)
    mirror = MirrorRoom.of_stream("m", h.config, [(3, _tick_frame(3))], 0.0)
    assert mirror.first_kept() == 3
    h.relay.add_room(mirror)
    spec, welcome = h.join("s", "m", spectator=True, resume_after=2)
    assert welcome.first_tick == 3
    mirror.play(4, _tick_frame(4))
    mirror.play(4, _tick_frame(4))  # read twice: sent once
    mirror.play(6, _tick_frame(6))
    assert mirror.frame(5) is None and mirror.last_sent() == 6
    assert [t.number for t in spec.ticks()] == [3, 4, 6]
    # a spectator cannot resume from before what the stream still held
    kick = h.refused("s2", "m", spectator=True, resume_after=1)
    assert kick.reason == pb.REASON_RESUME_UNAVAILABLE


class HoldingPlacement:
    """A placement that answers every Hello later (as a cluster node waits for Redis)."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Session, HelloRequest]] = []

    def hello(self, session: Session, hello: HelloRequest, now: float) -> bool:
        if hello.room == "here":
            return False
        session.hold()
        self.waiting.append((session, hello))
        return True


def _held(payload: bytes) -> tuple[Harness, Client, Session, HelloRequest]:
    """A harness whose placement holds every Hello; a client whose Hello (and
    one input pipelined after it) waits for the placement's answer."""
    h = Harness()
    placement = HoldingPlacement()
    h.relay.placement = placement
    c = h.connect()
    c.hello("p1", "elsewhere")
    c.input(1, payload)  # pipelined right after the Hello
    assert c.messages() == [] and len(placement.waiting) == 1
    session, hello = placement.waiting.pop()
    return h, c, session, hello


def test_frames_after_a_held_hello_wait_for_the_answer() -> None:
    h, c, session, hello = _held(b"early")
    h.relay.placement = None  # the answer: join here
    h.relay.session_hello(session, hello, h.clock.now())
    session.release(h.clock.now())
    assert c.take(1)[0].HasField("welcome")
    h.tick()
    (tick,) = c.ticks()
    assert [i.payload for i in tick.inputs] == [b"early"]


def test_held_hello_answered_with_a_redirect() -> None:
    h, c, session, _ = _held(b"")
    session.kick(pb.REASON_REDIRECT, "hosted elsewhere", redirect="127.0.0.1:7001")
    session.release(h.clock.now())
    kick = c.kick()
    assert kick.reason == pb.REASON_REDIRECT and kick.redirect == "127.0.0.1:7001"
    # a room the placement leaves local joins at once
    _, welcome = h.join("p2", "here")
    assert welcome.slot == 1
