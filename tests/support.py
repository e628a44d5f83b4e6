"""Shared test helpers: a raw protocol client over real sockets, and a server runner.

`RawClient` speaks protocol v1 directly (no SDK), so tests of the server see
exactly the bytes on the wire. Every wait is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tickcast import wire
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.server import Server

DEFAULT_TIMEOUT = 5.0


def hello_frame(player_id: str, room: str = "r", **fields: Any) -> bytes:
    fields.setdefault("protocol_version", 1)
    return client_frame(hello=pb.Hello(player_id=player_id, room=room, **fields))


def client_frame(**body: Any) -> bytes:
    """A framed ClientMessage, e.g. client_frame(input=pb.Input(seq=1, payload=b"x"))."""
    return wire.frame(pb.ClientMessage(**body).SerializeToString())


def input_frame(seq: int, payload: bytes = b"") -> bytes:
    return client_frame(input=pb.Input(seq=seq, payload=payload))


class RawClient:
    """A protocol v1 client over TCP that keeps every server frame, raw and parsed."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = wire.Framer(1 << 26)
        self.raw: list[bytes] = []  # every frame body received, in order
        self._pending: list[bytes] = []
        self.eof = False

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RawClient:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), DEFAULT_TIMEOUT
        )
        return cls(reader, writer)

    @classmethod
    async def join(
        cls, port: int, player_id: str, room: str = "r", **hello: Any
    ) -> tuple[RawClient, pb.Welcome]:
        """Connect, send Hello, and wait for the Welcome (fails on a Kick)."""
        c = await cls.connect(port)
        c.send(hello_frame(player_id, room, **hello))
        msg = await c.next_message()
        assert msg.HasField("welcome"), f"expected Welcome, got {msg}"
        return c, msg.welcome

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def send_input(self, seq: int, payload: bytes = b"") -> None:
        self.writer.write(input_frame(seq, payload))

    async def next_body(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """The next raw server frame body; raises EOFError at end of stream."""
        async def read() -> bytes:
            while not self._pending:
                data = await self.reader.read(65536)
                if not data:
                    self.eof = True
                    raise EOFError("server closed the connection")
                self._pending.extend(self.framer.feed(data))
            body = self._pending.pop(0)
            self.raw.append(body)
            return body

        return await asyncio.wait_for(read(), timeout)

    async def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> pb.ServerMessage:
        return wire.decode_server_frame_body(await self.next_body(timeout))

    async def next_tick(self, timeout: float = DEFAULT_TIMEOUT) -> pb.Tick:
        """The next Tick, skipping Pongs; fails on a Kick."""
        while True:
            msg = await self.next_message(timeout)
            if msg.HasField("tick"):
                return msg.tick
            assert not msg.HasField("kick"), f"unexpected kick: {msg.kick}"

    async def ticks_until(self, number: int, timeout: float = DEFAULT_TIMEOUT) -> list[pb.Tick]:
        """Every Tick up to and including `number`."""
        out: list[pb.Tick] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not out or out[-1].number < number:
            out.append(await self.next_tick(max(0.01, end - loop.time())))
        return out

    async def expect_kick(self, timeout: float = DEFAULT_TIMEOUT) -> pb.Kick:
        """Read until a Kick arrives (skipping ticks), then expect the close."""
        while True:
            msg = await self.next_message(timeout)
            if msg.HasField("kick"):
                with contextlib.suppress(EOFError, ConnectionError, asyncio.TimeoutError):
                    await self.next_body(timeout)
                    raise AssertionError("a frame came after the Kick")
                return msg.kick

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


async def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll `condition()` until it is true; fail after `timeout` seconds (a slow machine
    is fine, a condition that never holds is not)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_config(**overrides: Any) -> Config:
    """A config for tests: a free port, fast ticks, quiet logs."""
    overrides.setdefault("port", 0)
    overrides.setdefault("tick_rate", 50)
    overrides.setdefault("server_id", "test")
    overrides.setdefault("shutdown_timeout", 1.0)
    overrides.setdefault("http_port", 0)  # never the default 8080, if a test starts HTTP
    return Config(**overrides)


@contextlib.asynccontextmanager
async def running_server(
    services: list[Any] | None = None, **overrides: Any
) -> AsyncIterator[Server]:
    """A started Server on a free port; closed (and awaited) afterwards.

    Tests do not record matches unless they pass a recorder in `services`
    (`tickcast.store.Recorder`, with `data_dir` under tmp_path)."""
    server = Server(test_config(**overrides), services)
    await server.start()
    try:
        yield server
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)


def tick_content(tick: pb.Tick) -> bytes:
    """The spec's chain input for `tick` (the Tick without chain and desyncs,
    canonically encoded), computed with the generated code, independently of
    the hand encoders in tickcast.wire."""
    bare = pb.Tick()
    bare.CopyFrom(tick)
    bare.ClearField("chain")
    del bare.desyncs[:]
    return bare.SerializeToString()


# ---------------------------------------------------------------- added for the integration suite


async def expect_final_kick(client: RawClient, timeout: float = DEFAULT_TIMEOUT) -> pb.Kick:
    """Read until a Kick (skipping Ticks and Pongs), then require the end of the stream.

    Stricter than `RawClient.expect_kick`: a server that sends its Kick but keeps
    the socket open fails here (the read times out instead of hitting EOF).
    """
    while True:
        msg = await client.next_message(timeout)
        if msg.HasField("kick"):
            break
        assert msg.HasField("tick") or msg.HasField("pong"), f"unexpected frame {msg}"
    try:
        body = await client.next_body(timeout)
    except (EOFError, ConnectionError):
        return msg.kick
    raise AssertionError(f"a frame came after the Kick: {body!r}")


async def wait_until(
    condition: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT, what: str = "condition"
) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


class SocketClient:
    """A protocol client on a bare non-blocking socket that reads only when asked.

    `RawClient` sits on a StreamReader, which keeps reading (up to its buffer
    limit) whether or not the test asks; a client that must really stop reading,
    so that the server's output backs up into the kernel, needs a bare socket.
    `rcvbuf` sets SO_RCVBUF before connecting, like the bench's stalled client.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.framer = wire.Framer(1 << 26)
        self.pending: list[bytes] = []
        self.raw: list[bytes] = []
        self.eof = False

    @classmethod
    async def connect(cls, port: int, rcvbuf: int = 0, host: str = "127.0.0.1") -> SocketClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), DEFAULT_TIMEOUT)
        return cls(sock)

    async def send(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_sendall(self.sock, data), DEFAULT_TIMEOUT)

    async def next_body(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """The next server frame body; EOFError at the end (ConnectionError on a reset)."""
        loop = asyncio.get_running_loop()

        async def read() -> bytes:
            while not self.pending:
                data = await loop.sock_recv(self.sock, 1 << 16)
                if not data:
                    self.eof = True
                    raise EOFError("server closed the connection")
                self.pending.extend(self.framer.feed(data))
            body = self.pending.pop(0)
            self.raw.append(body)
            return body

        return await asyncio.wait_for(read(), timeout)

    async def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> pb.ServerMessage:
        return wire.decode_server_frame_body(await self.next_body(timeout))

    def close(self) -> None:
        self.sock.close()


async def join_two_and_drop_one(port: int) -> tuple[RawClient, pb.Welcome, pb.Welcome, int]:
    """ada and bob join; bob drops (no Leave) after its first tick.

    Returns ada's client, both Welcomes and the last tick bob received."""
    ada, wa = await RawClient.join(port, "ada")
    bob, wb = await RawClient.join(port, "bob")
    last = (await bob.next_tick()).number
    await bob.close()
    return ada, wa, wb, last


def tick_number(body: bytes) -> int:
    """The number of the Tick in a raw ServerMessage body (0 if it is not a Tick)."""
    msg = wire.decode_server_frame_body(body)
    return msg.tick.number if msg.HasField("tick") else 0


def assert_gap_free(numbers: list[int]) -> None:
    """Tick numbers received in order: consecutive, no gap, no duplicate, no reorder."""
    assert numbers, "no ticks received"
    expected = list(range(numbers[0], numbers[0] + len(numbers)))
    if numbers != expected:
        bad = next(i for i, (a, b) in enumerate(zip(numbers, expected, strict=True)) if a != b)
        raise AssertionError(
            f"tick stream broken at index {bad}: got {numbers[max(0, bad - 3) : bad + 3]}"
        )


SRC_DIR = str(Path(__file__).resolve().parent.parent / "src")
SERVE_COMMAND = (sys.executable, "-m", "tickcast", "serve", "--port", "0")
"""`tickcast serve` on a free TCP port (run it with PYTHONPATH=SRC_DIR)."""
RESILIENT_CLIENT: dict[str, Any] = dict(
    dead_after=1.0,
    ping_interval=0.25,
    backoff_initial=0.02,
    backoff_max=0.3,
    max_attempts=1000,
    connect_timeout=2.0,
)
"""Client options for tests that cut connections on purpose (ChaosProxy): notice a
dead link within a second and keep reconnecting, quickly, as long as the test runs."""
LISTEN_LINE = re.compile(r"^tickcast listening on tcp://(127\.0\.0\.1):(\d+)(?: \(auth: .*\))?$")


class ServerProcess:
    """`python -m tickcast serve` as a subprocess of the test (this tree's src first).

    Collects stderr (the logs) in the background so the pipe never fills, and
    parses the single stdout line that announces the real port.
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.port = 0
        self.listen_line = ""
        self.stderr_lines: list[str] = []
        self._stderr_task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
        # the HTTP side on a free port, never the default 8080 (tests run side by side)
        # and every connection's lines in the log (tests wait for them; off by default)
        full_env = {**os.environ, "PYTHONPATH": SRC_DIR, "TICKCAST_HTTP_PORT": "0",
                    "TICKCAST_LOG_CONNECTIONS": "1", **(env or {})}
        proc = await asyncio.create_subprocess_exec(
            *SERVE_COMMAND,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
        )
        self = cls(proc)
        self._stderr_task = asyncio.get_running_loop().create_task(self._collect_stderr())
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
        except BaseException:
            await self.kill()
            raise
        self.listen_line = line.decode().rstrip("\n")
        m = LISTEN_LINE.match(self.listen_line)
        if m is None:
            await self.kill()
            raise AssertionError(
                f"bad listen line {self.listen_line!r}; stderr: {self.stderr_lines[-5:]}"
            )
        self.port = int(m.group(2))
        return self

    async def _collect_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.stderr_lines.append(line.decode(errors="replace").rstrip("\n"))

    def logged(self, fragment: str) -> bool:
        return any(fragment in line for line in self.stderr_lines)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def wait(self, timeout: float = 15.0) -> int:
        rc = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stderr_task, 5)
        return rc

    async def kill(self) -> None:
        """Make sure the process is gone (test cleanup)."""
        if self.proc.returncode is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            await self.wait(10)


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of process `pid`."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
    return total


def room_names_in_distinct_phases(phases: int) -> list[str]:
    """One room name per tick phase, in phase order (a room's phase is crc32(name) % phases)."""
    import zlib

    found: dict[int, str] = {}
    i = 0
    while len(found) < phases:
        name = f"room-{i}"
        found.setdefault(zlib.crc32(name.encode()) % phases, name)
        i += 1
    return [found[p] for p in range(phases)]
