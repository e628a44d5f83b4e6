"""`CycleWriter`: write each tick cycle off the event loop, cheaply, and never let a
stalled disk stall the loop.

Measured on this project's kernel (6.18, ext4; docs/recording.md, "The write
scheme"): a `write(2)` to a frozen file system blocks in the kernel,
uninterruptibly (a signal does not end it), and so does `pwritev(...,
RWF_NOWAIT)`, which ext4 refuses (EOPNOTSUPP) for buffered files anyway. So no
write may run on the loop. But the classic hand-off (a queue to a writer
thread, `call_soon_threadsafe` back) makes the writer win the GIL back from a
busy loop twice per cycle: p99 of 71 ms record-to-deliver measured with a loop
busy 50 % of the time.

The scheme here: the loop hands the cycle to the writer thread and *waits* for
it, up to `wait_bound` (default 2 ms). Waiting releases the GIL, so the writer
runs at once; a healthy write takes ~20-40 us, and the loop then delivers
inline: no self-pipe wake-up, no `call_soon_threadsafe`, no GIL contention.
If the bound passes (a stalled disk, a starved thread), the cycle turns
asynchronous: the loop goes on, later cycles queue behind it (their rooms
pause: write before send), and when the writer is done it merges everything
queued into one write (group commit) and schedules the callbacks on the loop,
in order. The loop waits at most `wait_bound` once per stall, not per cycle.

With durability `full` the loop never waits (an fdatasync takes milliseconds):
every cycle is asynchronous, and cycles queued during one fdatasync share the
next one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tickcast.store.log import Cycle, TickLog

WAIT_BOUND = 0.002
"""Seconds the loop waits for a cycle's write before it goes on without it."""

Done = Callable[[BaseException | None], None]


@dataclass(slots=True, eq=False)
class _Job:
    cycle: Cycle | None  # None: a `call`
    done: Done
    submitted: float
    finished: bool = False
    error: BaseException | None = None
    fn: Callable[[], object] | None = None


class CycleWriter:
    """Writes cycles to `log` on one thread; calls each cycle's `done(error)` on the loop,
    in submission order, once the cycle is written (error None) or has failed."""

    def __init__(
        self,
        log: TickLog,
        loop: asyncio.AbstractEventLoop,
        *,
        wait: bool = True,
        wait_bound: float = WAIT_BOUND,
    ) -> None:
        self.log = log
        self.loop = loop
        self.wait = wait  # False: never wait on the loop (durability full)
        self.wait_bound = wait_bound
        self._mutex = threading.Lock()
        self._wake = threading.Lock()  # released = there is work (a binary semaphore)
        self._wake.acquire()
        self._wake_pending = False
        self._done = threading.Lock()  # released by the writer for the job the loop waits on
        self._done.acquire()
        self._queue: list[_Job] = []
        self._waited: _Job | None = None
        self._pending: list[_Job] = []  # submitted, done() not called yet (loop side)
        self._closing = False
        self.inline = 0  # cycles written while the loop waited
        self.deferred = 0  # cycles that went asynchronous
        self.writes = 0  # write_cycle calls (a group commit is one)
        self.max_submit = 0.0  # the longest a submit() held the loop (seconds)
        self._thread = threading.Thread(target=self._run, name="tickcast-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ the loop side

    def submit(self, cycle: Cycle, done: Done) -> bool:
        """Write `cycle`; True if it was written (and `done` called) before returning."""
        t0 = time.perf_counter()
        job = _Job(cycle, done, t0)
        waits = self.wait and not self._pending
        self._pending.append(job)
        with self._mutex:
            if self._closing:
                raise RuntimeError("the cycle writer is closed")
            self._queue.append(job)
            if waits:
                self._waited = job
            self._signal()
        if not waits:
            self.deferred += 1
            return False
        finished = self._done.acquire(timeout=self.wait_bound)
        if not finished:
            with self._mutex:
                if job.finished:  # it finished between the timeout and here
                    finished = True
                else:
                    self._waited = None
            if finished:
                self._done.acquire()  # the writer released it for this job: take it back
        elapsed = time.perf_counter() - t0
        if elapsed > self.max_submit:
            self.max_submit = elapsed
        if not finished:
            self.deferred += 1
            return False
        self.inline += 1
        self._pending.remove(job)
        done(job.error)
        return True

    def call(self, fn: Callable[[], object], done: Done) -> None:
        """Run `fn` on the writer thread, in order with the cycles (housekeeping that
        writes, such as `prune`, which deletes files: it must not run on the loop
        either); `done(error)` follows on the loop like a cycle's."""
        job = _Job(None, done, time.perf_counter(), fn=fn)
        self._pending.append(job)
        with self._mutex:
            if self._closing:
                raise RuntimeError("the cycle writer is closed")
            self._queue.append(job)
            self._signal()

    @property
    def pending(self) -> int:
        """Cycles submitted and not yet done: more than zero for long means a stalled disk."""
        return len(self._pending)

    def oldest_pending(self) -> float:
        """Seconds the oldest cycle not yet done has waited (0.0: none)."""
        return time.perf_counter() - self._pending[0].submitted if self._pending else 0.0

    def _complete(self, jobs: list[_Job]) -> None:
        pending = self._pending
        for job in jobs:
            pending.remove(job)
            job.done(job.error)

    def close(self) -> None:
        """Stop after writing what was submitted (their `done` still run on the loop)."""
        with self._mutex:
            self._closing = True
            self._signal()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (off the loop, or with a timeout); True if it ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _signal(self) -> None:  # under _mutex
        if not self._wake_pending:
            self._wake_pending = True
            self._wake.release()

    # ------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        while True:
            self._wake.acquire()
            with self._mutex:
                self._wake_pending = False
                jobs, self._queue = self._queue, []
                closing = self._closing
            while jobs:  # cycles in runs (one write each), calls one by one, in order
                n = 1
                if jobs[0].fn is None:
                    while n < len(jobs) and jobs[n].fn is None:
                        n += 1
                self._write(jobs[:n])
                jobs = jobs[n:]
            if closing:
                with self._mutex:
                    if not self._queue:
                        return

    def _write(self, jobs: list[_Job]) -> None:
        error: BaseException | None = None
        first = jobs[0]
        if first.fn is not None:
            try:
                first.fn()
            except Exception as exc:
                error = exc
        else:
            cycle = first.cycle
            if len(jobs) > 1:
                cycle = Cycle()
                for job in jobs:
                    assert job.cycle is not None
                    cycle.extend(job.cycle)
            assert cycle is not None
            try:
                self.log.write_cycle(cycle)
            except Exception as exc:  # DiskFull, LogIOError...: the caller decides
                error = exc
            self.writes += 1
        with self._mutex:
            for job in jobs:
                job.finished, job.error = True, error
            waited = self._waited is not None and self._waited in jobs
            if waited:
                self._waited = None
        if waited:
            self._done.release()
            return
        try:
            self.loop.call_soon_threadsafe(self._complete, jobs)
        except RuntimeError:  # the loop is closed: nobody left to tell
            pass
