"""The crash loop: load, SIGKILL at a random moment, restart, resume; 20 rounds.

Each round starts `tickcast serve` as a child process recording to a tmp data
dir, lets three bot players (100 inputs per second each, paced by the clock so
a slow machine does not lower the rate: 300 inputs per second together) play
for a random fraction of a second, and kills the server with SIGKILL. The
players reconnect to the restarted server and resend every input above
`Welcome.last_seq`. Each resumes from a random tick up to 20 before the last
one it received, so its resumed stream overlaps what it saw before the crash
and the overlap is compared byte for byte. At the end the test reports (and
asserts) ticks lost, inputs lost and doubled, gaps and repeats in every
stream, byte-identity of the resumed overlaps, between the players' streams
and with the log, and the input rate it really sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from support import RawClient, hello_frame

import tickcast
from tickcast.proto import pb
from tickcast.store.log import iter_ticks, tick_of_frame
from tickcast.store.sqlite import SQLiteTickLog

ROUNDS = 20
PLAYERS = ("ada", "bob", "cyd")
INPUTS_PER_SECOND = 100  # per player: under the server's default --input-rate of 120
RESUME_OVERLAP = 20  # a resume asks again for up to this many ticks it already has
SRC = str(Path(tickcast.__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_server(port: int, data_dir: Path) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickcast", "serve", "--port", str(port),
        "--data-dir", str(data_dir), "--tick-rate", "50", "--log-level", "WARNING",
        "--server-id", "crash", "--record", "--no-http", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    if b"listening" not in line:
        err = await proc.stderr.read() if proc.stderr else b""
        raise AssertionError(f"server did not start: {line!r} {err.decode()[-2000:]}")
    return proc


class Player:
    """A bot player that keeps every tick it received and every input it sent."""

    def __init__(self, player_id: str, rng: random.Random) -> None:
        self.id = player_id
        self.rng = rng
        self.ticks: dict[int, bytes] = {}
        self.last = 0  # the newest tick received
        self.expected = 0  # the number the next tick must have on this connection
        self.gaps = 0
        self.repeats = 0
        self.overlap_compared = 0  # ticks received again after a resume, compared
        self.overlap_mismatched = 0
        self.sent: dict[int, bytes] = {}
        self.sending_seconds = 0.0
        self.client: RawClient | None = None
        self.joined = False

    async def connect(self, port: int) -> None:
        c = await RawClient.connect(port)
        # a resume asks for at least tick 2 on (resume_after = 0 would be a fresh join)
        resume_after = max(min(1, self.last), self.last - self.rng.randint(0, RESUME_OVERLAP))
        c.send(hello_frame(self.id, "r", resume_after=resume_after))
        msg = await c.next_message(10)
        assert msg.HasField("welcome"), f"{self.id}: expected Welcome, got {msg}"
        w = msg.welcome
        if self.joined:
            assert w.first_tick == resume_after + 1
        else:
            self.last = w.first_tick - 1
            self.joined = True
        self.expected = w.first_tick
        for seq in sorted(self.sent):
            if seq > w.last_seq:
                c.send_input(seq, self.sent[seq])
        self.client = c

    async def read(self) -> None:
        c = self.client
        assert c is not None
        while True:
            try:
                body = await c.next_body(30)
            except (EOFError, ConnectionError, OSError):
                return
            msg = pb.ServerMessage.FromString(body)
            if msg.HasField("kick"):
                return
            if not msg.HasField("tick"):
                continue
            n = msg.tick.number
            if n > self.expected:
                self.gaps += 1
            elif n < self.expected:
                self.repeats += 1
            self.expected = n + 1
            seen = self.ticks.get(n)
            if seen is not None:  # asked for again by the resume: must be the same bytes
                self.overlap_compared += 1
                self.overlap_mismatched += seen != body
                continue
            self.ticks[n] = body
            self.last = max(self.last, n)

    async def send(self, stop: asyncio.Event) -> None:
        """Send INPUTS_PER_SECOND inputs a second until `stop`: as many as the clock
        says are due at each wake-up, so a late wake-up does not lower the rate."""
        c = self.client
        assert c is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        due = 0
        try:
            while not stop.is_set():
                due_now = int((loop.time() - started) * INPUTS_PER_SECOND) + 1
                while due < due_now:
                    due += 1
                    seq = len(self.sent) + 1
                    payload = f"{self.id}:{seq}".encode()
                    self.sent[seq] = payload
                    with contextlib.suppress(Exception):
                        c.send_input(seq, payload)
                await asyncio.sleep(0.01)
        finally:
            self.sending_seconds += loop.time() - started

    def sequenced(self, slot: int) -> list[int]:
        return [
            i.seq
            for body in self.ticks.values()
            for i in pb.ServerMessage.FromString(body).tick.inputs
            if i.slot == slot
        ]


@contextlib.asynccontextmanager
async def child_server(port: int, data_dir: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`tickcast serve` as a child process; killed on the way out if still running."""
    proc = await start_server(port, data_dir)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def resume_all(players: list[Player], port: int) -> list[asyncio.Task[None]]:
    """Connect (or resume) every player; their reader tasks."""
    for p in players:
        await p.connect(port)
    return [asyncio.create_task(p.read()) for p in players]


async def play_round(port: int, data_dir: Path, players: list[Player], rng: random.Random) -> None:
    async with child_server(port, data_dir) as proc:
        readers = await resume_all(players, port)
        stop = asyncio.Event()
        senders = [asyncio.create_task(p.send(stop)) for p in players]
        await asyncio.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        stop.set()  # the bots stop when the server dies (the rate is counted while it lives)
        await asyncio.wait_for(proc.wait(), 10)
        await asyncio.wait_for(asyncio.gather(*readers, *senders), 35)
        for p in players:
            assert p.client is not None
            await p.client.close()


async def test_crash_loop_loses_and_doubles_nothing(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    port = free_port()
    players = [Player(pid, rng) for pid in PLAYERS]
    for _ in range(ROUNDS):
        await play_round(port, tmp_path, players, rng)
    inputs = sum(len(p.sent) for p in players)
    input_rate = inputs / max(p.sending_seconds for p in players)

    # a last, clean run: everyone resumes until every input sent is sequenced
    slots = {p.id: i + 1 for i, p in enumerate(players)}
    async with child_server(port, tmp_path) as proc:
        readers = await resume_all(players, port)
        loop = asyncio.get_running_loop()
        end = loop.time() + 15
        while any(len(p.sequenced(slots[p.id])) < len(p.sent) for p in players):
            assert loop.time() < end, "inputs still missing after the final resume"
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 15)
        await asyncio.wait_for(asyncio.gather(*readers), 15)

    # the players' streams: gap-free, no repeats, identical where they overlap
    reference: dict[int, bytes] = {}
    mismatched = 0
    for p in players:
        for n, body in p.ticks.items():
            if reference.setdefault(n, body) != body:
                mismatched += 1
    # the log: every tick a player received is in it, byte-identical
    lg = SQLiteTickLog(tmp_path, create=False)
    try:
        [match] = lg.matches()
        logged = dict(iter_ticks(lg, match.id))
    finally:
        lg.close()
    ticks_lost = sum(1 for n in reference if n not in logged)
    not_identical = sum(1 for n, body in reference.items() if not logged.get(n, b"").endswith(body))
    inputs_lost = inputs_doubled = 0
    for p in players:
        seqs = [
            i.seq
            for f in logged.values()
            for i in tick_of_frame(f).inputs
            if i.slot == slots[p.id]
        ]
        inputs_lost += len(set(p.sent) - set(seqs))
        inputs_doubled += len(seqs) - len(set(seqs))
    gaps = sum(p.gaps for p in players)
    repeats = sum(p.repeats for p in players)
    compared = sum(p.overlap_compared for p in players)
    overlap_mismatched = sum(p.overlap_mismatched for p in players)
    print(
        f"\nFIGURE crash loop (seed {seed}): {ROUNDS} SIGKILLs, {len(logged)} ticks logged, "
        f"{inputs} inputs sent at {input_rate:.0f} inputs/s ({len(players)} bots); "
        f"ticks lost = {ticks_lost}, inputs lost = {inputs_lost}, "
        f"inputs doubled = {inputs_doubled}, gaps = {gaps}, repeats = {repeats}, "
        f"resumed ticks compared with what was seen before the crash = {compared} "
        f"(not byte-identical = {overlap_mismatched}), "
        f"streams not byte-identical to each other or the log = {mismatched + not_identical}"
    )
    assert sorted(logged) == list(range(1, len(logged) + 1))
    assert (ticks_lost, inputs_lost, inputs_doubled) == (0, 0, 0)
    assert (gaps, repeats, mismatched, not_identical, overlap_mismatched) == (0, 0, 0, 0, 0)
    assert compared > 0  # the resumes did overlap what was seen before the crashes
    assert inputs > ROUNDS * 10  # the rate is reported above, not asserted (no timing)
