"""Helpers of the cluster tests: real redis-server and tickcast node processes,
and a resilient raw-protocol player that follows redirects and resumes.

Every process gets a free port on 127.0.0.1 and is stopped by the test's
context managers; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio as aioredis

from tests.support import LISTEN_LINE, RawClient, hello_frame, input_frame
from tickcast import wire
from tickcast.cluster.redis_store import RedisStore, room_key
from tickcast.proto import pb

if TYPE_CHECKING:
    from tickcast.client import Client

SRC = str(Path(__file__).resolve().parents[1] / "src")
STARTUP_TIMEOUT = 20.0
REDIS_MISSING = (
    "redis-server is not installed (the cluster tests run a real one): install it, "
    "e.g. `apt-get install -y redis-server` on Debian or Ubuntu (.ci/run does)"
)


def redis_server() -> str:
    """The path of `redis-server`; without one, fail the test with what to install."""
    path = shutil.which("redis-server")
    if path is None:
        pytest.fail(REDIS_MISSING, pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll `predicate()` (sync or async) until true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_for_redis(url: str) -> None:
    """Wait (at most STARTUP_TIMEOUT) until the redis-server at `url` answers PING."""
    client = aioredis.from_url(url)
    try:
        async def up() -> bool:
            try:
                return bool(await client.ping())
            except (aioredis.RedisError, OSError):
                return False

        await wait_until(up, STARTUP_TIMEOUT, "redis-server to answer", 0.05)
    finally:
        await client.aclose()


class RedisProcess:
    """A redis-server of a test (no persistence unless `aof`)."""

    def __init__(self, workdir: Path, aof: bool = False, password: str = "") -> None:
        self.port = free_port()
        self.workdir = workdir
        self.aof = aof
        self.password = password  # --requirepass; the url carries it
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "warning"]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else [
            "--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = await asyncio.create_subprocess_exec(
            redis_server(), *args, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_for_redis(self.url)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(sig)
            await asyncio.wait_for(proc.wait(), 10)

    def client(self) -> aioredis.Redis:
        return aioredis.from_url(self.url)


class NodeProcess:
    """`python -m tickcast serve --cluster ...` as a separate process."""

    def __init__(self, redis_url: str, logdir: Path, name: str, *flags: str) -> None:
        self.redis_url = redis_url
        self.logfile = logdir / f"{name}.log"
        self.data_dir = logdir / f"{name}-data"  # its match archive (each node its own)
        self.name = name
        self.flags = flags
        self.port = 0
        self.http_port = 0  # with "--http" among the flags
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": SRC, "TICKCAST_LOG_LEVEL": "INFO"}
        port = free_port()
        with open(self.logfile, "ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tickcast", "serve", "--port", str(port), "--no-http",
                "--cluster", self.redis_url, "--server-id", self.name,
                "--data-dir", str(self.data_dir), *self.flags,
                stdout=asyncio.subprocess.PIPE, stderr=err, env=env,
            )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), STARTUP_TIMEOUT)
        m = LISTEN_LINE.match(line.decode().rstrip("\n"))
        assert m is not None, (line, self.log())
        self.port = int(m.group(2))
        if "--http" in self.flags:  # then the HTTP listener's line follows
            line = await asyncio.wait_for(self.proc.stdout.readline(), STARTUP_TIMEOUT)
            self.http_port = int(line.decode().rstrip().rpartition(":")[2])

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def stop(self, timeout: float = 20) -> int:
        proc = self.proc
        if proc is None:
            return 0
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        return proc.returncode or 0

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, nodes: int = 2, *flags: str, aof: bool = False
) -> AsyncIterator[tuple[RedisProcess, list[NodeProcess]]]:
    """A redis-server and `nodes` tickcast nodes on it; all stopped afterwards."""
    redis_proc = RedisProcess(tmp_path / "redis", aof=aof)
    await redis_proc.start()
    procs = [NodeProcess(redis_proc.url, tmp_path, f"node{i}", *flags) for i in range(nodes)]
    try:
        await asyncio.gather(*(p.start() for p in procs))
        yield redis_proc, procs
    finally:
        for p in procs:
            if p.proc is not None and p.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.proc.send_signal(signal.SIGCONT)
                with contextlib.suppress(ProcessLookupError):
                    p.proc.kill()
                await p.proc.wait()
        await redis_proc.stop()


async def redirected_to(port: int, player_id: str, room: str) -> str:
    """Send a player's Hello to the node at `port`: the redirect address it answers."""
    client = await RawClient.connect(port)
    try:
        client.send(hello_frame(player_id, room))
        kick = await client.expect_kick(10)
    finally:
        await client.close()
    assert kick.reason == pb.REASON_REDIRECT, kick
    return kick.redirect


@contextlib.asynccontextmanager
async def redis_store(tmp_path: Path, lease_seconds: float) -> AsyncIterator[RedisStore]:
    """A `RedisStore` on a fresh redis-server of its own (stopped afterwards)."""
    redis_proc = RedisProcess(tmp_path / "redis")
    await redis_proc.start()
    store = RedisStore(redis_proc.url, lease_seconds=lease_seconds)
    try:
        yield store
    finally:
        await store.close()
        await redis_proc.stop()


async def ticks_across_drain(client: Client, owner: NodeProcess, next_port: int) -> list[int]:
    """The numbers of the ticks `client` sees while its room's `owner` is drained
    (SIGTERM at the 10th tick) until it plays at `next_port` (40 ticks in all);
    checks that they are consecutive and that the client reconnected."""
    numbers: list[int] = []
    async for tick in client.ticks():
        numbers.append(tick.number)
        if len(numbers) == 10:
            owner.signal(signal.SIGTERM)  # drain: the room moves to the other node
        if client.port == next_port and len(numbers) > 40:
            break
    assert numbers == list(range(numbers[0], numbers[-1] + 1))
    assert client.reconnects >= 1
    return numbers


async def stream_ticks(r: aioredis.Redis, room: str) -> list[tuple[int, bytes]]:
    """Every (tick number, frame) of the room's stream, oldest first."""
    entries = await r.xrange(room_key(room, "log"), "-", "+")
    return [(int(eid.decode().partition("-")[0]), fields[b"f"]) for eid, fields in entries]


class Player:
    """A player that survives node failures: on a lost connection it tries the
    nodes in turn (following REDIRECT), resumes after the last tick it saw and
    resends inputs above the Welcome's last_seq. Keeps every tick frame seen."""

    def __init__(self, player_id: str, room: str, ports: list[int], spectator: bool = False):
        self.player_id = player_id
        self.room = room
        self.ports = ports
        self.spectator = spectator
        self.frames: dict[int, bytes] = {}  # tick number -> the exact frame bytes
        self.duplicates = 0
        self.gaps: list[tuple[int, int]] = []
        self.last = 0
        self.seq = 0
        self.sent: dict[int, bytes] = {}  # seq -> payload, until seen in a tick
        self.slot = 0
        self.reconnects = 0
        self.redirects = 0
        self.kicks: list[pb.Kick] = []
        self.resumed_at: list[float] = []  # time.monotonic() of the first tick after a reconnect
        self.lost_at: list[float] = []
        self.arrivals: list[float] = []  # time.monotonic() of each new tick
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = False
        self.ready = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop = True
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def send_input(self, payload: bytes) -> None:
        """Queue one input (seq increases); sent now if connected, else after resume."""
        self.seq += 1
        self.sent[self.seq] = payload
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(input_frame(self.seq, payload))

    def inputs_seen(self) -> list[tuple[int, int, bytes]]:
        """(slot, seq, payload) of every input in the ticks seen, in order."""
        out = []
        for n in sorted(self.frames):
            tick = _tick(self.frames[n])
            out += [(i.slot, i.seq, i.payload) for i in tick.inputs]
        return out

    async def _run(self) -> None:
        index = 0
        port = self.ports[0]
        redirects_in_a_row = 0
        while not self._stop:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 3
                )
            except (OSError, TimeoutError):
                index += 1
                port = self.ports[index % len(self.ports)]
                await asyncio.sleep(0.05)
                continue
            outcome = await self._session(reader, writer)
            with contextlib.suppress(Exception):
                writer.close()
            self._writer = None
            if isinstance(outcome, pb.Kick) and outcome.reason == pb.REASON_REDIRECT:
                self.redirects += 1
                redirects_in_a_row += 1
                if redirects_in_a_row <= 3 and outcome.redirect:
                    port = int(outcome.redirect.rsplit(":", 1)[1])
                    continue
            redirects_in_a_row = 0 if outcome == "welcomed" else redirects_in_a_row
            if self._stop:
                return
            self.lost_at.append(time.monotonic())
            index += 1
            port = self.ports[index % len(self.ports)]
            await asyncio.sleep(0.05)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> pb.Kick | str:
        framer = wire.Framer(1 << 26)
        writer.write(hello_frame(self.player_id, self.room, resume_after=self.last,
                                 spectator=self.spectator))
        welcomed = False
        first_after_welcome = True
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), 30)
                if not data:
                    return "welcomed" if welcomed else "eof"
                for body in framer.feed(data):
                    msg = wire.decode_server_frame_body(body)
                    kind = msg.WhichOneof("body")
                    if kind == "kick":
                        self.kicks.append(msg.kick)
                        return msg.kick
                    if kind == "welcome":
                        welcomed = True
                        if self.slot == 0:
                            self.slot = msg.welcome.slot
                        else:
                            self.reconnects += 1
                        self._writer = writer
                        for seq in sorted(self.sent):
                            if seq > msg.welcome.last_seq:
                                writer.write(input_frame(seq, self.sent[seq]))
                        self.ready.set()
                    elif kind == "tick":
                        self._tick(msg.tick.number, body)
                        if first_after_welcome and self.reconnects:
                            self.resumed_at.append(time.monotonic())
                        first_after_welcome = False
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return "welcomed" if welcomed else "error"

    def _tick(self, number: int, body: bytes) -> None:
        if number in self.frames:
            self.duplicates += 1
            return
        if self.last and number != self.last + 1:
            self.gaps.append((self.last, number))
        self.frames[number] = wire.frame(body)
        self.arrivals.append(time.monotonic())
        self.last = max(self.last, number)
        for i in _tick(self.frames[number]).inputs:
            if i.slot == self.slot:
                self.sent.pop(i.seq, None)


def longest_pause(players: list[Player], after: float = 0.0) -> float:
    """The longest time any player waited between two consecutive ticks (since `after`)."""
    worst = 0.0
    for p in players:
        times = [t for t in p.arrivals if t >= after]
        worst = max([worst, *(b - a for a, b in zip(times, times[1:], strict=False))])
    return worst


def _tick(frame: bytes) -> pb.Tick:
    return wire.decode_server_frame_body(frame[wire.prefix_length(frame):]).tick
