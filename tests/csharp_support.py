"""Helpers of the C# client's tests: build it with Mono, and drive its harness.

`clients/csharp/build.sh` compiles the library, its unit tests and
`Tickcast.Harness.exe` with `mcs`. `CSharpClient` runs the harness as a
subprocess: one `TickcastClient` remote-controlled by commands on stdin, every
event it took with `Poll()` printed as a JSON line. Needs `mcs` and `mono`
(`apt-get install -y mono-devel`); missing either is a failure that says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from support import ServerProcess

from tickcast.proto import pb
from tickcast.wire import decode_varint

CSHARP = Path(__file__).resolve().parents[1] / "clients" / "csharp"
BUILD = CSHARP / ".build"
HARNESS = BUILD / "Tickcast.Harness.exe"
MONO_MISSING = (
    "the C# client tests need Mono (its compiler mcs, its runtime mono, ikdasm): "
    "`apt-get install -y mono-devel`"
)

Event = dict[str, Any]


_built = False


def build_csharp() -> None:
    """Run clients/csharp/build.sh once per test run (fails the test with its output if
    it fails); every C# test module calls it."""
    global _built
    if not all(shutil.which(tool) for tool in ("mcs", "mono", "ikdasm")):
        pytest.fail(MONO_MISSING, pytrace=False)
    if _built:
        return
    done = subprocess.run(
        ["bash", str(CSHARP / "build.sh")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"build.sh failed:\n{done.stdout}\n{done.stderr}"
    _built = True


@contextlib.asynccontextmanager
async def serve(*flags: str, env: dict[str, str] | None = None) -> AsyncIterator[ServerProcess]:
    """`tickcast serve` on free ports (50 ticks/s unless a flag says otherwise)."""
    server = await ServerProcess.start("--tick-rate", "50", *flags, env=env)
    try:
        yield server
    finally:
        if server.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                server.signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                await server.wait(15)
        await server.kill()


def mono(exe: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mono", "--debug", str(exe), *args], capture_output=True, text=True, timeout=timeout
    )


# ---------------------------------------------------------------- canonical dumps
# The same text as Tickcast.Harness's Dump(): strings and bytes as hex, so that
# a field decoded differently on either side shows up as a different string.


def _s(text: str) -> str:
    return text.encode().hex()


def _members(members: Any) -> str:
    return ",".join(f"{m.slot}:{_s(m.player_id)}" for m in members)


def dump_server(body: bytes) -> str:
    msg = pb.ServerMessage.FromString(body)
    kind = msg.WhichOneof("body")
    if kind == "welcome":
        w = msg.welcome
        return (
            f"welcome{{room={_s(w.room)},slot={w.slot},tick_rate={w.tick_rate},"
            f"first_tick={w.first_tick},members=[{_members(w.members)}],last_seq={w.last_seq},"
            f"server_id={_s(w.server_id)}}}"
        )
    if kind == "tick":
        t = msg.tick
        inputs = ",".join(f"{i.slot}:{i.seq}:{i.payload.hex()}" for i in t.inputs)
        desyncs = ",".join(f"{d.tick}:" + "/".join(str(s) for s in d.slots) for d in t.desyncs)
        return (
            f"tick{{number={t.number},inputs=[{inputs}],joined=[{_members(t.joined)}],"
            f"left=[{','.join(str(s) for s in t.left)}],chain={t.chain.hex()},"
            f"desyncs=[{desyncs}],raw={tick_bytes(body).hex()}}}"
        )
    if kind == "pong":
        return f"pong{{nonce={msg.pong.nonce},tick={msg.pong.tick}}}"
    if kind == "kick":
        k = msg.kick
        return f"kick{{reason={k.reason},detail={_s(k.detail)},redirect={_s(k.redirect)}}}"
    return "none{}"


def dump_client(body: bytes) -> str:
    msg = pb.ClientMessage.FromString(body)
    kind = msg.WhichOneof("body")
    if kind == "hello":
        h = msg.hello
        return (
            f"hello{{protocol_version={h.protocol_version},player_id={_s(h.player_id)},"
            f"token={_s(h.token)},room={_s(h.room)},resume_after={h.resume_after},"
            f"full_history={int(h.full_history)},spectator={int(h.spectator)}}}"
        )
    if kind == "input":
        return f"input{{seq={msg.input.seq},payload={msg.input.payload.hex()}}}"
    if kind == "ping":
        return f"ping{{nonce={msg.ping.nonce}}}"
    if kind == "ack":
        return f"ack{{tick={msg.ack.tick}}}"
    if kind == "leave":
        return "leave{}"
    if kind == "state_hash":
        return f"state_hash{{tick={msg.state_hash.tick},hash={msg.state_hash.hash.hex()}}}"
    return "none{}"


def tick_bytes(body: bytes) -> bytes:
    """The encoded Tick of a `ServerMessage{tick}` body (field 2's bytes, as received),
    or b"" if the body carries no tick. The last field 2 wins, as in protobuf."""
    pos, found = 0, b""
    while pos < len(body):
        key, pos = decode_varint(body, pos)
        wire_type = key & 7
        if wire_type == 0:
            _, pos = decode_varint(body, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            size, pos = decode_varint(body, pos)
            if key >> 3 == 2:
                found = body[pos : pos + size]
            pos += size
        else:  # a group: only in the unknown-field vectors, never around a tick
            return found
    return found


# ---------------------------------------------------------------- the remote-controlled client


class CSharpClient:
    """`Tickcast.Harness.exe client ...`: a C# TickcastClient in a subprocess.

    `events` holds every event it printed, in order; each must have been raised
    on the harness's main thread (the thread that polls), which `_read` checks.
    """

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.events: list[Event] = []
        self.stderr: list[str] = []
        self._changed = asyncio.Event()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._errors())]

    @classmethod
    async def start(
        cls, port: int, player: str, room: str, *options: str, host: str = "127.0.0.1"
    ) -> CSharpClient:
        proc = await asyncio.create_subprocess_exec(
            "mono", "--debug", str(HARNESS), "client", "--host", host, "--port", str(port),
            "--player", player, "--room", room, *options,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc, player)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            event = json.loads(line)
            assert event["main_thread"], f"{self.name}: {event['event']} raised off the game thread"
            self.events.append(event)
            self._changed.set()
        self._changed.set()

    async def _errors(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e["event"] == kind]

    def ticks(self) -> list[Event]:
        return self.of("tick")

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float, what: str
    ) -> Any:
        """Wait until `predicate()` is truthy (re-checked at each new event); return it."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.stdout is None or self.proc.returncode is not None:
                raise AssertionError(
                    f"{self.name}: timed out after {timeout} s waiting for {what}; last events: "
                    f"{[e['event'] for e in self.events[-8:]]}; stderr: {self.stderr[-5:]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))

    async def event(self, kind: str, timeout: float = 20, after: int = 0) -> Event:
        """The first `kind` event (the `after`-th one counts from 0)."""
        found: list[Event] = await self.wait_for(
            lambda: self.of(kind)[after:], timeout, f"a {kind} event"
        )
        return found[0]

    async def send(self, *payloads: bytes, timeout: float = 20) -> list[int]:
        """Send inputs; returns their seqs (the values `Send()` returned)."""
        before = len(self.of("sent"))
        self.command("send " + " ".join(p.hex() or "-" for p in payloads))
        sent = await self.wait_for(
            lambda: self.of("sent")[before:] if len(self.of("sent")) >= before + len(payloads)
            else None, timeout, "sent events",
        )
        return [int(e["seq"]) for e in sent]

    async def stats(self, timeout: float = 20) -> Event:
        before = len(self.of("stats"))
        self.command("stats")
        return await self.event("stats", timeout, after=before)

    async def ticks_until(self, number: int, timeout: float = 30) -> list[Event]:
        await self.wait_for(
            lambda: self.ticks() and self.ticks()[-1]["number"] >= number, timeout,
            f"tick {number}",
        )
        return self.ticks()

    async def closed(self, timeout: float = 20) -> Event:
        return await self.event("closed", timeout)

    async def quit(self) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ConnectionError):
                self.command("quit")
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for t in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 5)
        return self.proc.returncode or 0

    async def __aenter__(self) -> CSharpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.quit()
