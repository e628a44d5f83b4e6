"""Unit tests of the bounded outbox (spec: Fan-out; Resume and Late join pacing):
eviction by bytes and by frames behind, backlogs that drain in time, and the
paced catch-up from a room's history, with memory sinks and a fake clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tickcast import wire
from tickcast.outbox import CATCHUP_CHUNK_BYTES, Outbox
from tickcast.proto import pb
from tickcast.session import SessionState
from tickcast.testing import MemorySink

from .harness import Client, Harness


def data_frame(size: int, tag: int = 0) -> bytes:
    """A frame of exactly `size` bytes (prefix included); contents do not matter here."""
    body_len = size - len(wire.encode_varint(size))
    assert len(wire.encode_varint(body_len)) + body_len == size
    return wire.encode_varint(body_len) + bytes([tag]) * body_len


class RingSource:
    """A TickSource over numbered frames, keeping the newest `keep` of them."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.frames: dict[int, bytes | None] = {}
        self.last = 0

    def add(self, frame: bytes | None) -> int:
        self.last += 1
        self.frames[self.last] = frame
        self.frames.pop(self.last - self.keep, None)
        return self.last

    def first_kept(self) -> int:
        return max(1, self.last - self.keep + 1)

    def last_sent(self) -> int:
        return self.last

    def frame(self, number: int) -> bytes | None:
        return self.frames[number]


# ---------------------------------------------------------------- budget, direct


def test_over_the_byte_limit_is_refused() -> None:
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1024, limit_ticks=1000)
    assert [ob.offer(data_frame(300)) for _ in range(3)] == [True] * 3
    assert ob.statistics().buffered_bytes == 900
    assert ob.offer(data_frame(300)) is False


def test_a_settable_backlog_counts_against_the_byte_limit() -> None:
    sink = MemorySink()
    ob = Outbox(sink, limit_bytes=1024, limit_ticks=1000)
    assert ob.offer(data_frame(10))
    sink.unsent = 1024
    assert ob.offer(data_frame(10))  # exactly at the limit is still within it
    sink.unsent = 1025
    assert ob.offer(data_frame(10)) is False


def test_over_the_frame_limit_is_refused() -> None:
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1 << 20, limit_ticks=3)
    assert [ob.offer(data_frame(5, n)) for n in range(3)] == [True] * 3
    assert ob.statistics().frames_behind == 3
    assert ob.offer(data_frame(5)) is False


def test_frames_behind_count_only_unsent_frames() -> None:
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1 << 20, limit_ticks=3)
    for n in range(3):
        ob.offer(data_frame(10, n))
    sink.drain(19)  # the first frame and part of the second
    assert ob.offer(data_frame(10))
    assert ob.statistics().frames_behind == 3
    assert ob.statistics().buffered_bytes == 21


def test_a_backlog_that_drains_in_time_is_kept() -> None:
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1024, limit_ticks=3)
    sent = [data_frame(100, n) for n in range(12)]
    for chunk in range(4):
        assert all(ob.offer(f) for f in sent[chunk * 3 : chunk * 3 + 3])
        sink.drain()
    assert bytes(sink.delivered) == b"".join(sent)
    sink.resume()
    assert ob.offer(data_frame(100)) and ob.statistics().frames_behind == 0


def test_control_frames_ignore_the_budget() -> None:
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1024, limit_ticks=1)
    for _ in range(5):
        ob.send_now(data_frame(500))
    assert sink.pending == 2500 and not sink.closed


def test_close_sends_the_final_frame_after_what_is_queued() -> None:
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1 << 20, limit_ticks=100)
    ob.offer(data_frame(10, 1))
    ob.close(data_frame(10, 2))
    ob.close(data_frame(10, 3))  # a second close does nothing
    assert ob.offer(data_frame(10, 4))  # after the close: nothing is written
    sink.drain()
    assert bytes(sink.delivered) == data_frame(10, 1) + data_frame(10, 2)
    assert sink.closed and not sink.aborted and sink.writes_after_close == 0


def test_abort_drops_the_queue_and_the_final_frame_with_it() -> None:
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1 << 20, limit_ticks=100)
    ob.offer(data_frame(10, 1))
    ob.abort(data_frame(10, 2))
    assert sink.aborted and sink.pending == 0 and bytes(sink.delivered) == b""


def test_abort_with_nothing_queued_sends_the_final_frame_whole() -> None:
    sink = MemorySink()
    ob = Outbox(sink, limit_bytes=1 << 20, limit_ticks=100)
    ob.offer(data_frame(10, 1))
    ob.abort(data_frame(10, 2))
    assert bytes(sink.delivered) == data_frame(10, 1) + data_frame(10, 2)
    assert sink.aborted


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("offer"), st.integers(1, 400)),
            st.tuples(st.just("drain"), st.integers(0, 900)),
        ),
        max_size=40,
    )
)
def test_budget_accounting_matches_a_model(steps: list[tuple[str, int]]) -> None:
    """offer() is refused exactly when the unsent bytes pass limit_bytes or the
    frames not yet wholly delivered pass limit_ticks."""
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1500, limit_ticks=4)
    ends: list[int] = []  # model: stream offsets where the frames written end
    for kind, n in steps:
        if kind == "drain":
            sink.drain(n)
            continue
        ok = ob.offer(wire.frame(bytes(n)))
        ends.append(len(sink.delivered) + sink.pending)
        unsent_frames = sum(1 for e in ends if e > len(sink.delivered))
        assert ok == (sink.pending <= 1500 and unsent_frames <= 4)
        assert ob.statistics().frames_behind == unsent_frames


# ---------------------------------------------------------------- catch-up, direct


def test_catchup_pumps_about_a_chunk_at_a_time_then_goes_live() -> None:
    size = 5000
    source = RingSource(keep=1000)
    for n in range(1, 101):
        source.add(data_frame(size, n % 256))
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1 << 20, limit_ticks=150)
    assert ob.start_catchup(source, 1)
    assert CATCHUP_CHUNK_BYTES <= sink.pending < CATCHUP_CHUNK_BYTES + size
    pumps = 0
    while ob.catching_up:
        sink.drain()
        before = len(sink.delivered)
        if pumps % 3 == 0:  # live ticks keep coming meanwhile
            live = data_frame(size, pumps % 256)
            source.add(live)
            assert ob.offer(live)
        else:
            assert ob.pump()
        assert len(sink.delivered) == before
        assert sink.pending < CATCHUP_CHUNK_BYTES + size
        pumps += 1
    live = data_frame(size, 255)
    source.add(live)
    assert ob.offer(live)
    sink.drain()
    expected = b"".join(source.frames[n] or b"" for n in range(1, source.last + 1))
    assert bytes(sink.delivered) == expected  # no gap, no duplicate
    assert pumps > 5


def test_catchup_skips_frames_the_source_did_not_send() -> None:
    source = RingSource(keep=100)
    for n in range(1, 11):
        source.add(data_frame(20, n) if n % 3 == 0 else None)
    sink = MemorySink()
    ob = Outbox(sink, limit_bytes=1 << 20, limit_ticks=150)
    assert ob.start_catchup(source, 2)
    assert not ob.catching_up
    assert bytes(sink.delivered) == b"".join(data_frame(20, n) for n in (3, 6, 9))


def test_catchup_that_falls_out_of_the_ring_is_refused() -> None:
    source = RingSource(keep=20)
    for _ in range(20):
        source.add(data_frame(16_000))
    sink = MemorySink(paused=True)
    ob = Outbox(sink, limit_bytes=1 << 20, limit_ticks=150)
    assert ob.start_catchup(source, 1)
    assert ob.catching_up
    results = []
    for _ in range(20):
        f = data_frame(16_000)
        source.add(f)
        results.append(ob.offer(f))
    assert results[0] and results[-1] is False


# ---------------------------------------------------------------- through the relay


def ticks_received(c: Client) -> list[int]:
    return [m.tick.number for m in c.messages() if m.HasField("tick")]


def test_slow_consumer_over_the_frame_limit_is_evicted() -> None:
    h = Harness(queue_limit_ticks=5, reconnect_grace=1.0)
    a, _ = h.join("a")
    slow, w = h.join("slow", paused=True)
    for _ in range(4):
        h.tick()
    assert slow.session.state is SessionState.JOINED
    h.tick(2)
    assert slow.session.state is SessionState.CLOSED
    assert slow.sink.aborted and slow.sink.pending == 0  # queued ticks dropped
    a.input(1)
    h.tick(15)  # the room goes on; the evicted player's slot goes after the grace
    ticks = a.ticks()
    assert [t.number for t in ticks] == list(range(1, 22))
    assert [list(t.left) for t in ticks if t.left] == [[w.slot]]


def test_slow_consumer_over_the_byte_limit_is_evicted() -> None:
    h = Harness(queue_limit_bytes=4096)
    a, _ = h.join("a")
    slow, _ = h.join("slow", paused=True)
    a.input(1, b"x" * 3000)
    h.tick()
    assert slow.session.state is SessionState.JOINED
    a.input(2, b"y" * 3000)
    h.tick()
    assert slow.session.state is SessionState.CLOSED and slow.sink.aborted
    assert h.relay.rooms["r"].members == 2  # still a member: the grace applies


def test_slow_consumer_kick_is_not_written_behind_a_backlog() -> None:
    h = Harness(queue_limit_bytes=1024)
    h.join("a")
    slow, _ = h.join("slow")
    h.tick()
    slow.sink.unsent = 2000  # as if the kernel buffer were full
    h.tick()
    assert slow.session.state is SessionState.CLOSED and slow.sink.aborted
    # the Kick is written only into an empty buffer, so that it cannot arrive cut
    assert [m.WhichOneof("body") for m in slow.messages()] == ["welcome", "tick", "tick"]


def test_a_backlog_that_drains_in_time_is_not_evicted() -> None:
    h = Harness(queue_limit_ticks=5)
    a, _ = h.join("a")
    slow, _ = h.join("slow", paused=True)
    for seq in range(1, 31):
        a.input(seq, bytes(range(256)))
        h.tick()
        if seq % 4 == 0:
            slow.sink.drain()
    slow.sink.resume()
    assert slow.session.state is SessionState.JOINED
    assert slow.tick_bodies() == a.tick_bodies()


def test_catchup_through_the_relay_is_paced_and_joins_live_without_gap() -> None:
    h = Harness()
    a, _ = h.join("a")
    for seq in range(1, 61):
        a.input(seq, bytes(range(256)) * 16)  # 4 KiB per tick
        h.tick()
    late, w = h.join("late", full_history=True, paused=True)
    assert w.first_tick == 1
    ob = late.session.outbox
    largest = max(len(b) for b in a.tick_bodies().values()) + 3
    assert late.sink.pending <= CATCHUP_CHUNK_BYTES + largest
    seq = 60
    while ob.catching_up:
        late.sink.drain()
        ob.pump()  # what the transport does when its buffer drains (resume_writing)
        assert late.sink.pending <= CATCHUP_CHUNK_BYTES + largest
        seq += 1
        a.input(seq, b"live")
        h.tick()
    h.tick(3)
    late.sink.resume()
    assert late.session.state is SessionState.JOINED
    assert ticks_received(late) == list(range(1, h.relay.rooms["r"].last_sent() + 1))
    assert late.tick_bodies() == a.tick_bodies()


def test_catchup_that_falls_out_of_the_ring_is_evicted() -> None:
    h = Harness(history_seconds=1.0)
    a, _ = h.join("a")
    for seq in range(1, 12):
        a.input(seq, b"z" * 20_000)
        h.tick()
    late, _ = h.join("late", full_history=True, paused=True)  # it stops reading
    room = h.relay.rooms["r"]
    needed = late.sink.writes  # the Welcome and ticks 1..needed-1 were written
    assert 1 < needed <= room.last_sent()
    while room.first_kept() < needed:
        h.tick()
        assert late.session.state is SessionState.JOINED
    late.sink.resume()  # it reads again, but too late: the next tick pushes `needed` out
    h.tick()
    kick = late.kick()
    assert kick.reason == pb.REASON_SLOW_CONSUMER and late.sink.aborted
    assert ticks_received(late) == list(range(1, needed))


def test_a_reader_that_caught_up_in_one_pump_gets_time_to_read_it() -> None:
    """Catch-up is paced by bytes, not frames: a whole small history can sit in the
    socket buffer when catch-up ends. Those frames are not live frames behind."""
    h = Harness(queue_limit_ticks=20)
    a, _ = h.join("a")
    h.tick(100)
    late, _ = h.join("late", full_history=True, paused=True)
    assert not late.session.outbox.catching_up  # all 100 small ticks went at once
    h.tick(10)
    assert late.session.state is SessionState.JOINED
    late.sink.drain()
    assert ticks_received(late) == list(range(1, 111))
    h.tick(21)  # but live frames left unread still count
    assert late.session.state is SessionState.CLOSED
