"""Recording in a running server: write before send, restore after a restart,
late join from disk, a failing disk."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

from support import RawClient, hello_frame, input_frame, running_server
from support import test_config as make_config

from tickcast.proto import pb
from tickcast.store import MemoryTickLog, Recorder, SQLiteTickLog
from tickcast.store.log import Cycle, iter_ticks
from tickcast.store.recorder import LogCatchup
from tickcast.store.tools import verify_match


async def wait_for(cond: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


def spy_on_catchup(room: Any) -> list[LogCatchup]:
    """Collect the catch-up sources the room hands out (to check their chunking)."""
    sources: list[LogCatchup] = []
    original = room.catchup_source

    def spy() -> Any:
        src = original()
        sources.append(src)
        return src

    room.catchup_source = spy
    return sources


def sqlite_recorder(tmp_path: Path, **overrides: Any) -> Recorder:
    return Recorder(make_config(data_dir=str(tmp_path), **overrides))


class GatedLog(MemoryTickLog):
    """A memory log whose commits wait for a gate: a disk that stalls on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def write_cycle(self, cycle: Cycle) -> None:
        self.gate.wait(10)
        super().write_cycle(cycle)


async def test_no_tick_reaches_a_client_before_the_log_has_it() -> None:
    lg = GatedLog()
    rec = Recorder(make_config(), lambda: lg)
    async with running_server([rec]) as server:
        a, _ = await RawClient.join(server.port, "ada")
        b0, _ = await RawClient.join(server.port, "bob")
        await a.ticks_until(3)
        lg.gate.clear()  # the disk stalls
        a.send_input(1, b"x")
        stalled_at = max(n for n, _ in lg.read_ticks(1, 1, None, 10**6))
        await asyncio.sleep(0.3)  # 15 tick intervals: ticks are produced, none delivered
        assert server.relay.rooms["r"].next - 1 > stalled_at + 3
        seen = [wire_tick for wire_tick in await drain(a)]
        assert all(t.number <= stalled_at for t in seen)
        # a client resuming during the stall gets nothing unlogged either
        b, wb = await RawClient.join(server.port, "bob", resume_after=1)
        assert wb.first_tick == 2
        # a fresh joiner now is welcomed at the open tick and gets nothing before it
        c, wc = await RawClient.join(server.port, "cyd")
        # (the room may have produced another tick since the Welcome was sent)
        assert stalled_at + 1 < wc.first_tick <= server.relay.rooms["r"].next
        lg.gate.set()
        tc = await c.ticks_until(wc.first_tick + 5)
        assert [t.number for t in tc] == list(range(wc.first_tick, wc.first_tick + 6))
        assert [m.player_id for m in tc[0].joined] == ["cyd"]
        await c.close()
        ticks = await a.ticks_until(stalled_at + 10)
        bt = await b.ticks_until(stalled_at + 10)
        logged = dict(lg.read_ticks(1, 1, None, 10**6))
        for raw in a.raw[1:] + b.raw[1:]:
            tick = pb.ServerMessage.FromString(raw)
            if tick.HasField("tick"):
                n = tick.tick.number
                assert n in logged and logged[n].endswith(raw)
        numbers = [t.number for t in bt]
        assert numbers == list(range(2, numbers[-1] + 1))
        assert any(i.payload == b"x" for t in ticks for i in t.inputs)
        await b.close()
        await b0.close()
        await a.close()


class CountingLog(MemoryTickLog):
    """A memory log that remembers which matches each transaction had ticks of."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[set[int]] = []

    def write_cycle(self, cycle: Cycle) -> None:
        self.writes.append({match_id for match_id, _, _ in cycle.ticks})
        super().write_cycle(cycle)


async def test_one_transaction_per_tick_cycle_for_all_rooms() -> None:
    """With one tick phase a cycle is every room's tick of one interval: the two rooms'
    ticks always share a transaction (never one transaction per room)."""
    lg = CountingLog()
    rec = Recorder(make_config(tick_phases=1), lambda: lg)
    async with running_server([rec], tick_phases=1) as server:
        a, _ = await RawClient.join(server.port, "ada", "one")
        b, wb = await RawClient.join(server.port, "bob", "two")
        await b.ticks_until(wb.first_tick + 20)
        await a.close()
        await b.close()
    both = next(i for i, w in enumerate(lg.writes) if 2 in w)  # room two's first tick
    later = [w for w in lg.writes[both:] if w]
    assert len(later) >= 5 and all(w == {1, 2} for w in later)


async def drain(c: RawClient) -> list[pb.Tick]:
    out = []
    try:
        while True:
            msg = await c.next_message(0.05)
            if msg.HasField("tick"):
                out.append(msg.tick)
    except TimeoutError:
        return out


async def test_every_tick_sent_is_in_the_sqlite_log_byte_identical(tmp_path: Path) -> None:
    async with running_server([sqlite_recorder(tmp_path)]) as server:
        a, _ = await RawClient.join(server.port, "ada")
        b, wb = await RawClient.join(server.port, "bob")
        for seq in range(1, 20):
            a.send_input(seq, b"a%d" % seq)
            b.send_input(seq, b"b%d" % seq)
            await asyncio.sleep(0.005)
        await a.ticks_until(wb.first_tick + 20)
        await b.ticks_until(wb.first_tick + 20)
        await b.close()
        await a.close()
    lg = SQLiteTickLog(tmp_path, create=False)
    try:
        [match] = lg.matches()
        assert match.room == "r" and match.players == ["ada", "bob"] and match.live
        logged = dict(iter_ticks(lg, match.id))
        for c in (a, b):
            got = [r for r in c.raw if pb.ServerMessage.FromString(r).HasField("tick")]
            assert got
            for raw in got:
                n = pb.ServerMessage.FromString(raw).tick.number
                assert logged[n].endswith(raw)
        assert sorted(logged) == list(range(1, max(logged) + 1))
    finally:
        lg.close()


async def test_restart_restores_the_room_and_resume_is_seamless(tmp_path: Path) -> None:
    async with running_server([sqlite_recorder(tmp_path)]) as server:
        a, _ = await RawClient.join(server.port, "ada")
        for seq in range(1, 6):
            a.send_input(seq, b"%d" % seq)
        before = await a.ticks_until(30)
        seen = max(t.number for t in before)
        await asyncio.sleep(0.1)  # ticks the client did not read: also kept
    # the server shut down with the room still having a member: restore it
    rec = sqlite_recorder(tmp_path)
    async with running_server([rec]) as server:
        assert rec.rooms_restored == 1
        room = server.relay.rooms["r"]
        assert room.members == 1 and room.disconnected == 1
        c, w = await RawClient.join(server.port, "ada", resume_after=10)
        assert (w.first_tick, w.last_seq, w.slot) == (11, 5, 1)
        after = await c.ticks_until(room.last_sent() + 5)
        numbers = [t.number for t in after]
        assert numbers == list(range(11, numbers[-1] + 1))
        by_number = {t.number: t.SerializeToString() for t in before}
        for t in after:
            if t.number <= seen:
                assert t.SerializeToString() == by_number[t.number]
        c.send_input(5, b"dup")  # already sequenced before the restart: dropped
        c.send_input(6, b"6")
        later = await c.ticks_until(after[-1].number + 5)
        payloads = [i.payload for t in later for i in t.inputs]
        assert payloads == [b"6"]
        await c.close()


async def test_nobody_returns_within_the_grace_and_the_match_ends(tmp_path: Path) -> None:
    async with running_server([sqlite_recorder(tmp_path)]) as server:
        a, _ = await RawClient.join(server.port, "ada")
        await a.ticks_until(5)
    rec = sqlite_recorder(tmp_path, reconnect_grace=0.2)
    async with running_server([rec], reconnect_grace=0.2) as server:
        assert "r" in server.relay.rooms
        await wait_for(lambda: "r" not in server.relay.rooms)
        await wait_for(lambda: rec.cycles_committed > 0 and rec.backlog == 0)
    lg = SQLiteTickLog(tmp_path, create=False)
    try:
        [m] = lg.matches()
        assert not m.live and m.end_reason == "empty"
        last = lg.read_ticks(m.id, m.tick_count)[0][1]
        assert pb.ServerMessage.FromString(last[1:]).tick.left == [1]
    finally:
        lg.close()


async def test_late_join_of_a_long_match_streams_from_disk(tmp_path: Path) -> None:
    overrides = {"tick_rate": 500, "history_seconds": 0.05}
    rec = sqlite_recorder(tmp_path, **overrides)
    async with running_server([rec], **overrides) as server:
        a, _ = await RawClient.join(server.port, "ada")
        room = server.relay.rooms["r"]
        await wait_for(lambda: room.last_sent() >= 1500, 30)
        sources = spy_on_catchup(room)
        late, w = await RawClient.join(server.port, "lee", full_history=True)
        assert w.first_tick == 1
        target = room.last_sent() + 50
        ticks = await late.ticks_until(target, 30)
        assert [t.number for t in ticks] == list(range(1, target + 1))
        [src] = sources
        assert src.reads >= 1500 // 256 and src.max_chunk <= 256
        await late.close()
        await a.close()


class FullDiskLog(MemoryTickLog):
    def __init__(self) -> None:
        super().__init__()
        self.full = False

    def write_cycle(self, cycle: Cycle) -> None:
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        super().write_cycle(cycle)


async def test_a_full_disk_stops_recording_but_not_the_game(caplog: Any) -> None:
    lg = FullDiskLog()
    rec = Recorder(make_config(), lambda: lg)
    async with running_server([rec]) as server:
        a, _ = await RawClient.join(server.port, "ada")
        await a.ticks_until(5)
        lg.full = True
        await wait_for(lambda: rec.failed is not None)
        last_logged = max(n for n, _ in lg.read_ticks(1, 1, None, 10**6))
        ticks = await a.ticks_until(last_logged + 20)
        numbers = [t.number for t in ticks]
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
        assert "WITHOUT recording" in caplog.text
        # the log has a hole from here on: history comes from the ring only
        assert server.relay.rooms["r"].archive is None
        await a.close()


async def test_kicks_are_recorded_with_their_reason(tmp_path: Path) -> None:
    rec = sqlite_recorder(tmp_path)
    async with running_server([rec]) as server:
        a, _ = await RawClient.join(server.port, "ada")
        await a.ticks_until(3)
        a2, _ = await RawClient.join(server.port, "ada")  # replaces the first connection
        assert (await a.expect_kick()).reason == pb.REASON_REPLACED
        await a2.ticks_until(5)
        await a2.close()
    lg = SQLiteTickLog(tmp_path, create=False)
    try:
        kicks = lg.kicks(1)
        assert [(k.player_id, k.reason) for k in kicks][:1] == [("ada", "REPLACED")]
        # the shutdown kick of the second connection is recorded too
        assert ("ada", "SERVER_SHUTDOWN") in [(k.player_id, k.reason) for k in kicks]
    finally:
        lg.close()


class FillingSQLiteLog(SQLiteTickLog):
    """A real SQLite log whose file stops growing on demand: SQLite's own 'database or
    disk is full' (PRAGMA max_page_count), as a full filesystem would give."""

    fill = False

    def write_cycle(self, cycle: Cycle) -> None:
        if self.fill:
            pages = self.db.execute("PRAGMA page_count").fetchone()[0]
            self.db.execute(f"PRAGMA max_page_count = {pages}")
        super().write_cycle(cycle)


async def test_sqlite_disk_full_keeps_relaying_and_the_log_stays_consistent(
    tmp_path: Path,
) -> None:
    holder: list[FillingSQLiteLog] = []

    def open_log() -> FillingSQLiteLog:
        holder.append(FillingSQLiteLog(tmp_path, check=True))
        return holder[0]

    rec = Recorder(
        make_config(data_dir=str(tmp_path)),
        open_log,
        lambda: SQLiteTickLog(tmp_path, create=False),
    )
    async with running_server([rec]) as server:
        a, _ = await RawClient.join(server.port, "ada")
        a.send(b"".join(input_frame(s, bytes(2000)) for s in range(1, 20)))  # grow the file
        await a.ticks_until(10)
        holder[0].fill = True
        await wait_for(lambda: rec.failed is not None)
        assert "full" in str(rec.failed)
        room = server.relay.rooms["r"]
        ticks = await a.ticks_until(room.last_sent() + 10)
        numbers = [t.number for t in ticks]
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
        last_seen = numbers[-1]
        await a.close()
    # after a restart the committed prefix is intact and restored; beyond it is refused
    lg = SQLiteTickLog(tmp_path, create=False)
    try:
        [m] = lg.matches()
        assert verify_match(lg, m.id).ok
        committed = m.tick_count
        assert 10 <= committed < last_seen
    finally:
        lg.close()
    async with running_server([sqlite_recorder(tmp_path)]) as server:
        c = await RawClient.connect(server.port)
        c.send(hello_frame("ada", "r", resume_after=last_seen))
        assert (await c.expect_kick()).reason == pb.REASON_RESUME_UNAVAILABLE
        c2, w = await RawClient.join(server.port, "ada", resume_after=committed)
        assert w.first_tick == committed + 1
        await c2.close()


async def test_late_join_of_a_ten_minute_match_after_a_restart(tmp_path: Path) -> None:
    """18,000 ticks (10 minutes at 30 Hz, about 2.6 MB of frames) written by a real
    room, then the server restarts: the room is restored, its player resumes, and a
    late joiner streams the whole match from disk while the player's live ticks go
    on. Memory bounded: what the server holds for the late joiner (its catch-up
    chunk and its socket's write buffer) is measured while it catches up, and stays
    at one chunk and one pump's worth, not the match."""
    from tickcast.config import Config
    from tickcast.outbox import CATCHUP_CHUNK_BYTES
    from tickcast.room import Player, Room
    from tickcast.store.log import MatchStart
    from tickcast.store.recorder import CATCHUP_CHUNK_TICKS

    config = Config(tick_rate=30, reconnect_grace=1e9, server_id="t")
    room = Room("long", config)
    ada = Player("ada", 1)
    room.players["ada"] = ada
    room._next_slot = 2
    room._admit(ada, "ada")
    lg = SQLiteTickLog(tmp_path)
    lg.write_cycle(Cycle(begins=[MatchStart(1, "long", 30, 0.0)]))
    batch: list[tuple[int, int, bytes]] = []
    match_bytes = largest_frame = 0
    for n in range(1, 18_001):
        if n % 3 == 0:
            room.submit(ada, n, (b"input %d " % n).ljust(300, b"."))
        record = room.produce(n / 30)
        assert record is not None
        frame = record.frame
        room.deliver(record)
        batch.append((1, n, frame))
        match_bytes += len(frame)
        largest_frame = max(largest_frame, len(frame))
        if len(batch) == 1000:
            lg.write_cycle(Cycle(ticks=batch))
            batch = []
    lg.close()

    rec = sqlite_recorder(tmp_path)
    async with running_server([rec], tick_rate=30) as server:
        restored = server.relay.rooms["long"]
        assert restored.last_sent() >= 18_000 and restored.chain
        # the resumed player's state came back: it plays on while the late joiner reads
        a, wa = await RawClient.join(server.port, "ada", room="long", resume_after=17_990)
        assert (wa.first_tick, wa.last_seq) == (17_991, 18_000)
        sources = spy_on_catchup(restored)
        late, w = await RawClient.join(server.port, "lee", room="long", full_history=True)
        assert w.first_tick == 1
        [lee] = [s for s in server.relay.sessions if s.player_id == "lee"]
        [src] = sources
        peak_chunk_bytes = peak_buffered = 0
        caught_up = asyncio.Event()

        async def measure() -> None:  # what the server holds for the late joiner
            nonlocal peak_chunk_bytes, peak_buffered
            while not caught_up.is_set():
                peak_chunk_bytes = max(peak_chunk_bytes, sum(map(len, src._chunk.values())))
                peak_buffered = max(peak_buffered, lee.outbox.statistics().buffered_bytes)
                await asyncio.sleep(0.002)

        async def live() -> list[tuple[int, float]]:  # ada's ticks meanwhile
            loop = asyncio.get_running_loop()
            got = []
            while not caught_up.is_set():
                got.append(((await a.next_tick(10)).number, loop.time()))
            return got

        measurer = asyncio.create_task(measure())
        player = asyncio.create_task(live())
        target = restored.last_sent() + 3
        ticks = await late.ticks_until(target, 60)
        caught_up.set()
        await measurer
        ada_ticks = await player
        assert [t.number for t in ticks] == list(range(1, target + 1))
        assert sum(len(t.inputs) for t in ticks[:18_000]) == 6_000
        on_disk = 18_000 - restored.config.history_ticks  # the rest came from the ring
        assert src.max_chunk <= CATCHUP_CHUNK_TICKS and src.reads >= on_disk // CATCHUP_CHUNK_TICKS
        assert peak_chunk_bytes <= CATCHUP_CHUNK_TICKS * largest_frame
        assert peak_buffered <= CATCHUP_CHUNK_BYTES + 4 * largest_frame  # + a few live ticks
        held = peak_chunk_bytes + peak_buffered
        assert held * 10 < match_bytes  # one chunk and one pump, not the match
        numbers = [n for n, _ in ada_ticks]
        assert numbers == list(range(17_991, 17_991 + len(numbers)))  # the live stream went on
        gaps = sorted(b - a for (_, a), (_, b) in zip(ada_ticks, ada_ticks[1:], strict=False))
        print(
            f"\nFIGURE late join of a 10-minute match: {len(ticks)} ticks "
            f"({match_bytes / 2**20:.1f} MB) streamed in {src.reads} reads of at most "
            f"{src.max_chunk} ticks; held for the joiner at peak: chunk "
            f"{peak_chunk_bytes / 1024:.0f} KB + write buffer {peak_buffered / 1024:.0f} KB "
            f"= {held / 1024:.0f} KB; the resumed player got {len(numbers)} live ticks "
            f"meanwhile, gap-free, p99 gap "
            f"{gaps[int(len(gaps) * 0.99)] * 1000 if gaps else 0:.1f} ms"
        )
        await a.close()
        await late.close()


async def test_an_open_match_with_a_garbled_tick_is_ended_not_restored(tmp_path: Path) -> None:
    async with running_server([sqlite_recorder(tmp_path)]) as server:
        a, _ = await RawClient.join(server.port, "ada")
        await a.ticks_until(5)
    db = sqlite3.connect(tmp_path / "ticks.sqlite3")
    with db:
        db.execute("UPDATE ticks SET frame = ? WHERE number = 3", (b"\x05\xff\xff\xff\xff\xff",))
    db.close()
    rec = sqlite_recorder(tmp_path)
    async with running_server([rec]) as server:
        assert rec.rooms_restored == 0 and "r" not in server.relay.rooms
    lg = SQLiteTickLog(tmp_path, create=False)
    try:
        [m] = lg.matches()
        assert m.end_reason == "unreadable at restart" and m.tick_count >= 5
    finally:
        lg.close()
