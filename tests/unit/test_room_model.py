"""A model-based test of a room: hypothesis drives random joins, resumes, leaves,
drops, inputs and ticks through a real relay, and after every step checks the
spec's promises against a simple model:

- every client gets the same bytes for the same tick, and a connected client
  has every tick from its Welcome.first_tick on, nothing skipped or repeated;
- replaying Tick.joined/left from tick 1 gives the members the model expects;
- the inputs sequenced are exactly those with a new seq, in acceptance order,
  each with its sender's slot, except those of a join cancelled within its
  open tick; a player's slot never changes;
- a replaced connection ends with Kick{REPLACED}, a refused resume with
  Kick{RESUME_UNAVAILABLE}, and a Kick is always the last frame.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tickcast.proto import pb

from .harness import Client, Harness

PLAYERS = st.sampled_from(["ann", "bob", "cyd", "dee"])
GRACE = 1000.0


class RoomModel(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.h = Harness(reconnect_grace=GRACE)
        # a spectator that joins before anyone and watches every tick
        self.observer, _ = self.h.join("observer", spectator=True)
        self.connected: dict[str, tuple[Client, pb.Welcome]] = {}
        self.members: set[str] = set()  # as the open tick will have them
        self.committed: set[str] = set()  # as of the last produced tick
        self.dropped: set[str] = set()
        self.slots: dict[str, int] = {}
        self.last_seq: dict[str, int] = {}
        self.pending_inputs: list[tuple[int, int, bytes]] = []
        self.sequenced: list[tuple[int, int, bytes]] = []
        self.ended: list[tuple[Client, int]] = []  # closed clients and their expected Kick
        self.watchers: list[tuple[Client, pb.Welcome]] = []  # spectators joined later

    # ------------------------------------------------------------ helpers

    @property
    def room(self):  # type: ignore[no-untyped-def]
        return self.h.relay.rooms["r"]

    def _welcomed(self, pid: str, c: Client, w: pb.Welcome) -> None:
        if pid in self.connected:
            self.ended.append((self.connected[pid][0], pb.REASON_REPLACED))
        assert self.slots.setdefault(pid, w.slot) == w.slot
        assert w.last_seq == self.last_seq.get(pid, 0)
        self.connected[pid] = (c, w)
        self.members.add(pid)
        self.dropped.discard(pid)

    def _membership_ends(self, pid: str) -> None:
        """pid's leave takes effect at the open tick; if its join was to take effect
        there too, the two cancel, and its inputs in the open tick go with them."""
        self.members.discard(pid)
        if pid in self.committed:
            return
        slot = self.slots[pid]
        dropped = [seq for s, seq, _ in self.pending_inputs if s == slot]
        if dropped:
            self.last_seq[pid] = min(dropped) - 1
            self.pending_inputs = [i for i in self.pending_inputs if i[0] != slot]

    def _tick(self) -> None:
        self.h.tick()
        self.committed = set(self.members)
        self.sequenced += self.pending_inputs
        self.pending_inputs = []

    # ------------------------------------------------------------ rules

    @rule(pid=PLAYERS)
    def join(self, pid: str) -> None:
        c, w = self.h.join(pid)
        assert w.first_tick == self.room.last_sent() + 1
        self._welcomed(pid, c, w)

    @rule(pid=PLAYERS)
    def join_with_full_history(self, pid: str) -> None:
        c, w = self.h.join(pid, full_history=True)
        assert w.first_tick == 1 and list(w.members) == []
        self._welcomed(pid, c, w)

    @rule(full_history=st.booleans())
    def watch(self, full_history: bool) -> None:
        c, w = self.h.join("watcher", spectator=True, full_history=full_history)
        assert w.slot == 0
        assert w.first_tick == (1 if full_history else self.room.last_sent() + 1)
        self.watchers.append((c, w))

    @precondition(lambda self: self.room.last_sent() > 0)
    @rule(pid=PLAYERS, back=st.integers(0, 4))
    def resume(self, pid: str, back: int) -> None:
        n = max(1, self.room.last_sent() - back)
        if pid not in self.members:
            kick = self.h.refused(pid, resume_after=n)
            assert kick.reason == pb.REASON_RESUME_UNAVAILABLE
            return
        c, w = self.h.join(pid, resume_after=n)
        assert w.first_tick == n + 1 and list(w.members) == []
        self._welcomed(pid, c, w)

    @precondition(lambda self: self.connected)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(sorted(self.connected)))
        c, _ = self.connected.pop(pid)
        c.send(leave=pb.Leave())
        self.ended.append((c, pb.REASON_UNSPECIFIED))
        self._membership_ends(pid)

    @precondition(lambda self: self.connected)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(sorted(self.connected)))
        c, _ = self.connected.pop(pid)
        c.session.connection_lost()
        self.dropped.add(pid)

    @precondition(lambda self: self.connected)
    @rule(data=st.data(), step=st.integers(-2, 3), payload=st.binary(max_size=8))
    def send_input(self, data: st.DataObject, step: int, payload: bytes) -> None:
        pid = data.draw(st.sampled_from(sorted(self.connected)))
        last = self.last_seq.get(pid, 0)
        seq = max(1, last + step)  # steps <= 0 resend an old seq: dropped
        self.connected[pid][0].input(seq, payload)
        if seq > last:
            self.last_seq[pid] = seq
            self.pending_inputs.append((self.slots[pid], seq, payload))

    @rule(n=st.integers(1, 3))
    def tick(self, n: int) -> None:
        for _ in range(n):
            self._tick()

    @precondition(lambda self: self.dropped)
    @rule()
    def grace_runs_out(self) -> None:
        self.h.clock.advance(GRACE)
        for pid in self.dropped:
            self._membership_ends(pid)
        self.dropped.clear()
        self._tick()

    # ------------------------------------------------------------ invariants

    @invariant()
    def observer_sees_every_tick_and_the_model_presence(self) -> None:
        ticks = [m.tick for m in self.observer.messages()[1:]]
        assert all(m.HasField("tick") for m in self.observer.messages()[1:])
        assert [t.number for t in ticks] == list(range(1, len(ticks) + 1))
        present: dict[int, str] = {}
        inputs: list[tuple[int, int, bytes]] = []
        for t in ticks:
            for m in t.joined:
                assert m.slot not in present and self.slots[m.player_id] == m.slot
                present[m.slot] = m.player_id
            for slot in t.left:
                assert slot in present
                del present[slot]
            inputs += [(i.slot, i.seq, i.payload) for i in t.inputs]
        assert set(present.values()) == self.committed
        assert inputs == self.sequenced

    @invariant()
    def connected_clients_have_every_tick_since_their_welcome(self) -> None:
        reference = self.observer.tick_bodies()
        last = self.room.last_sent() if "r" in self.h.relay.rooms else 0
        clients = list(self.connected.items()) + [("watcher", cw) for cw in self.watchers]
        for pid, (c, w) in clients:
            bodies = c.tick_bodies()
            assert sorted(bodies) == list(range(w.first_tick, last + 1)), pid
            assert all(reference[n] == b for n, b in bodies.items()), pid
            assert not c.sink.closed

    @invariant()
    def ended_clients_got_their_kick_last(self) -> None:
        for c, reason in self.ended:
            assert c.kick().reason == reason


TestRoomModel = RoomModel.TestCase
TestRoomModel.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
