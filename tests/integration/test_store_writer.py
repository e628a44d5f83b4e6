"""`CycleWriter` (store/writer.py): cycles written off the loop, in order; inline when the
disk is healthy; a frozen disk pauses the cycles, never the loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from fault_support import frozen_fs

from tickcast.store.log import Cycle, MatchStart, iter_ticks
from tickcast.store.segments import SegmentTickLog
from tickcast.store.writer import CycleWriter


def cycle(n: int) -> Cycle:
    c = Cycle(ticks=[(1, n, b"tick %d " % n * 20)])
    if n == 1:
        c.begins.append(MatchStart(1, "r", 30, 0.0))
    return c


async def test_a_healthy_disk_is_written_inline_in_order(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path)
    writer = CycleWriter(lg, asyncio.get_running_loop())
    done: list[int] = []
    inline = 0
    for n in range(1, 201):
        inline += writer.submit(cycle(n), lambda err, n=n: done.append(n if err is None else -n))
        if n % 8 == 0:
            await asyncio.sleep(0)
    while writer.pending:
        await asyncio.sleep(0.01)
    assert done == list(range(1, 201))
    assert inline == writer.inline and writer.inline + writer.deferred == 200
    assert writer.inline > 0  # the common case: delivered without a wake-up of the loop
    print(f"FIGURE {writer.inline} of 200 cycles inline, longest submit "
          f"{writer.max_submit * 1e3:.2f} ms")
    writer.close()
    assert writer.join(10)
    assert [n for n, _ in iter_ticks(lg, 1)] == list(range(1, 201))
    lg.close()


async def test_full_durability_never_waits_and_groups_the_syncs(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path, durability="full")
    writer = CycleWriter(lg, asyncio.get_running_loop(), wait=False)
    done: list[int] = []
    for n in range(1, 101):
        assert not writer.submit(cycle(n), lambda err, n=n: done.append(n if err is None else -n))
    while writer.pending:
        await asyncio.sleep(0.01)
    assert done == list(range(1, 101))
    assert writer.writes < 100  # cycles queued during one fdatasync share the next
    writer.close()
    assert writer.join(10)
    lg.close()


async def test_a_failed_write_is_reported_to_each_cycle_in_order(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path)
    writer = CycleWriter(lg, asyncio.get_running_loop())
    errors: list[str] = []
    writer.submit(cycle(1), lambda err: errors.append(repr(err)))
    writer.submit(cycle(1), lambda err: errors.append(type(err).__name__))  # tick 1 again
    while writer.pending:
        await asyncio.sleep(0.01)
    assert errors == ["None", "ValueError"]
    writer.close()
    assert writer.join(10)
    lg.close()


async def test_a_frozen_disk_pauses_the_cycles_not_the_loop(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    with frozen_fs(tmp_path) as fs:
        lg = SegmentTickLog(fs.path / "data")
        writer = CycleWriter(lg, loop)
        done: list[int] = []
        state = {"n": 0, "beats": 0, "max_gap": 0.0}

        async def ticker() -> None:  # a cycle every 4 ms, as 8 phases at 30 Hz
            last = loop.time()
            while True:
                state["n"] += 1
                writer.submit(cycle(state["n"]), lambda err, n=state["n"]: done.append(
                    n if err is None else -n))
                await asyncio.sleep(0.004)
                now = loop.time()
                state["max_gap"] = max(state["max_gap"], now - last)
                state["beats"] += 1
                last = now

        task = loop.create_task(ticker())
        while len(done) < 20:
            await asyncio.sleep(0.01)
        rescued = threading.Event()  # if the loop were stuck, thaw it so the test can fail

        def rescue() -> None:
            rescued.set()
            fs.thaw()

        await loop.run_in_executor(None, fs.freeze)  # fsfreeze syncs first: not on the loop
        watchdog = threading.Timer(30.0, rescue)
        watchdog.start()
        try:
            beats, delivered = state["beats"], len(done)
            state["max_gap"] = 0.0
            while state["beats"] < beats + 50 and not rescued.is_set():
                await asyncio.sleep(0.01)
            assert not rescued.is_set(), "the loop did not run while the disk was frozen"
            stalled_gap = state["max_gap"]
            # write before send: nothing newer than the write in flight at the freeze
            assert len(done) <= delivered + 1 and writer.pending >= 40
        finally:
            watchdog.cancel()
            await loop.run_in_executor(None, fs.thaw)
        submitted = state["n"]
        while len(done) < submitted:
            await asyncio.sleep(0.01)
        task.cancel()
        while writer.pending:
            await asyncio.sleep(0.01)
        assert done == list(range(1, len(done) + 1))  # in order, none failed, no gap
        print(f"FIGURE frozen disk: the loop ran {state['beats'] - beats} beats of 4 ms while "
              f"frozen, longest gap {stalled_gap * 1e3:.1f} ms, longest submit "
              f"{writer.max_submit * 1e3:.2f} ms; {writer.inline} cycles inline, "
              f"{writer.deferred} deferred in {writer.writes} writes")
        writer.close()
        assert writer.join(10)
        assert [n for n, _ in iter_ticks(lg, 1)] == done
        lg.close()


async def test_calls_run_on_the_writer_in_order_with_the_cycles(tmp_path: Path) -> None:
    lg = SegmentTickLog(tmp_path)
    writer = CycleWriter(lg, asyncio.get_running_loop())
    order: list[str] = []
    threads: list[str] = []
    writer.submit(cycle(1), lambda err: order.append("1"))
    writer.call(lambda: threads.append(threading.current_thread().name),
                lambda err: order.append(f"call {err}"))
    writer.submit(cycle(2), lambda err: order.append("2"))
    writer.call(lambda: 1 / 0, lambda err: order.append(type(err).__name__))
    while writer.pending:
        await asyncio.sleep(0.01)
    assert order == ["1", "call None", "2", "ZeroDivisionError"]
    assert threads == ["tickcast-writer"]
    writer.close()
    assert writer.join(10)
    lg.close()


async def test_a_full_disk_fails_the_cycle_and_it_can_be_written_again(tmp_path: Path) -> None:
    """On a full disk the cycle's done() gets DiskFull and nothing of it is written, so
    the same cycle (the same tick numbers) can go again once there is room."""
    from fault_support import full_disk

    from tickcast.store.errors import DiskFull

    with full_disk(tmp_path, "512k") as disk:
        disk.filler.write_bytes(bytes(128 << 10))
        lg = SegmentTickLog(disk.path / "data")
        writer = CycleWriter(lg, asyncio.get_running_loop())
        results: list[tuple[int, BaseException | None]] = []
        n = 0
        while not any(err for _, err in results):
            n += 1
            writer.submit(cycle(n), lambda err, n=n: results.append((n, err)))
            while writer.pending:
                await asyncio.sleep(0.001)
        failed, err = results[-1]
        assert isinstance(err, DiskFull) and "full" in str(err)
        assert [m for m, e in results if e is None] == list(range(1, failed))
        disk.free()
        again: list[BaseException | None] = []
        writer.submit(cycle(failed), again.append)
        while writer.pending:
            await asyncio.sleep(0.001)
        assert again == [None]
        writer.close()
        assert writer.join(10)
        assert [m for m, _ in iter_ticks(lg, 1)] == list(range(1, failed + 1))
        lg.close()
