"""The C# client (clients/csharp) against the Python side.

Built with Mono's `mcs` by clients/csharp/build.sh, then:

- its own unit tests (Tests/, sans-I/O core and the connection layer over an
  in-memory transport) pass;
- its hand-written protobuf matches, byte for byte, golden vectors generated
  here: every frame a sans-I/O relay sends in a little match, edge values,
  unknown fields of every wire type, every client message, the Hello and Input
  frames the Python SDK's core builds, and docs/protocol.md's worked example;
- against real `tickcast serve` processes: a C# and a Python client in one room
  receive byte-identical ticks; a C# client resumes through ChaosProxy with
  every input applied exactly once; every Kick reason reaches it as its typed
  error (each one a real server can be brought to send, and all of them, plus
  an unknown one, from a node that only kicks); a redirect in a two-node
  cluster is followed; the console sample plays.

Needs `mcs` and `mono` (`apt-get install -y mono-devel`, which `.ci/run` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from csharp_support import (
    BUILD,
    CSHARP,
    CSharpClient,
    build_csharp,
    dump_client,
    dump_server,
    mono,
    serve,
)
from support import wait_until

import tickcast
from tests.cluster_support import cluster, free_port
from tests.unit.test_protocol_doc import BLOCKS
from tickcast import wire
from tickcast.client import ClientCore, input_frame
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.relay import Relay
from tickcast.testing import ChaosProxy, FakeClock, MemorySink

CHAOS_SECONDS = float(os.environ.get("TICKCAST_CSHARP_CHAOS_SECONDS", "15"))
RESILIENT = ["--dead-after", "1", "--ping-interval", "0.25", "--backoff-initial", "0.02",
             "--backoff-max", "0.3", "--max-attempts", "1000", "--connect-timeout", "2"]
"""Harness options for a client whose connections are cut on purpose (as the SDK's
RESILIENT_CLIENT): notice a dead link within a second, keep reconnecting quickly."""


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    build_csharp()


# ---------------------------------------------------------------- the C# unit tests


def test_the_csharp_unit_tests_pass() -> None:
    done = mono(BUILD / "Tickcast.Tests.exe")
    print(done.stdout[-400:])
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    passed, failed = (int(summary.split()[i]) for i in (0, 2))
    assert failed == 0 and passed >= 40, summary


def test_the_readme_snippets_compile(tmp_path: Path) -> None:
    """clients/csharp/README.md's C# blocks, against the library (and, for the
    MonoBehaviour, the UnityEngine stubs): a game developer can paste them."""
    readme = (CSHARP / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```csharp\n(.*?)```", readme, re.S)
    assert len(blocks) == 2
    behaviour, console = blocks
    prelude = "static class Simulation { public static void Step(Tickcast.Tick tick) { } }\n"
    (tmp_path / "Behaviour.cs").write_text(behaviour + prelude)
    (tmp_path / "Console.cs").write_text(
        "using System;\nusing Tickcast;\nstatic class Program {\n"
        f"static void Main() {{\n{console}\n}}\n}}\n")
    for source, extra in (("Behaviour.cs", [str(CSHARP / "Tools~" / "UnityEngineStubs.cs")]),
                          ("Console.cs", [])):
        done = subprocess.run(
            ["mcs", "-langversion:7.2", "-sdk:4.7.1-api", "-warnaserror+", "-target:library",
             f"-r:{BUILD / 'Tickcast.dll'}", f"-out:{tmp_path / source}.dll",
             str(tmp_path / source), *extra],
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, f"{source}:\n{done.stdout}{done.stderr}"


# ---------------------------------------------------------------- golden vectors


def _frames_of_a_match() -> list[bytes]:
    """Every frame body a sans-I/O relay sends in a small match: Welcomes, Ticks
    with inputs (empty, small, large payloads), joins, leaves, chain and a
    desync, a Pong and Kicks (Leave, REPLACED, a protocol error)."""
    clock = FakeClock()
    relay = Relay(Config(server_id="golden-nœud", tick_rate=30, max_players=8))
    sinks: list[MemorySink] = []
    sessions: dict[str, Any] = {}

    def join(player: str, room: str = "arena", **hello: Any) -> None:
        sink = MemorySink()
        sinks.append(sink)
        session = relay.open_session(sink, clock.now())
        msg = pb.ClientMessage(hello=pb.Hello(protocol_version=1, player_id=player, room=room,
                                              **hello))
        session.data_received(wire.frame(msg.SerializeToString()), clock.now())
        sessions[player] = session

    def send(player: str, **body: Any) -> None:
        frame = wire.frame(pb.ClientMessage(**body).SerializeToString())
        sessions[player].data_received(frame, clock.now())

    def tick(n: int = 1) -> None:
        for _ in range(n):
            clock.advance(relay.config.tick_interval)
            relay.tick(clock.now())

    join("ada")
    join("bob")
    tick()
    send("ada", input=pb.Input(seq=1, payload=b"L"))
    send("bob", input=pb.Input(seq=1, payload=b""))
    send("bob", input=pb.Input(seq=2, payload=bytes(range(256)) * 2))
    join("zoë")
    tick()
    for player, digest in (("ada", b"\x01" * 32), ("bob", b"\x01" * 32), ("zoë", b"\x02" * 32)):
        send(player, state_hash=pb.StateHash(tick=2, hash=digest))
    send("ada", ping=pb.Ping(nonce=(1 << 64) - 1))
    tick(3)
    send("bob", leave=pb.Leave())
    join("ada")  # replaces the first ada: REPLACED
    join("cam", spectator=True)
    send("cam", input=pb.Input(seq=1, payload=b"x"))  # a spectator's input: PROTOCOL_ERROR
    tick(2)
    join("late", full_history=True)
    tick()
    bodies: list[bytes] = []
    for sink in sinks:
        for body in sink.frame_bodies():
            if body not in bodies:
                bodies.append(body)
    kinds = Counter(pb.ServerMessage.FromString(b).WhichOneof("body") for b in bodies)
    assert kinds["welcome"] >= 5 and kinds["tick"] >= 8 and kinds["pong"] == 1
    assert kinds["kick"] >= 3
    ticks = [pb.ServerMessage.FromString(b).tick for b in bodies if b[:1] == b"\x12"]
    assert any(t.desyncs for t in ticks) and any(t.left for t in ticks)
    assert all(len(t.chain) == 32 for t in ticks)
    return bodies


def _unknown_fields(number: int) -> bytes:
    """One unknown field `number` of every wire type: varint, fixed64, bytes, fixed32, group."""
    def key(wire_type: int) -> bytes:
        return wire.encode_varint(number << 3 | wire_type)

    group = key(3) + b"\x08\x01" + b"\x1a\x01x" + key(4)
    return (key(0) + wire.encode_varint(1 << 40) + key(1) + bytes(range(8)) + key(2) + b"\x03abc"
            + key(5) + b"\x01\x02\x03\x04" + group)


def _ld(number: int, content: bytes) -> bytes:
    return wire.encode_varint(number << 3 | 2) + wire.encode_varint(len(content)) + content


def _edge_server_messages() -> list[bytes]:
    big = (1 << 64) - 1
    u32 = (1 << 32) - 1
    msgs = [
        pb.ServerMessage(welcome=pb.Welcome(
            room="🎮 ルーム", slot=u32, tick_rate=1000, first_tick=big, last_seq=u32,
            members=[pb.Member(slot=s, player_id=f"p{s}é") for s in (1, 127, 128, 300, u32)],
            server_id="x" * 200)),
        pb.ServerMessage(welcome=pb.Welcome()),  # every field at its default
        pb.ServerMessage(tick=pb.Tick(
            number=big, inputs=[pb.RelayedInput(slot=u32, seq=u32, payload=b"\x00" * 70000)],
            joined=[pb.Member(slot=2, player_id="")], left=[1, 127, 128, u32],
            chain=bytes(range(32)), desyncs=[pb.Desync(tick=big, slots=[u32, 1]),
                                              pb.Desync(tick=1)])),
        pb.ServerMessage(tick=pb.Tick(number=1)),
        pb.ServerMessage(tick=pb.Tick()),
        pb.ServerMessage(pong=pb.Pong(nonce=big, tick=big)),
        pb.ServerMessage(pong=pb.Pong()),
        pb.ServerMessage(kick=pb.Kick(reason=99, detail="a reason from the future")),
        pb.ServerMessage(kick=pb.Kick(reason=-1)),
        pb.ServerMessage(),
    ]
    bodies = [m.SerializeToString() for m in msgs]
    for reason in pb.Reason.values():  # the server's own Kick encoder, for every reason
        frame = wire.kick_frame(reason, f"détail {reason}", f"[::1]:{7000 + reason}")
        bodies.append(frame[wire.prefix_length(frame):])
    return bodies


def _unknown_field_server_messages() -> list[tuple[bytes, bytes]]:
    """(body with unknown fields at every level, its canonical encoding without them)."""
    u = _unknown_fields(31)
    member = b"\x08\x01\x12\x03ada" + u
    welcome = u + b"\x0a\x05arena\x10\x03" + _ld(5, member) + b"\x30\x04" + u + b"\x3a\x04eu-1"
    relayed = u + b"\x08\x02\x10\x05" + u + b"\x1a\x02hi"
    desync = b"\x08\x07" + u + b"\x12\x01\x02"
    tick = (b"\x08\x09" + _ld(2, relayed) + u + _ld(3, member) + b"\x22\x01\x04"
            + b"\x2a\x02\xab\xcd" + _ld(6, desync) + u)
    out = []
    for body in (
        u + _ld(1, welcome) + u,
        _ld(2, tick) + u,
        u + _ld(3, b"\x08\x05" + u + b"\x10\x06"),
        _ld(4, u + b"\x08\x0e" + u + b"\x12\x01d\x1a\x05h:123" + u),
        _ld(9, b"\x08\x01") + u,  # a message of a newer protocol (ServerMessage field 9)
    ):
        msg = pb.ServerMessage.FromString(body)
        msg.DiscardUnknownFields()
        out.append((body, msg.SerializeToString()))
    return out


def _client_messages() -> list[bytes]:
    big = (1 << 64) - 1
    msgs = [
        pb.ClientMessage(hello=pb.Hello(protocol_version=1, player_id="ada", room="arena")),
        pb.ClientMessage(hello=pb.Hello(
            protocol_version=7, player_id="ゲーマー" * 5, token="eyJhbGciOiJIUzI1NiJ9." + "t" * 300,
            room="r" * 64, resume_after=big, full_history=True, spectator=True)),
        pb.ClientMessage(hello=pb.Hello()),
        pb.ClientMessage(input=pb.Input(seq=(1 << 32) - 1, payload=bytes(range(256)) * 3)),
        pb.ClientMessage(input=pb.Input(seq=1)),
        pb.ClientMessage(input=pb.Input()),
        pb.ClientMessage(ping=pb.Ping(nonce=big)),
        pb.ClientMessage(ping=pb.Ping()),
        pb.ClientMessage(ack=pb.Ack(tick=130)),
        pb.ClientMessage(leave=pb.Leave()),
        pb.ClientMessage(state_hash=pb.StateHash(tick=big, hash=b"\xff" * 64)),
        pb.ClientMessage(),
    ]
    return [m.SerializeToString() for m in msgs]


def _core_hellos() -> list[tuple[str, str, bytes]]:
    """(name, the C# scenario, the Hello frame the Python SDK's core builds in it)."""
    out = []
    scenarios = [
        ("fresh", "ada", "arena", "", False, False, 0, 0),
        ("token-spectator", "cam-1", "", "tok.en", True, False, 0, 0),
        ("late-join", "zoë", "ルーム", "", False, True, 0, 0),
        ("resume", "ada", "arena", "jwt", False, False, 130, 5),
        ("resume-after-full-history", "ada", "r", "", False, True, 1, 40),
        ("welcomed-at-1-no-tick", "ada", "r", "", False, False, 1, 0),
    ]
    for name, player, room, token, spectator, full, first_tick, ticks in scenarios:
        core = ClientCore(player, room, token, spectator=spectator, full_history=full)
        if first_tick:
            core.on_welcome(pb.Welcome(slot=1, first_tick=first_tick))
            for n in range(first_tick, first_tick + ticks):
                t = pb.Tick(number=n)
                core.on_tick_frame(pb.ServerMessage(tick=t).SerializeToString(), t)
        spec = "|".join([player.encode().hex(), room.encode().hex(), token.encode().hex(),
                         str(int(spectator)), str(int(full)), str(first_tick), str(ticks)])
        out.append((name, spec, core.hello_frame()))
    return out


def _golden_vectors() -> tuple[list[str], dict[str, dict[str, str]]]:
    """Lines for `Tickcast.Harness.exe golden` and, per name, what it must answer."""
    lines: list[str] = []
    expect: dict[str, dict[str, str]] = {}

    def add(kind: str, name: str, data: str, **answer: str) -> None:
        lines.append(f"{kind}\t{name}\t{data}")
        expect[name] = answer

    match = _frames_of_a_match()
    for i, body in enumerate(match):
        add("server", f"match-{i}", body.hex(), dump=dump_server(body), encoded=body.hex())
    stream = b"".join(wire.frame(b) for b in match)
    add("server-frames", "match-stream", stream.hex(),
        dump=" | ".join(dump_server(b) for b in match), encoded=stream.hex())
    for i, body in enumerate(_edge_server_messages()):
        add("server", f"edge-{i}", body.hex(), dump=dump_server(body), encoded=body.hex())
    for i, (body, canonical) in enumerate(_unknown_field_server_messages()):
        add("server", f"unknown-{i}", body.hex(), dump=dump_server(body), encoded=canonical.hex())
    for i, body in enumerate(_client_messages()):
        add("client", f"client-{i}", body.hex(), dump=dump_client(body), encoded=body.hex())
    for name, spec, frame in _core_hellos():
        add("hello", f"core-hello-{name}", spec, encoded=frame.hex())
    for seq, payload in ((1, b""), (7, b"L"), (16384, b"\x00" * 200), ((1 << 32) - 1, b"\xff")):
        add("input", f"core-input-{seq}", f"{seq}|{payload.hex()}",
            encoded=input_frame(seq, payload).hex())
    # docs/protocol.md's worked example, as the page shows it (frames with prefixes)
    for block, kind in (("hello", "client"), ("input", "client"), ("welcome", "server"),
                        ("tick", "server")):
        data = BLOCKS[block][0]
        body = data[wire.prefix_length(data):]
        dump = dump_server(body) if kind == "server" else dump_client(body)
        add(f"{kind}-frames", f"doc-{block}", data.hex(), dump=dump, encoded=data.hex())
    return lines, expect


def test_golden_vectors_decode_and_encode_byte_for_byte() -> None:
    lines, expect = _golden_vectors()
    done = subprocess.run(
        ["mono", "--debug", str(BUILD / "Tickcast.Harness.exe"), "golden"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers = {a["name"]: a for a in map(json.loads, done.stdout.splitlines())}
    assert answers.keys() == expect.keys()
    for name, want in expect.items():
        got = answers[name]
        assert "error" not in got, f"{name}: {got['error']}"
        for key, value in want.items():
            assert got[key] == value, f"{name}: {key}\n  C#:     {got[key]}\n  Python: {value}"
        if "buffered" in got:
            assert got["buffered"] == 0, name
    print(f"FIGURE golden vectors: {len(expect)} checked byte for byte")


# ---------------------------------------------------------------- against tickcast serve


async def test_csharp_and_python_clients_receive_byte_identical_ticks() -> None:
    async with serve() as server:
        py = await tickcast.connect("127.0.0.1", server.port, player_id="py", room="mixed")
        py_ticks: dict[int, bytes] = {}
        py_inputs: list[tuple[str, int, bytes]] = []

        async def collect() -> None:
            async for t in py.ticks():
                py_ticks[t.number] = t.raw
                py_inputs.extend((i.player_id, i.seq, i.payload) for i in t.inputs)

        collector = asyncio.create_task(collect())
        async with await CSharpClient.start(server.port, "cs", "mixed") as cs:
            welcomed = await cs.event("welcomed")
            assert welcomed["members"] == [[py.slot, "py"]]
            assert welcomed["room"] == "mixed" and welcomed["tick_rate"] == 50
            mine = [f"cs-{k}".encode() for k in range(20)]
            seqs = []
            for k in range(0, 20, 4):
                seqs += await cs.send(*mine[k:k + 4])
                py.send(f"py-{k}".encode())
                await asyncio.sleep(0.03)
            assert seqs == list(range(1, 21))
            await cs.wait_for(lambda: sum(len(t["inputs"]) for t in cs.ticks()) == 25, 20,
                              "every input in the C# client's ticks")
            await cs.wait_for(lambda: sum(1 for *_, p in py_inputs if p.startswith(b"cs-")) == 20,
                              20, "the Python client to see every C# input")
            # and 100 ticks in all (empty ones too), as both received them
            first = cs.ticks()[0]["number"]
            await cs.wait_for(lambda: first + 99 in py_ticks and len(cs.ticks()) >= 100, 30,
                              "100 ticks on both clients")
            cs_ticks = [t for t in cs.ticks() if t["number"] < first + 100]
            assert first == welcomed["first_tick"]
            assert [t["number"] for t in cs_ticks] == list(range(first, first + len(cs_ticks)))
            for t in cs_ticks:
                assert bytes.fromhex(t["raw"]) == py_ticks[t["number"]], f"tick {t['number']}"
            assert cs_ticks[0]["joined"] == [[welcomed["slot"], "cs"]]  # its own join
            relayed = [(pid, seq, p) for pid, seq, p in py_inputs if pid == "cs"]
            assert relayed == list(zip(["cs"] * 20, seqs, mine, strict=True))
            cs_seen = [(pid, seq, bytes.fromhex(p))
                       for t in cs.ticks() for _, seq, p, pid in t["inputs"]]
            assert [x for x in cs_seen if x[0] == "py"] == [
                (pid, seq, p) for pid, seq, p in py_inputs if pid == "py"]
            print(f"FIGURE {len(cs_ticks)} ticks byte-identical between the C# and Python clients")
            cs.command("close")
            closed = await cs.closed()
            assert closed["error"] is None
        await py.close()
        collector.cancel()


async def confirmed(cs: CSharpClient, timeout: float) -> None:
    """Wait until every input of `cs` has been seen sequenced in a tick."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (await cs.stats())["pending"]:
        assert loop.time() < end, f"{cs.name}: inputs not confirmed within {timeout} s"
        await asyncio.sleep(0.1)


async def test_csharp_client_resumes_through_chaos_with_every_input_applied_once() -> None:
    seed = random.randrange(1 << 30)
    print(f"chaos seed {seed}")
    rnd = random.Random(seed)
    async with serve("--idle-timeout", "0") as server:
        reference = await tickcast.connect(
            "127.0.0.1", server.port, player_id="ref", room="chaos", spectator=True)
        ref_ticks: list[tickcast.Tick] = []

        async def collect() -> None:
            async for t in reference.ticks():
                ref_ticks.append(t)

        ref_task = asyncio.create_task(collect())
        async with ChaosProxy(server.port, seed=seed, stall=0.1, stall_for=2.0, eof=0.3) as proxy:
            players = [await CSharpClient.start(proxy.port, f"cs{i}", "chaos", *RESILIENT,
                                                "--seed", str(seed + i)) for i in range(2)]
            watcher = await CSharpClient.start(proxy.port, "cs-watch", "chaos", "--spectator",
                                               *RESILIENT)
            clients = [*players, watcher]
            for c in clients:
                await c.event("welcomed")
            sent: list[list[tuple[int, bytes]]] = [[] for _ in players]
            loop = asyncio.get_running_loop()
            end = loop.time() + CHAOS_SECONDS
            k = 0
            while loop.time() < end:
                k += 1
                for i, p in enumerate(players):
                    payload = f"{p.name}:{k}".encode()
                    (seq,) = await p.send(payload)
                    sent[i].append((seq, payload))
                await asyncio.sleep(rnd.uniform(0.005, 0.05))
            proxy.cutting = False  # let everyone settle and confirm its inputs
            for p in players:
                await confirmed(p, 60)
            target = max(c.ticks()[-1]["number"] for c in clients)
            for c in clients:
                await c.ticks_until(target, 30)
            await players[0].wait_for(
                lambda: ref_ticks and ref_ticks[-1].number >= target, 30, "the reference")
            stats = [await c.stats() for c in clients]
            cuts, eofs, stalls = proxy.cuts, proxy.eofs, proxy.stalls
            for c in clients:
                assert not c.of("closed"), c.of("closed")
                await c.quit()
        await reference.close()
        ref_task.cancel()

    reconnects = [s["reconnects"] for s in stats]
    print(f"FIGURE C# chaos: cuts={cuts} (eofs={eofs}) stalls={stalls} reconnects={reconnects} "
          f"inputs={[len(s) for s in sent]} resent={[s['resent'] for s in stats]}")
    assert cuts >= 10 and eofs >= 1 and all(r >= 3 for r in reconnects)
    by_number = {t.number: t.raw for t in ref_ticks}
    assert [t.number for t in ref_ticks] == list(range(1, ref_ticks[-1].number + 1))
    for c in clients:
        numbers = [t["number"] for t in c.ticks()]
        assert numbers == list(range(numbers[0], numbers[-1] + 1)), f"{c.name}: gap or duplicate"
        for t in c.ticks():
            assert bytes.fromhex(t["raw"]) == by_number[t["number"]], f"{c.name}: {t['number']}"
        assert all(e["error"] in ("IOException", "SocketException", "TimeoutException")
                   for e in c.of("disconnected")), {e["error"] for e in c.of("disconnected")}
    relayed = [(i.player_id, i.seq, i.payload) for t in ref_ticks for i in t.inputs]
    counts = Counter(payload for _, _, payload in relayed)
    assert all(n == 1 for n in counts.values()), "an input was applied twice"
    for p, mine in zip(players, sent, strict=True):
        seen = [(seq, payload) for pid, seq, payload in relayed if pid == p.name]
        assert seen == mine, f"{p.name}: inputs lost, reordered or renumbered"


# ---------------------------------------------------------------- kicks


async def _closed_with(cs: CSharpClient, error: str, reason: str | None = None) -> dict[str, Any]:
    closed = await cs.closed()
    assert closed["error"] == error, closed
    if reason is not None:
        assert closed["reason"] == reason and closed["retried"] is False, closed
    return closed


async def test_kicks_from_a_real_server_end_the_stream_with_their_typed_errors() -> None:
    """ROOM_FULL, REPLACED, PROTOCOL_ERROR, FRAME_TOO_LARGE, VERSION_MISMATCH,
    ROOM_CLOSED, an operator's kick (UNSPECIFIED) and a Leave, from one server."""
    async with serve("--max-players", "1", "--max-frame", "256") as server:
        assert server.proc.stdout is not None
        http_line = (await asyncio.wait_for(server.proc.stdout.readline(), 10)).decode()
        http = http_line.split(" on ")[1].strip()

        async def start(player: str, room: str, *options: str) -> CSharpClient:
            return await CSharpClient.start(server.port, player, room, *options)

        # ROOM_FULL: the room holds one player
        holder = await tickcast.connect("127.0.0.1", server.port, player_id="holder", room="full")
        async with await start("second", "full") as cs:
            closed = await _closed_with(cs, "RoomFullException", "ROOM_FULL")
            assert closed["detail"]
        await holder.close()
        # REPLACED: the same player connects again elsewhere
        async with await start("twin", "replaced") as cs:
            await cs.event("welcomed")
            again = await tickcast.connect("127.0.0.1", server.port, player_id="twin",
                                           room="replaced")
            await _closed_with(cs, "ReplacedException", "REPLACED")
            await again.close()
        # PROTOCOL_ERROR: a state hash over the spec's 64 bytes
        async with await start("hasher", "proto") as cs:
            await cs.event("welcomed")
            cs.command("hash 1 " + "ab" * 65)
            await _closed_with(cs, "ProtocolErrorException", "PROTOCOL_ERROR")
        # FRAME_TOO_LARGE: an input frame over --max-frame
        async with await start("big", "frames") as cs:
            await cs.event("welcomed")
            await cs.send(b"x" * 300)
            await _closed_with(cs, "FrameTooLargeException", "FRAME_TOO_LARGE")
        # VERSION_MISMATCH: a Hello of protocol version 2
        async with await start("future", "v2", "--protocol-version", "2") as cs:
            await _closed_with(cs, "VersionMismatchException", "VERSION_MISMATCH")
        # the admin API refuses state changes a web form could make: say it is a script
        async with aiohttp.ClientSession(headers={"X-Tickcast-Admin": "1"}) as session:
            # ROOM_CLOSED: an operator closes the room (the admin API answers on loopback)
            async with await start("closer", "doomed") as cs:
                await cs.event("welcomed")
                async with session.delete(f"{http}/api/rooms/doomed") as resp:
                    assert resp.status == 200, await resp.text()
                await _closed_with(cs, "RoomClosedException", "ROOM_CLOSED")
            # UNSPECIFIED without a Leave: an operator kicked the player
            async with await start("kicked", "ops") as cs:
                await cs.event("welcomed")
                async with session.post(f"{http}/api/rooms/ops/players/kicked/kick") as resp:
                    assert resp.status == 200, await resp.text()
                closed = await _closed_with(cs, "KickedException", "UNSPECIFIED")
                assert closed["detail"] == "kicked by an operator"
        # UNSPECIFIED after our own Leave: the stream ends without an error
        async with await start("leaver", "bye") as cs:
            await cs.event("welcomed")
            cs.command("leave")
            assert (await cs.closed())["error"] is None
            stats = await cs.stats()
            assert [k[1] for k in stats["kicks"]] == ["UNSPECIFIED"]


async def test_a_refused_token_is_auth_failed_with_the_servers_detail() -> None:
    secret = "a-secret-of-at-least-32-bytes-for-the-csharp-test"
    async with serve(env={"TICKCAST_SECRET": secret}) as server:
        async with await CSharpClient.start(server.port, "ada", "r", "--token", "not-a-jwt") as cs:
            closed = await _closed_with(cs, "AuthFailedException", "AUTH_FAILED")
            assert closed["detail"], closed
            assert len(cs.of("welcomed")) == 0


async def test_retried_kicks_idle_timeout_and_rate_limited_are_resumed_exactly_once() -> None:
    async with serve("--idle-timeout", "1", "--input-rate", "10", "--input-burst", "4") as server:
        # IDLE_TIMEOUT: a client that does not ping for longer than the idle timeout
        async with await CSharpClient.start(server.port, "quiet", "idle",
                                            "--ping-interval", "30") as cs:
            await cs.event("welcomed")
            lost = await cs.event("disconnected", 15)
            assert lost["error"] == "IdleTimeoutException" and lost["retried"] is True, lost
            await cs.event("resumed", 15)
            assert not cs.of("closed")
        # RATE_LIMITED: 12 inputs at once against a burst of 4; each resume lets more
        # through, and every input is applied exactly once, in order
        async with await CSharpClient.start(server.port, "eager", "rate",
                                            "--ping-interval", "0.2") as cs:
            await cs.event("welcomed")
            payloads = [f"in-{k}".encode() for k in range(12)]
            seqs = await cs.send(*payloads)
            await cs.wait_for(
                lambda: sum(len(t["inputs"]) for t in cs.ticks()) >= 12, 30, "every input")
            relayed = [(seq, bytes.fromhex(p)) for t in cs.ticks() for _, seq, p, _ in t["inputs"]]
            assert relayed == list(zip(seqs, payloads, strict=True))
            stats = await cs.stats()
            assert "RATE_LIMITED" in [k[1] for k in stats["kicks"]], stats
            assert {e["error"] for e in cs.of("disconnected")} == {"RateLimitedException"}
            assert stats["reconnects"] >= 1 and stats["pending"] == 0 and not cs.of("closed")


async def test_server_shutdown_is_resumed_and_a_lost_room_is_resume_unavailable() -> None:
    port = free_port()
    async with serve("--port", str(port)) as first:
        async with await CSharpClient.start(port, "ada", "restart", "--backoff-initial", "0.2",
                                            "--max-attempts", "30") as cs:
            await cs.event("welcomed")
            await cs.ticks_until(10)
            first.signal(signal.SIGTERM)
            lost = await cs.event("disconnected")
            assert lost["error"] == "ServerShutdownException" and lost["retried"] is True, lost
            await first.wait(15)
            # the same port, a new server without the room: resuming after tick N is refused
            async with serve("--port", str(port)):
                closed = await _closed_with(cs, "ResumeUnavailableException", "RESUME_UNAVAILABLE")
                assert closed["detail"]
            kinds = [k[1] for k in (await cs.stats())["kicks"]]
            assert kinds[0] == "SERVER_SHUTDOWN" and kinds[-1] == "RESUME_UNAVAILABLE", kinds


async def test_a_handshake_timeout_is_retried() -> None:
    """The first connection's Hello is held back longer than --handshake-timeout."""
    async with serve("--handshake-timeout", "1") as server:
        connections = 0

        async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            delay = 3.0 if connections == 1 else 0.0
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", server.port)

            async def pump(
                src: asyncio.StreamReader, dst: asyncio.StreamWriter, wait: float
            ) -> None:
                with contextlib.suppress(ConnectionError):
                    await asyncio.sleep(wait)
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                dst.close()

            await asyncio.gather(pump(reader, up_writer, delay), pump(up_reader, writer, 0.0),
                                 return_exceptions=True)

        front = await asyncio.start_server(proxy, "127.0.0.1", 0)
        port = front.sockets[0].getsockname()[1]
        try:
            async with await CSharpClient.start(port, "slowpoke", "hs") as cs:
                await cs.event("welcomed", 20)
                stats = await cs.stats()
                assert [k[:2] for k in stats["kicks"]] == [
                    ["HandshakeTimeoutException", "HANDSHAKE_TIMEOUT"]]
                assert connections == 2 and stats["reconnects"] == 0
        finally:
            front.close()


REASONS = {**{name: value for name, value in pb.Reason.items()}, "REASON_99": 99}
TYPED = {
    "REASON_UNSPECIFIED": "KickedException", "REASON_PROTOCOL_ERROR": "ProtocolErrorException",
    "REASON_HANDSHAKE_TIMEOUT": "HandshakeTimeoutException",
    "REASON_AUTH_FAILED": "AuthFailedException", "REASON_REPLACED": "ReplacedException",
    "REASON_SLOW_CONSUMER": "SlowConsumerException", "REASON_RATE_LIMITED": "RateLimitedException",
    "REASON_FRAME_TOO_LARGE": "FrameTooLargeException", "REASON_ROOM_FULL": "RoomFullException",
    "REASON_RESUME_UNAVAILABLE": "ResumeUnavailableException",
    "REASON_SERVER_SHUTDOWN": "ServerShutdownException",
    "REASON_IDLE_TIMEOUT": "IdleTimeoutException",
    "REASON_VERSION_MISMATCH": "VersionMismatchException",
    "REASON_ROOM_CLOSED": "RoomClosedException", "REASON_REDIRECT": "RedirectException",
    "REASON_99": "KickedException",
}
RETRIED = {"REASON_SLOW_CONSUMER", "REASON_SERVER_SHUTDOWN", "REASON_IDLE_TIMEOUT",
           "REASON_HANDSHAKE_TIMEOUT", "REASON_RATE_LIMITED"}


@pytest.mark.parametrize("name", sorted(REASONS, key=REASONS.__getitem__))
async def test_every_kick_reason_maps_to_its_typed_error(name: str) -> None:
    """A node that answers every Hello with one Kick (the server's own kick_frame).
    Retried reasons are retried (twice, then the stream ends with the kick inside a
    ConnectionClosedException); REDIRECT to itself is followed three times."""
    assert TYPED.keys() == REASONS.keys()
    reason = REASONS[name]
    hellos = 0
    port = 0

    async def kicking(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hellos
        framer = wire.Framer(1 << 16)
        bodies: list[bytes] = []
        while not bodies:
            data = await reader.read(65536)
            if not data:
                writer.close()
                return
            bodies = framer.feed(data)
        assert pb.ClientMessage.FromString(bodies[0]).WhichOneof("body") == "hello"
        hellos += 1
        writer.write(wire.kick_frame(reason, f"detail of {name}", f"127.0.0.1:{port}"))
        await writer.drain()
        writer.close()

    node = await asyncio.start_server(kicking, "127.0.0.1", 0)
    port = node.sockets[0].getsockname()[1]
    try:
        async with await CSharpClient.start(port, "ada", "r", "--max-attempts", "2",
                                            "--backoff-initial", "0.01") as cs:
            closed = await cs.closed()
            kicks = (await cs.stats())["kicks"]
    finally:
        node.close()
    typed = TYPED[name]
    short = name.removeprefix("REASON_")
    assert {tuple(k) for k in kicks} == {(typed, short if reason != 99 else name,
                                          f"detail of {name}")}
    if name in RETRIED:
        assert closed["error"] == "ConnectionClosedException" and closed["inner"] == typed, closed
        assert hellos == 3 == len(kicks)
    elif name == "REASON_REDIRECT":
        assert closed["error"] == "RedirectException" and hellos == 4 == len(kicks), closed
    else:
        assert closed["error"] == typed and closed["retried"] is False, closed
        assert closed["detail"] == f"detail of {name}" and hellos == 1


# ---------------------------------------------------------------- cluster


async def test_a_redirect_in_a_two_node_cluster_is_followed(tmp_path: Path) -> None:
    async with cluster(tmp_path, 2, "--tick-rate", "50", "--lease-seconds", "1.5") as (_, nodes):
        owner, other = nodes
        py = await tickcast.connect("127.0.0.1", owner.port, player_id="py", room="clustered")
        py_ticks: dict[int, bytes] = {}

        async def collect() -> None:
            async for t in py.ticks():
                py_ticks[t.number] = t.raw

        collector = asyncio.create_task(collect())
        async with await CSharpClient.start(other.port, "cs", "clustered") as cs:
            welcomed = await cs.event("welcomed", 30)
            assert welcomed["endpoint"] == owner.address, welcomed
            assert welcomed["server_id"] == owner.name
            stats = await cs.stats()
            assert "REDIRECT" in [k[1] for k in stats["kicks"]]
            assert stats["endpoint"] == owner.address
            (seq,) = await cs.send(b"via redirect")
            await cs.wait_for(lambda: any(bytes.fromhex(i[2]) == b"via redirect"
                                          for t in cs.ticks() for i in t["inputs"]), 20,
                              "its input in a tick")
            n = cs.ticks()[-1]["number"]
            await cs.wait_for(lambda: n in py_ticks, 20, "the Python client's tick")
            for t in cs.ticks():
                if t["number"] in py_ticks:
                    assert bytes.fromhex(t["raw"]) == py_ticks[t["number"]]
            assert seq == 1
        await py.close()
        collector.cancel()


# ---------------------------------------------------------------- the console sample


async def test_the_console_sample_joins_sends_and_prints_ticks() -> None:
    async with serve() as server:
        py = await tickcast.connect("127.0.0.1", server.port, player_id="py", room="r1")
        proc = await asyncio.create_subprocess_exec(
            "mono", "--debug", str(BUILD / "ConsoleSample.exe"), "--port", str(server.port),
            "--player", "console", "--room", "r1", "--ticks", "40", "--every", "10",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        seen: list[bytes] = []

        async def watch() -> None:
            async for t in py.ticks():
                seen.extend(i.payload for i in t.inputs if i.player_id == "console")
                if t.inputs and any(i.player_id == "console" for i in t.inputs):
                    py.send(b"hi console")

        watcher = asyncio.create_task(watch())
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        # its last input went out right before its Leave: it is in the tick of the leave
        await wait_until(lambda: len(seen) >= 4, 10, "the sample's four inputs")
        watcher.cancel()
        await py.close()
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert text.splitlines()[0].startswith("joined r1 as slot 2 at 50 ticks/s")
    assert ": py #1 hi console" in text
    assert text.rstrip().endswith("played 40 ticks; leaving")
    assert len(seen) == 4 and seen[0].startswith(b"hello from console at tick ")
