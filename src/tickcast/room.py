"""Sans-I/O: a room's sequencer, members and slots, presence and seq dedup, fan-out.

Invariants (the spec's Sequencing, Ticks, Presence and Resume rules):

- `next` is the number of the open tick: inputs accepted now go into it.
  Ticks 1..next-1 have been produced, in order, once per `produce(now)` call
  while the room has members. A produced tick never changes.
- A player's slot is assigned at its first join and stays the same for the
  room's lifetime; slots start at 1 (0 means spectator).
- A player is a *member* from the tick its join takes effect until the tick its
  leave takes effect, connected or not. Dropped connections keep the slot for
  the reconnect grace. `members` counts members, `disconnected` those without
  a live connection; both change only in `_set_member` and `_set_connection`.
- Each welcomed connection has one `Membership`, created by `join` and ended
  only by the room (`detach`): a Leave, a drop, a newer connection of the same
  player, an eviction or the room's close. The session reaches its room through
  it and learns that it ended by its `active` flag; nothing else is written
  into a session from here.
- An input is sequenced only if its seq is greater than the player's last
  sequenced seq; it is encoded once, at acceptance, into the open tick.
- Each tick is encoded once; the same bytes go to every live session, players
  first, then spectators, through their outboxes (which never block). The
  room keeps it in its `TickHistory` (`tickcast.history`) for resumes; state
  hashes are judged by its `DesyncJudge` (`tickcast.desync`).

Time enters only as the `now` argument: tests drive a room with a fake clock.
"""

from __future__ import annotations

import logging
import zlib
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from tickcast import wire
from tickcast.config import Config
from tickcast.desync import DesyncJudge
from tickcast.errors import JoinRefused
from tickcast.history import TickHistory
from tickcast.logs import fields
from tickcast.outbox import Outbox, TickSource
from tickcast.proto import pb
from tickcast.security import InputGuard

if TYPE_CHECKING:
    from tickcast.restore import RoomState
    from tickcast.session import HelloRequest, Session

log = logging.getLogger("tickcast.room")


class Player:
    """A (room, player_id): its slot, sequencing state and membership."""

    __slots__ = (
        "id",
        "slot",
        "last_seq",
        "member",
        "join_tick",
        "left_tick",
        "membership",
        "disconnected_at",
        "guard",
    )

    def __init__(self, player_id: str, slot: int) -> None:
        self.id = player_id
        self.slot = slot
        self.last_seq = 0
        self.member = False
        self.join_tick = 0
        self.left_tick = 0
        self.membership: Membership | None = None  # the live connection, if any
        self.disconnected_at = 0.0
        self.guard: InputGuard | None = None  # rate and per-tick byte limits

    @property
    def session(self) -> Session | None:
        """The player's live session (None while disconnected)."""
        m = self.membership
        return m.session if m is not None else None


class Membership:
    """One welcomed connection's place in a room: the room, the session and its
    outbox, the player (None for a spectator), and the first tick it receives.

    Created by `Room.join` and ended only by the room; `active` is False from then
    on (the session keeps the record: its `room` is where the session was)."""

    __slots__ = ("room", "session", "outbox", "player", "first_tick", "active")

    def __init__(
        self, room: Room, session: Session, player: Player | None, first_tick: int
    ) -> None:
        self.room = room
        self.session = session
        self.outbox = session.outbox
        self.player = player
        self.first_tick = first_tick
        self.active = True

    @property
    def spectator(self) -> bool:
        return self.player is None


class TickRecord:
    """One produced tick, as the room knew it when it built it.

    `Room.produce` returns it and every consumer takes it as it is: the fan-out
    (`Room.deliver`), a tick log, the cluster's stream, metrics. None of them
    decodes the frame again to learn its number or who joined.

    - `frame`: the encoded Tick frame (length prefix included), the same bytes
      object every member receives;
    - `joined` (slot, player_id) and `left` (slots): the presence changes that
      take effect at this tick, as in the frame;
    - `inputs`: how many inputs the tick carries; `chain`: its chain value (b""
      without `chain`); `empty`: no inputs, presence or desyncs (sent as such).

    An empty tick the room skips (`skip_empty_ticks`) has no record: it is
    numbered and never sent, so the next record's `number` is past it (and
    `Room.next` says where the room is). Skipping costs nothing per tick.
    """

    __slots__ = ("room", "number", "frame", "joined", "left", "inputs", "chain", "empty")

    def __init__(
        self,
        room: Room,
        number: int,
        frame: bytes,
        joined: Sequence[tuple[int, str]],
        left: Sequence[int],
        inputs: int,
        chain: bytes,
        empty: bool,
    ) -> None:
        self.room = room
        self.number = number
        self.frame = frame
        self.joined = joined
        self.left = left
        self.inputs = inputs
        self.chain = chain
        self.empty = empty

    def __repr__(self) -> str:
        return f"<TickRecord {self.room.name!r} {self.number}>"


_new_record = object.__new__


class Archive(Protocol):
    """Older ticks of a room kept outside its ring (the tick log, `tickcast.store`)."""

    def first_kept(self) -> int:
        """Number of the oldest tick the archive can still serve."""
        ...

    def reader(self, room: Room) -> TickSource:
        """A catch-up source for one connection: old ticks from the archive, recent
        ones from `room`'s ring (one per reader, so readers at different places do not
        evict each other's chunk)."""
        ...


def _slot_and_seq(entry: bytes) -> tuple[int, int]:
    """(slot, seq) of one `wire.encode_relayed_input` entry: tag, length, then
    the slot and seq fields, each a one-byte tag and a varint."""
    _, pos = wire.decode_varint(entry, 1)
    slot, pos = wire.decode_varint(entry, pos + 1)
    seq, _ = wire.decode_varint(entry, pos + 1)
    return slot, seq


class Room:
    """One room. See the module docstring for its invariants."""

    def __init__(self, name: str, config: Config) -> None:
        self.name = name
        self.config = config
        self.tick_rate = config.tick_rate
        # which of the interval's `tick_phases` moments this room ticks at: a hash of
        # its name, so it needs no bookkeeping and survives a restore or a failover
        self.phase = zlib.crc32(name.encode()) % config.tick_phases
        self.next = 1
        # `sent`: the newest tick handed to the outboxes. With a tick log between
        # produce() and deliver() (write before send) it trails `next - 1` by the
        # ticks in flight to the disk: joins and resumes see only delivered ticks.
        self.sent = 0
        self._in_flight: deque[int] = deque()  # produced, not yet delivered (<0: skipped)
        self.archive: Archive | None = None
        self.players: dict[str, Player] = {}
        self._next_slot = 1
        self.members = 0
        self.disconnected = 0
        # every active membership, by outbox; the fan-out lists hold the outboxes of
        # those receiving live ticks, in fan-out order; `_waiting` those whose first
        # tick is still in flight to the tick log
        self._memberships: dict[Outbox, Membership] = {}
        self.live: list[Outbox] = []  # players
        self.spectators: list[Outbox] = []
        self._waiting: list[Membership] = []
        self._inputs: list[bytes] = []
        self._joined: list[tuple[int, str]] = []
        self._left: list[int] = []
        self.history = TickHistory(config.history_ticks, config.chain, config.history_bytes)
        self.chain = b""
        self.desyncs = DesyncJudge(name, config.tick_rate)
        self.inputs_sequenced = 0
        # The room's clock: the time of its last tick or join. A dropped
        # connection's grace starts from it (at most one tick interval early),
        # so detach() needs no time argument from transports.
        self.now = 0.0
        self.created_at = 0.0  # set by the relay (loop time), for the admin API

    def __repr__(self) -> str:
        return f"<Room {self.name!r} tick={self.next - 1} members={self.members}>"

    # ------------------------------------------------------------ TickSource

    def last_sent(self) -> int:
        return self.sent

    def first_kept(self) -> int:
        ring_first = self.history.first(self.next)
        if self.archive is not None:
            return min(ring_first, self.archive.first_kept())
        return ring_first

    def frame(self, number: int) -> bytes | None:
        return self.history.frame(number)

    def catchup_source(self) -> TickSource:
        """Where a resume or late join reads its catch-up from."""
        return self if self.archive is None else self.archive.reader(self)

    @classmethod
    def restored(cls, name: str, config: Config, state: RoomState, now: float) -> Room:
        """A room rebuilt from its ticks (`restore.replay_ticks`: a restart, a
        cluster takeover): every member is disconnected (its grace starts `now`),
        ticks go on after `state.last_tick`. It takes `state`'s players over."""
        room = cls(name, config)
        last = state.last_tick
        room.next = last + 1
        room.sent = last
        room.chain = state.chain
        room.now = now
        for p in state.players.values():
            member, p.member, p.membership = p.member, False, None
            p.guard = InputGuard(config, now)  # the input limits hold for it as for a new one
            room.players[p.id] = p
            room._next_slot = max(room._next_slot, p.slot + 1)
            room._set_member(p, member)
            p.disconnected_at = now
        room.history.restore(state.history, last)
        return room

    # ------------------------------------------------------------ membership

    @property
    def needs_tick(self) -> bool:
        """Members to tick for, or a last leave still to announce."""
        return bool(self.members or self._left)

    @property
    def empty(self) -> bool:
        """No members and nobody watching: the room can be dropped."""
        return self.members == 0 and not self.spectators

    def _set_member(self, p: Player, member: bool) -> None:
        """The one place a player's membership flag changes (`members`,
        `disconnected` with it)."""
        if p.member == member:
            return
        p.member = member
        step = 1 if member else -1
        self.members += step
        if p.membership is None:
            self.disconnected += step

    def _set_connection(self, p: Player, m: Membership | None) -> None:
        """The one place a player's live connection changes (`disconnected` with it)."""
        if p.member and (p.membership is None) != (m is None):
            self.disconnected += 1 if m is None else -1
        p.membership = m
        if m is None:
            p.disconnected_at = self.now

    def _admit(self, p: Player | None, player_id: str) -> Player:
        if p is None:
            p = Player(player_id, self._next_slot)
            p.guard = InputGuard(self.config, self.now)
            self._next_slot += 1
            self.players[player_id] = p
        if not p.member:
            self._set_member(p, True)
            if p.left_tick == self.next and p.left_tick:
                # left and came back within the same open tick: the two cancel out
                self._left.remove(p.slot)
                p.left_tick = 0
            else:
                p.join_tick = self.next
                self._joined.append((p.slot, p.id))
        return p

    def _drop_membership(self, p: Player) -> None:
        """p's leave takes effect at the open tick (Leave, or the grace ran out)."""
        if not p.member:
            return
        self._set_member(p, False)
        if p.join_tick == self.next:
            # joined and left within the same open tick: the two cancel out
            self._joined.remove((p.slot, p.id))
            if self._inputs:
                self._forget_inputs(p)
        else:
            self._left.append(p.slot)
            p.left_tick = self.next

    def _forget_inputs(self, p: Player) -> None:
        """p's join was cancelled, so p is a member of no tick: its inputs in the
        open tick must not be sent (a tick carries only members' inputs), and
        their seqs count as never sequenced (Welcome.last_seq stays truthful)."""
        kept: list[bytes] = []
        for entry in self._inputs:
            slot, seq = _slot_and_seq(entry)
            if slot == p.slot:
                p.last_seq = min(p.last_seq, seq - 1)
                self.inputs_sequenced -= 1
            else:
                kept.append(entry)
        self._inputs = kept

    def detach(self, m: Membership) -> None:
        """End membership `m` (its connection is gone, or going): it receives no
        more ticks; its player (if any) keeps the slot for the reconnect grace."""
        if not m.active:
            return
        m.active = False
        ob = m.outbox
        del self._memberships[ob]
        if m in self._waiting:
            self._waiting.remove(m)
        else:
            (self.live if m.player is not None else self.spectators).remove(ob)
        p = m.player
        if p is not None and p.membership is m:
            self._set_connection(p, None)

    # ------------------------------------------------------------ join

    def join(self, session: Session, hello: HelloRequest, now: float) -> None:
        """Admit `session` (send its Welcome and any catch-up) or raise JoinRefused."""
        self.now = now
        last = self.sent
        welcome = pb.Welcome(
            room=self.name, tick_rate=self.tick_rate, server_id=self.config.server_id
        )
        first = welcome.first_tick = self._first_tick(hello, welcome)
        player: Player | None = None
        if not hello.spectator:
            player = self._player(hello)
            replaced = player.membership
            welcome.slot = player.slot
            welcome.last_seq = player.last_seq
            if replaced is not None:
                # the same player connected again: the older connection goes
                self.detach(replaced)
                replaced.session.kick(pb.REASON_REPLACED, "the same player connected again")
        m = Membership(self, session, player, first)
        if player is not None:
            self._set_connection(player, m)
        self._memberships[m.outbox] = m
        if first > last + 1:
            # a fresh join while ticks before `first` are still in flight to the log:
            # it starts receiving once tick `first` (or a later one) is delivered
            self._waiting.append(m)
        else:
            (self.live if player is not None else self.spectators).append(m.outbox)

        m.outbox.send_now(wire.encode_server_message(pb.ServerMessage(welcome=welcome)))
        session.joined(m)
        if first <= last:
            m.outbox.start_catchup(self.catchup_source(), first)

    def _first_tick(self, hello: HelloRequest, welcome: pb.Welcome) -> int:
        """The first tick a Hello gets (after a resume point, from tick 1, or the
        open tick with the current members in `welcome`), or JoinRefused."""
        last = self.sent
        n = hello.resume_after
        if n > 0:
            if n > last:
                raise JoinRefused(
                    f"tick {n} has not been sent (last is {last})", pb.REASON_RESUME_UNAVAILABLE
                )
            if n + 1 < self.first_kept() and n < last:
                raise JoinRefused(
                    f"tick {n + 1} is no longer kept (oldest kept is {self.first_kept()})",
                    pb.REASON_RESUME_UNAVAILABLE,
                )
            return n + 1
        if hello.full_history:
            if self.first_kept() > 1:
                raise JoinRefused(
                    "the room's history is no longer complete "
                    f"(oldest kept is {self.first_kept()})",
                    pb.REASON_RESUME_UNAVAILABLE,
                )
            return 1
        # the members as of the last produced tick: joins in the open tick are not in
        # it yet, leaves in the open tick still are
        nxt = self.next
        members = [
            (p.slot, p.id)
            for p in self.players.values()
            if (p.member and p.join_tick < nxt) or (not p.member and p.left_tick == nxt)
        ]
        welcome.members.extend(pb.Member(slot=s, player_id=i) for s, i in sorted(members))
        return nxt

    def _player(self, hello: HelloRequest) -> Player:
        """The member a player's Hello joins as (admitted now if it is not one),
        or JoinRefused (a resume without a membership, a full room)."""
        p = self.players.get(hello.player_id)
        if hello.resume_after > 0 and (p is None or not p.member):
            raise JoinRefused(
                "no membership to resume (the grace ran out)", pb.REASON_RESUME_UNAVAILABLE
            )
        if (p is None or not p.member) and self.members >= self.config.max_players:
            raise JoinRefused(f"room {self.name!r} has {self.members} players", pb.REASON_ROOM_FULL)
        return self._admit(p, hello.player_id)

    # ------------------------------------------------------------ from sessions

    def submit(self, player: Player, seq: int, payload: bytes) -> None:
        """Sequence one input into the open tick (dropped if seq is not new).
        Raises RateLimited (the session kicks) over the player's input limits."""
        if player.guard is not None:
            player.guard.admit(len(payload), self.now, self.next)
        if seq <= player.last_seq:
            return
        player.last_seq = seq
        self._inputs.append(wire.encode_relayed_input(player.slot, seq, payload))
        self.inputs_sequenced += 1

    def leave(self, m: Membership) -> None:
        """The membership's player leaves now (not after the grace), and `m` ends."""
        p = m.player
        if m.active and p is not None and p.membership is m:
            self._drop_membership(p)
        self.detach(m)

    def state_hash(self, player: Player, tick: int, digest: bytes) -> None:
        """Record a member's state hash for `tick`; judge once all have reported."""
        if not player.member:
            return
        reports = self.desyncs.report(player.slot, tick, digest, self.next - 1)
        # the count is a quick first check; a reporter that left or dropped since
        # must not stand in for a connected member that has not reported yet
        if (
            reports is not None
            and len(reports) >= self.members - self.disconnected
            and all(
                p.slot in reports
                for p in self.players.values()
                if p.member and p.membership is not None
            )
        ):
            self.desyncs.judge(tick)

    # ------------------------------------------------------------ the tick

    def produce(self, now: float) -> TickRecord | None:
        """Close the open tick: expire graces, encode it once, keep it for resume.

        Returns the tick's record for `deliver` (None if the room has no members
        and no last leave to announce, or the tick was empty and the room skips
        empty ticks). Between the two calls a tick log may commit the frame to
        disk (write before send).
        """
        if not (self.members or self._left):  # needs_tick, inline: this runs per room per tick
            return None
        self.now = now
        if self.disconnected:
            grace = self.config.reconnect_grace
            for p in list(self.players.values()):
                if p.member and p.membership is None and now - p.disconnected_at >= grace:
                    log.info(
                        "player left: reconnect grace over %s",
                        fields(room=self.name, player=p.id),
                    )
                    self._drop_membership(p)
        judge = self.desyncs
        if judge.active:
            judge.expire(self.next)
        if not (self.members or self._left):  # the graces' leaves cancelled their joins
            return None
        number = self.next
        self.next = number + 1
        pieces = self._inputs
        inputs = b"".join(pieces) if pieces else b""
        joined: Sequence[tuple[int, str]] = self._joined
        left: Sequence[int] = self._left
        content = wire.encode_tick_content(number, inputs, joined, left)
        chain = b""
        if self.config.chain:
            chain = self.chain = wire.next_chain(self.chain, content)
        desyncs = judge.take() if judge.found else b""
        # non-empty lists go to the record and the room starts new ones (its empty
        # ones stay the room's: the record gets () instead)
        if pieces:
            self._inputs = []
        if joined:
            self._joined = []
        if left:
            self._left = []
        empty = not (inputs or joined or left or desyncs)
        if empty and self.config.skip_empty_ticks:
            self.history.keep(number, None, chain)
            if self._in_flight:
                self._in_flight.append(-number)
            else:
                self.sent = number
            return None
        frame = wire.encode_tick_frame(content, chain, desyncs)
        self.history.keep(number, b"" if empty else frame, chain)  # b"": rebuilt from chain
        self._in_flight.append(number)
        # built without a call to __init__ (a third cheaper): once per room per tick
        record = _new_record(TickRecord)
        record.room, record.number, record.frame = self, number, frame
        record.joined, record.left, record.inputs = joined or (), left or (), len(pieces)
        record.chain, record.empty = chain, empty
        return record

    def deliver(self, record: TickRecord) -> None:
        """Fan one produced tick out: players first, then spectators; never waits.
        A receiver over its outbound budget is evicted (SLOW_CONSUMER).

        Ticks must be delivered in the order `produce` returned them."""
        in_flight = self._in_flight
        if in_flight:
            self.sent = in_flight.popleft()
            while in_flight and in_flight[0] < 0:  # empty ticks skipped after it
                self.sent = -in_flight.popleft()
            waiting = self._waiting
            if waiting:  # fresh joiners whose first tick is delivered now start receiving
                sent = self.sent
                self._waiting = [m for m in waiting if m.first_tick > sent]
                for m in waiting:
                    if m.first_tick <= sent:
                        (self.live if m.player is not None else self.spectators).append(m.outbox)
        # the same frame object to every receiving outbox; evict those over budget
        frame = record.frame
        stalled: list[Outbox] | None = None
        for ob in self.live:
            if not ob.offer(frame):
                if stalled is None:
                    stalled = []
                stalled.append(ob)
        for ob in self.spectators:
            if not ob.offer(frame):
                if stalled is None:
                    stalled = []
                stalled.append(ob)
        if stalled:
            for ob in stalled:
                behind = self._memberships.get(ob)
                if behind is not None:
                    behind.session.fell_behind()

    def open_bytes(self) -> int:
        """Bytes of the open tick's inputs so far (the memory budget counts them)."""
        return sum(len(entry) for entry in self._inputs)

    def sessions(self) -> list[Session]:
        """The live sessions of the room, in the order they joined."""
        return [m.session for m in self._memberships.values()]

    def close(self, reason: int, detail: str) -> None:
        """Kick every session of the room (ROOM_CLOSED, SERVER_SHUTDOWN)."""
        for m in list(self._memberships.values()):
            m.session.kick(reason, detail)


class FedRoom(Room):
    """A room whose ticks are built elsewhere (a cluster owner's stream, a
    recording) and handed to `play`: no sequencer and no members, so the relay
    never produces a tick for it; its history and fan-out are a room's."""

    def play(self, number: int, frame: bytes) -> None:
        """Tick `number` arrived: keep it and send it to the room's connections.
        A number already played is ignored (a stream read twice). The record it is
        delivered with serves the fan-out only: a fed room does not parse the
        frames it relays, so it never has their presence (nor needs it)."""
        if number < self.next:
            return
        self.history.feed(self.next, number, frame)
        self.next = number + 1
        self.sent = number
        self.deliver(TickRecord(self, number, frame, (), (), 0, b"", False))
