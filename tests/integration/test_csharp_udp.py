"""The C# client's UDP path (clients/csharp, Runtime/Udp) against the Python core.

The C# code was written from docs/protocol.md alone; these tests hold it to the
reference implementation, tickcast.udp:

- golden vectors: server datagrams made by `UdpMember` (and by the codec at edge
  values) are verified, decoded and encoded back byte for byte by the C# codec;
  client datagrams made by `UdpClientCore` are decoded and made again from their
  fields, byte-identical; tampered, truncated, replayed and malformed datagrams
  are refused by C# for the same reason as by Python;
- scripted sessions: a Python server member and the Python client core run a
  lossy session on a fake clock; every event the client saw (datagrams, stream
  ticks, inputs, timers) is replayed into the C# `UdpSession`, which must send
  the same datagrams, write the same stream frames and hand over the same ticks;
- end to end (tests/csharp_udp_peer.py): a C# TickcastClient with `Udp = true`
  against a real `tickcast serve` behind a peer that adds the UDP session (the
  server-side core on a real UDP socket), next to a Python client on TCP:
  byte-identical ticks, every input once, fallback when UDP is blocked and back.

Needs `mcs` and `mono` (`apt-get install -y mono-devel`, which `.ci/run` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from csharp_support import BUILD, CSharpClient, build_csharp, serve
from support import ServerProcess

import tickcast
from tests.csharp_udp_peer import UdpPeer
from tests.udp_support import counter_bytes
from tickcast import wire
from tickcast.client import ClientCore, Tick, input_frame
from tickcast.proto import pb
from tickcast.udp import UdpClientCore, UdpEndpoint, UdpServerSettings
from tickcast.udp import datagram as dg
from tickcast.udp.datagram import Refusal, Refused, ReplayWindow, tick_of

SERVE_OFFERS_UDP = False
"""Whether `tickcast serve` offers UDP itself (its UDP transport, issue 16 part 2,
is not on main yet). False: the end-to-end tests run the server-side core in the
test peer, beside a real `tickcast serve` that speaks TCP. True: the peer only
relays (and loses or blocks) the datagrams between the C# client and the server's
own UDP port; nothing else changes."""

GRID = 64
"""Script time unit: 1/64 s. Every timer of both cores is a whole number of these,
so Python's float clock and C#'s integer one agree exactly."""

# how C# names Python's refusal reasons (C# has one reason for both sizes and both replays)
CSHARP_REFUSAL = {
    None: "None",
    Refusal.TRUNCATED: "Size",
    Refusal.OVERSIZED: "Size",
    Refusal.BAD_KIND: "Kind",
    Refusal.UNKNOWN_SESSION: "Session",
    Refusal.BAD_MAC: "Mac",
    Refusal.REPLAY: "Replay",
    Refusal.TOO_OLD: "Replay",
    Refusal.MALFORMED: "Body",
}


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    build_csharp()


def harness_golden(lines: list[str]) -> dict[str, dict[str, Any]]:
    """Run `Tickcast.Harness.exe golden` on TSV lines; its answers by vector name."""
    done = subprocess.run(
        ["mono", "--debug", str(BUILD / "Tickcast.Harness.exe"), "golden"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(answers) == len(lines), done.stdout[-2000:]
    by_name = {a["name"]: a for a in answers}
    for name, a in by_name.items():
        assert "error" not in a, f"{name}: {a['error']}"
    return by_name


def python_read(data: bytes, kind: int, session: bytes, key: bytes, window: ReplayWindow) -> Any:
    """What the Python core makes of a datagram: (refusal or None, decoded body or None)."""
    try:
        seq, raw = dg.authenticate(data, kind, session, key, window)
        body = dg.decode_server_body(raw) if kind == dg.SERVER_KIND else dg.decode_client_body(raw)
    except Refused as exc:
        return exc.reason, None
    window.record(seq)
    return None, (seq, body)


# ---------------------------------------------------------------- a session on a fake clock


class Recorder:
    """One Python server member and one Python client core on a 1/64 s grid, with
    a lossy, duplicating, reordering datagram network and a lagging stream.

    Every event the client takes is recorded as a script command for the C#
    harness, with what the Python client did in answer: the datagrams it sent,
    the stream frames it wrote, the ticks it handed on, its mode. The server side
    answers the Python client's datagrams, so the C# client, given the same
    events, must answer with the very same bytes.
    """

    def __init__(self, seed: int, *, skip_empty: bool = False, loss: float = 0.2) -> None:
        self.rnd = random.Random(seed)
        self.loss = loss
        self.skip_empty = skip_empty
        self.t = 0  # grid units
        self.endpoint = UdpEndpoint(UdpServerSettings(), random_bytes=counter_bytes(seed))
        self.member = self.endpoint.open(first_tick=1, tick_interval=2 / GRID)
        self.core = ClientCore("cy", "arena", skip_empty_ticks=skip_empty)
        self.welcome = pb.Welcome(
            room="arena", slot=1, tick_rate=GRID // 2, first_tick=1, udp=self.member.offer(7777)
        )
        self.commands: list[str] = []
        self.expected: list[dict[str, Any]] = []
        self.next_tick = 1
        self.frames: dict[int, bytes | None] = {}
        self.open_inputs: list[bytes] = []
        self.last_seq = 0
        self.s2c: list[tuple[int, bytes]] = []  # (arrives at, datagram)
        self.c2s: list[tuple[int, bytes]] = []
        self.s2c_stream: list[tuple[int, bytes]] = []
        self.c2s_stream: list[bytes] = []
        self.udp_blocked = False
        self.port = 40000  # the client's source port, as the server sees it (its NAT may change it)
        resend = self.core.on_welcome(self.welcome)
        udp = UdpClientCore.from_welcome(self.core, self.welcome, self.now)
        assert udp is not None
        self.udp = udp
        self._record(f"welcome@{self._welcome_hex()}@{self.t}", [], extra_stream=resend)

    @property
    def now(self) -> float:
        return self.t / GRID

    def _welcome_hex(self) -> str:
        return pb.ServerMessage(welcome=self.welcome).SerializeToString().hex()

    def _record(
        self, command: str, ticks: list[Tick], extra_stream: list[bytes] | None = None
    ) -> None:
        sent = self.udp.datagrams_to_send(self.now)
        stream = [*(extra_stream or []), *self.udp.stream_frames_to_send()]
        self.commands.append(command)
        self.expected.append(
            {
                "datagrams": [d.hex() for d in sent],
                "stream": [f.hex() for f in stream],
                "ticks": [[t.number, t.raw.hex()] for t in ticks],
                "mode": self.udp.mode.value,
            }
        )
        for d in sent:
            if not self.udp_blocked and self.rnd.random() >= self.loss:
                self.c2s.append((self.t + self.rnd.randint(0, 3), d))
        self.c2s_stream.extend(stream)

    # ---- the server side (not recorded: the client does not see it)

    def _server_out(self) -> None:
        for data, _addr in self.member.datagrams_to_send(self.now):
            if self.udp_blocked:
                continue
            copies = 0 if self.rnd.random() < self.loss else (2 if self.rnd.random() < 0.1 else 1)
            for _ in range(copies):
                self.s2c.append((self.t + self.rnd.randint(0, 4), data))
        for frame in self.member.stream_frames():
            self.s2c_stream.append((self.t + self.rnd.randint(0, 6), frame))

    def _room_tick(self) -> None:
        n = self.next_tick
        self.next_tick += 1
        inputs = b"".join(self.open_inputs)
        self.open_inputs = []
        frame = None
        if inputs or not self.skip_empty:
            frame = wire.encode_tick_frame(wire.encode_tick_content(n, inputs))
        self.frames[n] = frame
        self.member.push(n, frame, self.now)
        self._server_out()

    def _submit(self, seq: int, payload: bytes) -> None:
        if seq > self.last_seq:
            self.last_seq = seq
            self.open_inputs.append(wire.encode_relayed_input(1, seq, payload))

    # ---- one grid step

    def step(self, *, ticking: bool = True, inputs: bool = True) -> None:
        self.t += 1
        # timers first, on both sides
        t = self.member.get_timer()
        if t is not None and t <= self.now:
            self.member.handle_timer(self.now)
            self._server_out()
        self.udp.handle_timer(self.now)
        self._record(f"timer@{self.t}", [])
        if ticking and self.t % 2 == 0:
            self._room_tick()
        # the server reads what reached it
        for item in [x for x in self.c2s if x[0] <= self.t]:
            self.c2s.remove(item)
            got = self.endpoint.datagram_received(item[1], ("198.51.100.7", self.port), self.now)
            if got is not None:
                for seq, payload in got.inputs:
                    self._submit(seq, payload)
            self._server_out()
        framer = wire.Framer(1 << 20)
        for chunk in self.c2s_stream:
            for body in framer.feed(chunk):
                msg = wire.decode_client_message(body)
                self._submit(msg.input.seq, msg.input.payload)
        self.c2s_stream = []
        # the client reads what reached it: datagrams in any order, the stream in order
        due = [x for x in self.s2c if x[0] <= self.t]
        self.rnd.shuffle(due)
        for item in due:
            self.s2c.remove(item)
            ticks = self.udp.datagram_received(item[1], self.now)
            self._record(f"dgram@{self.t}@{item[1].hex()}", ticks)
        while self.s2c_stream and self.s2c_stream[0][0] <= self.t:
            frame = self.s2c_stream.pop(0)[1]
            body = frame[wire.prefix_length(frame) :]
            raw = tick_of(body)
            tick = pb.Tick()
            tick.ParseFromString(raw)
            ticks = self.udp.stream_tick(body, tick, raw)
            self._record(f"stream@{self.t}@{body.hex()}", ticks)
        if inputs and self.rnd.random() < 0.15:
            payload = bytes(self.rnd.randrange(256) for _ in range(self.rnd.choice((1, 8, 300))))
            self.udp.send_input(payload, self.now)
            self._record(f"input@{self.t}@{payload.hex()}", [])

    def script(self) -> str:
        return ";".join(self.commands)


def session(seed: int, skip_empty: bool, loss: float, blocked: tuple[int, int]) -> Recorder:
    """A session of ~8 s: UDP works, is blocked (fallback), works again, then the
    room stops and everything arrives. The client's NAT gives it a new source port
    now and then (the server challenges the new address), once right before the block."""
    rec = Recorder(seed, skip_empty=skip_empty, loss=loss)
    for i in range(512):
        rec.udp_blocked = blocked[0] <= i < blocked[1]
        if i % 97 == 50 or i == blocked[0] - 3:
            rec.port += 1
        rec.step()
    for _ in range(256):  # calm: no new ticks or inputs, everything in flight arrives
        rec.loss = 0.0
        rec.step(ticking=False, inputs=False)
    return rec


SESSIONS: list[tuple[int, bool, float, tuple[int, int]]] = [
    (1, False, 0.0, (0, 0)),
    (2, False, 0.05, (200, 380)),
    (3, True, 0.2, (100, 300)),
    (4, True, 0.5, (300, 320)),
    (5, False, 0.3, (0, 200)),  # blocked from the start: probing gives up, then UDP appears
]


def test_scripted_sessions_send_the_same_datagrams_as_the_python_core() -> None:
    recorders = [session(*s) for s in SESSIONS]
    lines = [
        f"udp-script\tsession-{s[0]}\t{int(s[1])}\t{r.script()}"
        for s, r in zip(SESSIONS, recorders, strict=True)
    ]
    answers = harness_golden(lines)
    compared = datagrams = 0
    for s, rec in zip(SESSIONS, recorders, strict=True):
        got = answers[f"session-{s[0]}"]["steps"]
        assert len(got) == len(rec.expected)
        py_ticks: list[list[Any]] = []
        cs_ticks: list[list[Any]] = []
        for i, (mine, theirs) in enumerate(zip(got, rec.expected, strict=True)):
            where = f"session {s[0]}, step {i} ({rec.commands[i][:40]}...)"
            assert mine["datagrams"] == theirs["datagrams"], where
            assert mine["stream"] == theirs["stream"], where
            assert mine["mode"] == theirs["mode"], where
            if not s[1]:  # without skipped ticks both hand every tick over at the same event
                assert mine["ticks"] == theirs["ticks"], where
            py_ticks += theirs["ticks"]
            cs_ticks += mine["ticks"]
            compared += 1
            datagrams += len(theirs["datagrams"])
        # with skipped ticks C# hands a covered run of them over at once, Python with the next frame
        assert cs_ticks[: len(py_ticks)] == py_ticks
        assert [t[0] for t in cs_ticks] == list(range(1, len(cs_ticks) + 1))
        last_frame = max(n for n, f in rec.frames.items() if f is not None)
        assert len(py_ticks) >= last_frame
        modes = {e["mode"] for e in rec.expected}
        assert "active" in modes
        if s[3][1] - s[3][0] > 100:
            assert "fallback" in modes, f"session {s[0]} never fell back"
    print(
        f"FIGURE scripted UDP sessions: {compared} events, "
        f"{datagrams} client datagrams byte-identical"
    )


# ---------------------------------------------------------------- golden datagrams


def _session_datagrams() -> tuple[bytes, bytes, list[bytes], list[bytes]]:
    """Server and client datagrams of a real (recorded) session."""
    rec = session(7, True, 0.1, (150, 260))
    server = [bytes.fromhex(c.split("@")[2]) for c in rec.commands if c.startswith("dgram@")]
    client = [bytes.fromhex(d) for e in rec.expected for d in e["datagrams"]]
    return rec.member.session_id, rec.member.key, server, client


def test_server_datagrams_verify_decode_and_encode_back_byte_for_byte() -> None:
    session_id, key, server, _ = _session_datagrams()
    sid2, key2 = bytes(range(8, 16)), bytes(range(100, 132))
    tick = wire.encode_tick_frame(
        wire.encode_tick_content(2**40, wire.encode_relayed_input(7, 2**31, b"\xff" * 900))
    )
    small = [
        wire.encode_tick_frame(wire.encode_tick_content(n, b"")) for n in (2**40 - 1, 2**40 - 5)
    ]
    edge = [
        # the largest numbers, a challenge, a 64-bit pong, frames and skipped numbers between them
        dg.seal(
            dg.SERVER_KIND,
            sid2,
            0xFFFFFFFF,
            key2,
            [dg.server_fields(2**40, 9, b"\x00\xff" * 4, 2**64 - 1), tick, *small],
        ),
        dg.seal(dg.SERVER_KIND, sid2, 1, key2, [dg.server_fields(0, 0)]),
        dg.seal(dg.SERVER_KIND, sid2, 2, key2, [dg.server_fields(5, 5)]),
    ]
    assert len(edge[0]) <= dg.MAX_DATAGRAM
    # a datagram as big as allowed: the window full of frames
    frames = [
        wire.encode_tick_frame(
            wire.encode_tick_content(n, wire.encode_relayed_input(1, n, bytes(40)))
        )
        for n in range(100, 80, -1)
    ]
    parts = [dg.server_fields(100, 20)]
    total = dg.HEADER_BYTES + dg.MAC_BYTES + len(parts[0])
    for f in frames:
        if total + len(f) > dg.MAX_DATAGRAM:
            break
        parts.append(f)
        total += len(f)
    parts[0] = dg.server_fields(100, len(parts) - 1)
    edge.append(dg.seal(dg.SERVER_KIND, sid2, 3, key2, parts))
    lines = [
        "udp-server-read\treal\t"
        + "\t".join([session_id.hex(), key.hex(), ",".join(d.hex() for d in server)]),
        "udp-server-read\tedge\t"
        + "\t".join([sid2.hex(), key2.hex(), ",".join(d.hex() for d in edge)]),
    ]
    answers = harness_golden(lines)
    checked = 0
    for name, sid, k, datagrams in (("real", session_id, key, server), ("edge", sid2, key2, edge)):
        window = ReplayWindow()
        for data, got in zip(datagrams, answers[name]["results"], strict=True):
            why, decoded = python_read(data, dg.SERVER_KIND, sid, k, window)
            assert got["refusal"] == CSHARP_REFUSAL[why], (name, data.hex())
            if decoded is None:
                continue
            seq, body = decoded
            assert got["encoded"] == data.hex(), (name, data.hex())
            assert (got["seq"], got["newest"], got["span"]) == (seq, body.newest, body.span)
            assert got["challenge"] == (body.challenge.hex() if body.challenge else None)
            assert got["pong"] == body.pong
            assert [tuple(f) for f in got["frames"]] == [(n, f.hex()) for n, f in body.frames]
            checked += 1
    assert checked >= 30
    print(f"FIGURE golden server datagrams: {checked} verified, decoded and encoded back")


def test_client_datagrams_decode_and_are_made_again_byte_for_byte() -> None:
    session_id, key, _, client = _session_datagrams()
    lines = [
        "udp-client-read\treal\t"
        + "\t".join([session_id.hex(), key.hex(), ",".join(d.hex() for d in client)])
    ]
    window = ReplayWindow()
    decoded = []
    for i, data in enumerate(client):
        why, got = python_read(data, dg.CLIENT_KIND, session_id, key, window)
        assert why is None
        seq, body = got
        decoded.append((seq, body))
        inputs = ";".join(f"{s}:{p.hex()}" for s, p in body.inputs)
        lines.append(
            "\t".join(
                [
                    "udp-client-make",
                    f"make-{i}",
                    session_id.hex(),
                    key.hex(),
                    str(seq),
                    str(int(body.active)),
                    str(body.received),
                    body.response.hex() if body.response else "-",
                    "-" if body.ping is None else str(body.ping),
                    inputs,
                ]
            )
        )
    # edge values: the largest received and ping, a response, inputs up to the datagram's limit
    big = [(2**32 - 1 - i, bytes([i]) * 100) for i in range(10, 0, -1)]
    fields = dg.client_fields(2**63, active=True, response=b"\x01" * 8, ping=2**64 - 1)
    parts = [fields]
    for s, p in big:
        f = input_frame(s, p)
        if sum(map(len, parts)) + len(f) + dg.HEADER_BYTES + dg.MAC_BYTES > dg.MAX_DATAGRAM:
            break
        parts.append(f)
    edge = dg.seal(dg.CLIENT_KIND, session_id, 7, key, parts)
    kept = big[: len(parts) - 1]
    lines.append(
        "\t".join(
            [
                "udp-client-make",
                "edge",
                session_id.hex(),
                key.hex(),
                "7",
                "1",
                str(2**63),
                "01" * 8,
                str(2**64 - 1),
                ";".join(f"{s}:{p.hex()}" for s, p in kept),
            ]
        )
    )
    answers = harness_golden(lines)
    for data, got, (seq, body) in zip(client, answers["real"]["results"], decoded, strict=True):
        assert got["refusal"] == "None"
        assert got["encoded"] == data.hex()
        assert (got["seq"], got["active"], got["received"], got["ping"]) == (
            seq,
            body.active,
            body.received,
            body.ping,
        )
        assert got["response"] == (body.response.hex() if body.response else None)
        assert [tuple(x) for x in got["inputs"]] == [(s, p.hex()) for s, p in body.inputs]
    for i, data in enumerate(client):
        assert answers[f"make-{i}"]["encoded"] == data.hex(), i
    assert answers["edge"]["encoded"] == edge.hex()
    assert len(edge) > dg.MAX_DATAGRAM - 120
    print(
        f"FIGURE golden client datagrams: {len(client) + 1} made byte-identical from their fields"
    )


def _tampered(session_id: bytes, key: bytes, good: bytes) -> list[tuple[str, list[bytes]]]:
    """Datagrams every receiver must refuse (each list goes through one replay window)."""

    def resealed(data: bytes) -> bytes:
        return data[: -dg.MAC_BYTES] + dg.mac(key, data[: -dg.MAC_BYTES])

    def flip(data: bytes, i: int) -> bytes:
        return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]

    body = dg.body_of(good)
    bad_bodies = [
        bytes([0x04]) + body[1:],  # an unknown flag bit
        body + b"\x00",  # an empty frame at the end
        body[:-3],  # a frame cut short
        dg.server_fields(3, 4),  # a span beyond tick 1
        dg.server_fields(9, 0)
        + wire.encode_tick_frame(wire.encode_tick_content(9, b"")),  # a frame, no range
        dg.server_fields(9, 1)
        + wire.encode_tick_frame(wire.encode_tick_content(7, b"")),  # outside the range
        dg.server_fields(9, 1)
        + wire.frame(pb.ServerMessage(pong=pb.Pong(nonce=1)).SerializeToString()),
        b"\x01\x09\x00\x01\x02\x03",  # a challenge cut short
    ]
    seq = iter(range(50, 100))
    return [
        ("truncated", [good[:30], good[:-1]]),
        ("oversized", [good + bytes(dg.MAX_DATAGRAM + 1 - len(good))]),
        (
            "kind",
            [resealed(bytes([dg.CLIENT_KIND]) + good[1:]), resealed(bytes([0x22]) + good[1:])],
        ),
        ("session", [resealed(flip(good, 3))]),
        ("mac", [flip(good, len(good) - 1), flip(good, 14), flip(good, 10)]),
        ("replay", [good, good]),
        (
            "too-old",
            [
                dg.seal(dg.SERVER_KIND, session_id, 100, key, [body]),
                dg.seal(dg.SERVER_KIND, session_id, 36, key, [body]),
                dg.seal(dg.SERVER_KIND, session_id, 37, key, [body]),
            ],
        ),
        # authentic (their MAC is right), but the body breaks the layout
        (
            "malformed",
            [dg.seal(dg.SERVER_KIND, session_id, next(seq), key, [b]) for b in bad_bodies],
        ),
    ]


def test_tampered_datagrams_are_refused_for_the_same_reason() -> None:
    session_id, key = bytes(range(8)), bytes(range(32))
    tick = wire.encode_tick_frame(
        wire.encode_tick_content(130, wire.encode_relayed_input(1, 7, b"L"))
    )
    good = dg.seal(dg.SERVER_KIND, session_id, 2, key, [dg.server_fields(130, 1), tick])
    sealed = dict(_tampered(session_id, key, good))
    lines = [
        f"udp-server-read\t{name}\t{session_id.hex()}\t{key.hex()}\t"
        + ",".join(d.hex() for d in ds)
        for name, ds in sealed.items()
    ]
    answers = harness_golden(lines)
    refused = 0
    for name, datagrams in sealed.items():
        window = ReplayWindow()
        for data, got in zip(datagrams, answers[name]["results"], strict=True):
            why, _ = python_read(data, dg.SERVER_KIND, session_id, key, window)
            assert got["refusal"] == CSHARP_REFUSAL[why], (name, data.hex(), why)
            refused += why is not None
    assert refused >= 17
    print(f"FIGURE tampered datagrams: {refused} refused by C# for Python's reason")


# ---------------------------------------------------------------- end to end

RESILIENT = [
    "--dead-after",
    "1",
    "--ping-interval",
    "0.25",
    "--backoff-initial",
    "0.02",
    "--backoff-max",
    "0.3",
    "--max-attempts",
    "1000",
    "--connect-timeout",
    "2",
]


@contextlib.asynccontextmanager
async def udp_server(*flags: str, seed: int = 1) -> AsyncIterator[tuple[ServerProcess, UdpPeer]]:
    """`tickcast serve` (50 ticks/s) and the peer in front of it; C# clients connect
    to `peer.port`, TCP-only Python clients may connect to `server.port`."""
    async with serve(*flags) as server:
        peer = await UdpPeer.start(server.port, "relay" if SERVE_OFFERS_UDP else "core", seed)
        try:
            yield server, peer
        finally:
            await peer.close()


class Watcher:
    """A Python client on plain TCP in the same room: what a TCP member receives."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.ticks: dict[int, bytes] = {}
        self.inputs: list[tuple[str, int, bytes]] = []
        self.task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for t in self.client.ticks():
            self.ticks[t.number] = t.raw
            self.inputs.extend((i.player_id, i.seq, i.payload) for i in t.inputs)

    def of(self, player: str) -> list[tuple[int, bytes]]:
        return [(seq, p) for pid, seq, p in self.inputs if pid == player]

    async def close(self) -> None:
        await self.client.close()
        self.task.cancel()


async def watcher(port: int, room: str, skip_empty: bool = False) -> Watcher:
    client = await tickcast.connect(
        "127.0.0.1", port, player_id="watch", room=room, skip_empty_ticks=skip_empty
    )
    return Watcher(client)


def empty_tick(number: int) -> str:
    """The hex of Tick{number}: what a client makes of a tick the room skipped."""
    return pb.Tick(number=number).SerializeToString().hex()


def udp_stats(stats: dict[str, Any]) -> dict[str, Any]:
    udp: dict[str, Any] = stats["udp"]
    return udp


def check_ticks(cs: CSharpClient, tcp: Watcher) -> int:
    """The C# client's ticks: numbered without gap or repeat, and byte for byte what
    the TCP member got for the same numbers (skipped ones: empty on the C# side)."""
    ticks = cs.ticks()
    numbers = [t["number"] for t in ticks]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "a gap or a repeat"
    compared = 0
    for t in ticks:
        raw = tcp.ticks.get(t["number"])
        if raw is not None:
            assert bytes.fromhex(t["raw"]) == raw, f"tick {t['number']}"
            compared += 1
        else:  # a tick the TCP member has not got yet, or one the room skipped
            assert not t["inputs"] or t["number"] > max(tcp.ticks), f"tick {t['number']}"
    return compared


async def exactly_once(cs: CSharpClient, tcp: Watcher, sent: list[tuple[int, bytes]]) -> None:
    """Every input the C# client sent was sequenced once, in order: in the room as the
    TCP member sees it, and in the C# client's own ticks."""
    await cs.wait_for(
        lambda: len(tcp.of("cs")) >= len(sent), 30, "the TCP member to see every input"
    )
    await cs.wait_for(lambda: seen(cs) >= len(sent), 30, "the C# client to see every input")
    assert tcp.of("cs") == sent
    mine = [(i[1], bytes.fromhex(i[2])) for t in cs.ticks() for i in t["inputs"] if i[3] == "cs"]
    assert mine == sent


def seen(cs: CSharpClient) -> int:
    """How many of its own inputs the C# client has received in ticks."""
    return sum(1 for t in cs.ticks() for i in t["inputs"] if i[3] == "cs")


async def send(cs: CSharpClient, sent: list[tuple[int, bytes]], n: int, tag: str) -> None:
    payloads = [f"{tag}-{k}".encode() * (1 + k % 3) for k in range(n)]
    seqs = await cs.send(*payloads)
    sent.extend(zip(seqs, payloads, strict=True))


async def test_a_udp_client_gets_the_ticks_a_tcp_member_gets_byte_for_byte() -> None:
    async with udp_server() as (server, peer):
        tcp = await watcher(server.port, "mixed")
        async with await CSharpClient.start(peer.port, "cs", "mixed", "--udp") as cs:
            await cs.event("welcomed")
            await cs.wait_for(
                lambda: any(e["mode"] == "active" for e in cs.of("udp")), 10, "UDP active"
            )
            assert [e["mode"] for e in cs.of("udp")][:2] == ["probing", "active"]
            sent: list[tuple[int, bytes]] = []
            for k in range(8):
                await send(cs, sent, 4, f"b{k}")
                tcp.client.send(f"tcp-{k}".encode())
                await asyncio.sleep(0.05)
            await exactly_once(cs, tcp, sent)
            first = cs.ticks()[0]["number"]
            await cs.ticks_until(first + 150)
            await cs.wait_for(lambda: first + 150 in tcp.ticks, 20, "150 ticks on the TCP member")
            compared = check_ticks(cs, tcp)
            assert compared >= 150
            stats = udp_stats(await cs.stats())
            assert stats["mode"] == "active" and stats["fallbacks"] == 0
            assert stats["ticks_via_datagram"] >= 100, stats
            assert stats["refused"] == 0
            if not SERVE_OFFERS_UDP:
                assert peer.total("ticks_by_udp") >= 100
                assert peer.counts["inputs by datagram"] >= len(sent)
                assert peer.endpoint.refused.total() == 0
            print(
                f"FIGURE C# over UDP: {compared} ticks byte-identical with a TCP member, "
                f"{stats['ticks_via_datagram']} by datagram, {len(sent)} inputs once each"
            )
        await tcp.close()


@pytest.mark.parametrize("skip_empty", [False, True], ids=["every-tick", "skip-empty-ticks"])
async def test_datagram_loss_is_repaired_and_nothing_is_lost_or_doubled(skip_empty: bool) -> None:
    flags = ["--skip-empty-ticks"] if skip_empty else []
    options = ["--udp", *(["--skip-empty-ticks"] if skip_empty else [])]
    async with udp_server(*flags, seed=3) as (server, peer):
        tcp = await watcher(server.port, "lossy", skip_empty)
        async with await CSharpClient.start(peer.port, "cs", "lossy", *options) as cs:
            await cs.wait_for(
                lambda: any(e["mode"] == "active" for e in cs.of("udp")), 10, "UDP active"
            )
            peer.loss = 0.25
            sent: list[tuple[int, bytes]] = []
            for k in range(20):
                await send(cs, sent, 2, f"l{k}")
                if k % 3 == 0:
                    tcp.client.send(f"tcp-{k}".encode())
                await asyncio.sleep(0.06)
            peer.loss = 0.0
            await exactly_once(cs, tcp, sent)
            last = max(tcp.ticks)
            await cs.ticks_until(last)
            compared = check_ticks(cs, tcp)
            stats = udp_stats(await cs.stats())
            assert stats["repaired_ticks"] > 0, stats  # later datagrams made up for lost ones
            assert stats["ticks_via_datagram"] > 0
            if skip_empty:  # a skipped tick has no chain: both clients made it up as Tick{number}
                skipped = [t for t in cs.ticks() if t["raw"] == empty_tick(t["number"])]
                assert len(skipped) > 10, "the room skipped empty ticks"
            print(
                f"FIGURE C# over UDP at 25 % datagram loss ({'skip' if skip_empty else 'all'}): "
                f"{compared} ticks identical, {stats['repaired_ticks']} repaired by redundancy, "
                f"{stats['ticks_via_stream']} by the stream"
            )
        await tcp.close()


async def test_blocked_udp_falls_back_to_the_stream_with_no_gap_and_comes_back() -> None:
    async with udp_server(seed=5) as (server, peer):
        tcp = await watcher(server.port, "blocky")
        async with await CSharpClient.start(
            peer.port, "cs", "blocky", "--udp", "--udp-retry", "0.5"
        ) as cs:
            await cs.wait_for(
                lambda: any(e["mode"] == "active" for e in cs.of("udp")), 10, "UDP active"
            )
            sent: list[tuple[int, bytes]] = []
            await send(cs, sent, 5, "before")
            peer.blocked = True
            await send(cs, sent, 5, "blocked")  # by datagram: lost, until the fallback
            await cs.wait_for(
                lambda: any(e["mode"] == "fallback" for e in cs.of("udp")), 10, "the fallback"
            )
            await send(cs, sent, 5, "fallen")  # by the stream
            await asyncio.sleep(0.5)
            peer.blocked = False
            await cs.wait_for(
                lambda: [e["mode"] for e in cs.of("udp")][-1] == "active", 10, "UDP back"
            )
            before = udp_stats(await cs.stats())["ticks_via_datagram"]
            await send(cs, sent, 5, "back")
            await exactly_once(cs, tcp, sent)
            await cs.ticks_until(cs.ticks()[-1]["number"] + 25)
            await cs.ticks_until(max(tcp.ticks))
            compared = check_ticks(cs, tcp)
            modes = [e["mode"] for e in cs.of("udp")]
            assert modes == ["probing", "active", "fallback", "active"], modes
            stats = udp_stats(await cs.stats())
            assert stats["fallbacks"] == 1 and stats["ticks_via_stream"] > 0
            assert stats["ticks_via_datagram"] >= before + 20, "datagrams carry the ticks again"
            print(
                f"FIGURE C# fallback and back: {compared} ticks without a gap, "
                f"{stats['ticks_via_stream']} by the stream, {len(sent)} inputs once each"
            )
        await tcp.close()


async def test_udp_blocked_from_the_start_leaves_everything_on_the_stream() -> None:
    async with udp_server(seed=6) as (server, peer):
        peer.blocked = True
        tcp = await watcher(server.port, "walled")
        async with await CSharpClient.start(peer.port, "cs", "walled", "--udp") as cs:
            await cs.event("welcomed")
            sent: list[tuple[int, bytes]] = []
            await send(cs, sent, 6, "probing")
            await cs.wait_for(
                lambda: any(e["mode"] == "fallback" for e in cs.of("udp")), 10, "the fallback"
            )
            await send(cs, sent, 6, "fallen")
            await exactly_once(cs, tcp, sent)
            await cs.ticks_until(max(tcp.ticks))
            check_ticks(cs, tcp)
            stats = udp_stats(await cs.stats())
            assert [e["mode"] for e in cs.of("udp")] == ["probing", "fallback"]
            assert stats["ticks_via_datagram"] == 0 and stats["datagrams_received"] == 0
            assert stats["ticks_via_stream"] > 0
        await tcp.close()


@pytest.mark.parametrize("skip_empty", [False, True], ids=["every-tick", "skip-empty-ticks"])
async def test_a_drop_of_both_paths_is_resumed_with_a_new_session_and_nothing_lost(
    skip_empty: bool,
) -> None:
    """With skipped ticks the resume point may be a number a datagram said was skipped:
    the server must resume after it as after any other."""
    skip = ["--skip-empty-ticks"] if skip_empty else []
    async with udp_server(*skip, seed=7) as (server, peer):
        tcp = await watcher(server.port, "resume", skip_empty)
        options = ["--udp", *RESILIENT, *skip]
        async with await CSharpClient.start(peer.port, "cs", "resume", *options) as cs:
            await cs.wait_for(
                lambda: any(e["mode"] == "active" for e in cs.of("udp")), 10, "UDP active"
            )
            sent: list[tuple[int, bytes]] = []
            for round_ in range(3):
                await send(cs, sent, 4, f"r{round_}")
                peer.drop()
                await cs.event("resumed", 20, after=round_)
                await cs.wait_for(
                    lambda r=round_: sum(e["mode"] == "active" for e in cs.of("udp")) >= r + 2,
                    10,
                    "UDP active on the new connection",
                )
                await send(cs, sent, 4, f"s{round_}")
                await cs.wait_for(lambda: seen(cs) >= len(sent), 20, "the round's inputs in ticks")
            await exactly_once(cs, tcp, sent)
            await cs.ticks_until(max(tcp.ticks))
            compared = check_ticks(cs, tcp)
            stats = await cs.stats()
            assert stats["reconnects"] == 3
            assert udp_stats(stats)["sessions"] == 4
            assert udp_stats(stats)["ticks_via_datagram"] > 0
            if not SERVE_OFFERS_UDP:
                assert len({m.session_id for m in peer.members}) == 4
            print(
                f"FIGURE C# resumed 3 drops of both paths: {compared} ticks identical, "
                f"{len(sent)} inputs once each"
            )
        await tcp.close()


async def test_the_peers_relay_mode_carries_a_session_as_the_flag_flip_will_use_it() -> None:
    """SERVE_OFFERS_UDP = True puts the peer in relay mode in front of a server that
    offers UDP itself. Until there is one, a core-mode peer plays that server: the
    relay rewrites its offer, relays (and loses) the datagrams, and the session works."""
    async with udp_server(seed=9) as (server, core):
        relay = await UdpPeer.start(core.port, "relay", seed=10)
        try:
            tcp = await watcher(server.port, "relayed")
            async with await CSharpClient.start(relay.port, "cs", "relayed", "--udp") as cs:
                await cs.wait_for(
                    lambda: any(e["mode"] == "active" for e in cs.of("udp")), 10, "UDP active"
                )
                relay.loss = 0.2
                sent: list[tuple[int, bytes]] = []
                for k in range(10):
                    await send(cs, sent, 2, f"v{k}")
                    await asyncio.sleep(0.05)
                relay.loss = 0.0
                await exactly_once(cs, tcp, sent)
                first = cs.ticks()[0]["number"]
                await cs.wait_for(lambda: first + 50 in tcp.ticks, 20, "50 ticks on the TCP member")
                await cs.ticks_until(max(tcp.ticks))
                assert check_ticks(cs, tcp) >= 50
                assert udp_stats(await cs.stats())["ticks_via_datagram"] > 0
                assert relay.counts["datagrams from clients"] > 0
                assert core.total("ticks_by_udp") > 0
            await tcp.close()
        finally:
            await relay.close()
