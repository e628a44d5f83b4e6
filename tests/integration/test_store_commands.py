"""Round trips through the recording tools: matches, export, verify, replay;
and the bad-disk states at start."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import RawClient, hello_frame, input_frame, running_server
from support import test_config as make_config

import tickcast
from tickcast import wire
from tickcast.cli import main
from tickcast.cli import serve as serve_command
from tickcast.client import Client
from tickcast.errors import Kicked
from tickcast.proto import pb
from tickcast.store import Recorder, SQLiteTickLog, StoreError
from tickcast.store.log import Cycle, MatchEnd, MatchStart, iter_ticks
from tickcast.store.replay import ReplayService

SRC = str(Path(tickcast.__file__).resolve().parents[1])


async def record_a_match(data_dir: Path) -> list[bytes]:
    """Two players, a few inputs each, both leave: one ended match. Returns ada's ticks."""
    rec = Recorder(make_config(data_dir=str(data_dir)))
    async with running_server([rec]) as server:
        a, _ = await RawClient.join(server.port, "ada")
        b, wb = await RawClient.join(server.port, "bob")
        for seq in range(1, 6):
            a.send_input(seq, b"a%d" % seq)
            b.send_input(seq, bytes([0, 255, seq]))
        await a.ticks_until(wb.first_tick + 10)
        b.send(hello_leave())
        a.send(hello_leave())
        await a.expect_kick()
        await b.expect_kick()
        room = server.relay.rooms.get("r")
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while "r" in server.relay.rooms or rec.backlog:
            assert loop.time() < end
            await asyncio.sleep(0.01)
        del room
    return [r for r in a.raw if pb.ServerMessage.FromString(r).HasField("tick")]


def hello_leave() -> bytes:
    from support import client_frame

    return client_frame(leave=pb.Leave())


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


async def test_matches_export_verify_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = await record_a_match(tmp_path)
    d = str(tmp_path)
    code, out = run_cli(capsys, "matches", "--json", "--data-dir", d)
    assert code == 0
    [m] = json.loads(out)
    assert m["room"] == "r" and m["players"] == ["ada", "bob"] and m["ended_at"] is not None
    assert m["end_reason"] == "empty" and m["ticks"] >= len(seen)
    code, out = run_cli(capsys, "matches", "--data-dir", d)
    assert code == 0 and "ada, bob" in out
    code, out = run_cli(capsys, "export", str(m["id"]), "--format", "ndjson", "--data-dir", d)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["tick"] for x in lines] == list(range(1, m["ticks"] + 1))
    got = [
        (i["slot"], i["seq"], base64.b64decode(i["payload"])) for x in lines for i in x["inputs"]
    ]
    assert (2, 3, bytes([0, 255, 3])) in got and (1, 5, b"a5") in got
    by_number = {x["tick"]: x for x in lines}
    for raw in seen:
        t = pb.ServerMessage.FromString(raw).tick
        assert by_number[t.number]["chain"] == t.chain.hex()
    code, out = run_cli(capsys, "verify", str(m["id"]), "--data-dir", d)
    assert code == 0 and "OK" in out
    # the log records presence too: both joins and both leaves, with their ticks
    db = sqlite3.connect(tmp_path / "ticks.sqlite3")
    try:
        rows = db.execute(
            "SELECT tick, slot, player_id, event FROM presence WHERE match_id = ? ORDER BY rowid",
            (m["id"],),
        ).fetchall()
    finally:
        db.close()
    joins = {(slot, pid) for _, slot, pid, event in rows if event == "join"}
    leaves = {slot for _, slot, _, event in rows if event == "leave"}
    assert joins == {(1, "ada"), (2, "bob")} and leaves == {1, 2} and len(rows) == 4
    assert max(tick for tick, *_ in rows) == m["ticks"]  # the last tick is the last leave


@pytest.mark.parametrize("where", ["payload", "chain", "prefix"])
async def test_verify_finds_the_first_flipped_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    await record_a_match(tmp_path)
    db = sqlite3.connect(tmp_path / "ticks.sqlite3")
    # the tick holding bob's input seq 3, payload 00 ff 03
    victim = None
    for n, frame in db.execute("SELECT number, frame FROM ticks ORDER BY number"):
        if bytes([0, 255, 3]) in frame:
            victim = (n, bytearray(frame))
            break
    assert victim is not None
    n, frame = victim
    if where == "payload":
        i = bytes(frame).index(bytes([0, 255, 3])) + 1
    elif where == "chain":
        i = len(frame) - 5  # inside the 32-byte chain at the end
    else:
        i = 0
    frame[i] ^= 0x01
    with db:
        db.execute("UPDATE ticks SET frame = ? WHERE number = ?", (bytes(frame), n))
    db.close()
    code, out = run_cli(capsys, "verify", "1", "--data-dir", str(tmp_path))
    assert code == 1
    assert f"BAD at tick {n}:" in out


async def test_replay_serves_the_recorded_ticks_to_spectators(tmp_path: Path) -> None:
    await record_a_match(tmp_path)
    lg = SQLiteTickLog(tmp_path, create=False)
    try:
        match = lg.match(1)
        assert match is not None
        recorded = [f for _, f in iter_ticks(lg, 1)]
        replay = ReplayService(lg, match, speed=5)
        async with running_server([replay], record=False) as server:
            player = await RawClient.connect(server.port)
            player.send(hello_frame("ada", "r"))
            assert (await player.expect_kick()).reason == pb.REASON_ROOM_CLOSED
            s, w = await RawClient.join(server.port, "watcher", spectator=True)
            assert w.first_tick == 1 and w.tick_rate == match.tick_rate
            kick = await s.expect_kick(10)
            assert kick.reason == pb.REASON_ROOM_CLOSED
            ticks = [r for r in s.raw if pb.ServerMessage.FromString(r).HasField("tick")]
            assert [wire_frame_body(f) for f in recorded] == ticks
            late, w2 = await RawClient.join(server.port, "late", spectator=True, full_history=True)
            assert w2.first_tick == 1
            await late.close()
            await s.close()
    finally:
        lg.close()


async def test_the_sdk_watches_a_replay_as_a_spectator(tmp_path: Path) -> None:
    await record_a_match(tmp_path)
    lg = SQLiteTickLog(tmp_path, create=False)
    try:
        match = lg.match(1)
        assert match is not None
        recorded = [wire_frame_body(f) for _, f in iter_ticks(lg, 1)]
        async with running_server([ReplayService(lg, match, speed=5)], record=False) as server:
            watcher = Client(
                "127.0.0.1", server.port, player_id="watcher", room="r", spectator=True
            )
            await watcher.start()
            ticks = []
            with pytest.raises(Kicked) as ended:
                async for tick in watcher.ticks():
                    ticks.append(tick)
            assert ended.value.reason == pb.REASON_ROOM_CLOSED  # the replay is over
            await watcher.close()
        assert [t.number for t in ticks] == list(range(1, match.tick_count + 1))
        assert all(body.endswith(t.raw) for body, t in zip(recorded, ticks, strict=True))
        inputs = [(i.player_id, i.seq, i.payload) for t in ticks for i in t.inputs]
        assert ("ada", 5, b"a5") in inputs and ("bob", 3, bytes([0, 255, 3])) in inputs
    finally:
        lg.close()


def wire_frame_body(frame: bytes) -> bytes:
    return frame[wire.prefix_length(frame) :]


def serve(tmp_path: Path, data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`tickcast serve` that is expected to refuse to start (exit at once)."""
    return subprocess.run(
        [sys.executable, "-m", "tickcast", "serve", "--port", "0", "--record", "--no-http",
         "--data-dir", str(data_dir), *extra],
        env=dict(os.environ, PYTHONPATH=SRC), capture_output=True, text=True, timeout=60,
        cwd=tmp_path,
    )  # fmt: skip


def test_a_data_dir_that_cannot_be_created_stops_the_server(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = serve(tmp_path, blocker / "data")
    assert r.returncode == 1
    assert "cannot create the data dir" in r.stderr and str(blocker / "data") in r.stderr


def test_a_data_dir_that_is_not_writable_stops_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the tests run as root, for whom every directory is writable: fake the check
    monkeypatch.setattr("tickcast.store.sqlite._writable", lambda directory: False)
    with pytest.raises(StoreError, match=f"{tmp_path}.* is not writable"):
        SQLiteTickLog(tmp_path)
    assert not (tmp_path / "ticks.sqlite3").exists()


async def test_serve_refuses_a_data_dir_that_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tickcast serve` stops before listening, names the directory and the fix."""
    monkeypatch.setattr("tickcast.store.sqlite._writable", lambda directory: False)
    config = make_config(data_dir=str(tmp_path), record=True, http=False)
    assert await serve_command(config) == 1
    err = capsys.readouterr().err
    assert f"the data dir {tmp_path} is not writable" in err and "--data-dir" in err
    assert not (tmp_path / "ticks.sqlite3").exists()


def test_a_damaged_log_refuses_to_start_and_is_left_alone(tmp_path: Path) -> None:
    lg = SQLiteTickLog(tmp_path)
    frames = [
        wire.encode_tick_frame(
            wire.encode_tick_content(n, wire.encode_relayed_input(1, n, bytes([n % 256]) * 300))
        )
        for n in range(1, 2001)
    ]
    lg.write_cycle(
        Cycle(
            begins=[MatchStart(1, "r", 30, time.time())],
            ticks=[(1, i + 1, f) for i, f in enumerate(frames)],
        )
    )
    lg.close()
    path = tmp_path / "ticks.sqlite3"
    data = bytearray(path.read_bytes())
    page = 4096
    for p in range(3, len(data) // page, 7):  # scribble over some b-tree pages
        data[p * page : p * page + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    r = serve(tmp_path, tmp_path)
    assert r.returncode == 1
    assert "quick_check" in r.stderr and str(path) in r.stderr and "move it aside" in r.stderr
    assert path.read_bytes() == before


async def test_retention_prunes_old_ended_matches_at_start_never_live_ones(tmp_path: Path) -> None:
    lg = SQLiteTickLog(tmp_path)
    old = time.time() - 5 * 86400
    frame = wire.encode_tick_frame(wire.encode_tick_content(1, b""))
    lg.write_cycle(
        Cycle(
            begins=[MatchStart(i, f"r{i}", 30, old) for i in (1, 2, 3)],
            ticks=[(i, 1, frame) for i in (1, 2, 3)],
            ends=[MatchEnd(1, old, "empty"), MatchEnd(2, time.time(), "empty")],
        )
    )
    lg.close()
    rec = Recorder(make_config(data_dir=str(tmp_path), retention_days=1.0))
    # match 3 is open but has no members: it is ended at start, not pruned
    async with running_server([rec]):
        pass
    lg = SQLiteTickLog(tmp_path, create=False)
    try:
        assert [m.id for m in lg.matches()] == [2, 3]
    finally:
        lg.close()


@pytest.mark.parametrize(
    "limit", [{"max_data_bytes": 1}, {"retention_days": 0.2 / 86400}], ids=["bytes", "days"]
)
async def test_retention_while_serving_prunes_ended_matches_never_the_live_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    limit: dict[str, float],
) -> None:
    """The periodic pruning (hourly; here after every commit) by --max-data-bytes
    (1 byte: everything ended must go) and by --retention-days (0.2 s): the match
    that ended is deleted, the live match beside it keeps every tick."""
    caplog.set_level(logging.INFO, "tickcast.store")
    monkeypatch.setattr("tickcast.store.recorder.PRUNE_INTERVAL", 0.0)
    rec = Recorder(make_config(data_dir=str(tmp_path), **limit))
    async with running_server([rec]) as server:
        live, wl = await RawClient.join(server.port, "bob", "live")
        short, ws = await RawClient.join(server.port, "ada", "short")
        short.send(b"".join(input_frame(s, bytes(3000)) for s in range(1, 6)))
        await short.ticks_until(ws.first_tick + 5)
        short.send(hello_leave())
        await short.expect_kick()
        reader = SQLiteTickLog(tmp_path, create=False)
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + 15
            while [m.room for m in reader.matches()] != ["live"]:  # "short" pruned
                assert loop.time() < end, [(m.room, m.live) for m in reader.matches()]
                await live.next_tick(10)
            [kept] = reader.matches()
            numbers = [n for n, _ in iter_ticks(reader, kept.id)]
            assert kept.live and numbers == list(range(1, numbers[-1] + 1))
            [short_id] = re.findall(r"match begins room=short match=(\d+)", caplog.text)
            assert f"pruned ended matches count=1 matches={short_id}" in caplog.text
            assert numbers[-1] >= wl.first_tick + 5
        finally:
            reader.close()
        await live.close()
    print(f"\nFIGURE retention {limit}: ended match pruned while serving, live match kept "
          f"{len(numbers)} ticks (1..{numbers[-1]})")


def test_store_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=str(tmp_path / "ticks.sqlite3")):
        SQLiteTickLog(tmp_path, create=False)


async def test_the_replay_command_serves_a_spectator_and_exits(tmp_path: Path) -> None:
    await record_a_match(tmp_path)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickcast", "replay", "1", "--speed", "10", "--port", str(port),
        "--data-dir", str(tmp_path), env=dict(os.environ, PYTHONPATH=SRC),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"replaying match 1" in line
        s, w = await RawClient.join(port, "watcher", spectator=True)
        assert w.first_tick == 1
        assert (await s.expect_kick(20)).reason == pb.REASON_ROOM_CLOSED
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        lg = SQLiteTickLog(tmp_path, create=False)
        try:
            recorded = [wire_frame_body(f) for _, f in iter_ticks(lg, 1)]
        finally:
            lg.close()
        assert [r for r in s.raw if pb.ServerMessage.FromString(r).HasField("tick")] == recorded
        await s.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_matches_shows_names_literally_never_as_markup(tmp_path: Path) -> None:
    """Room and player names are the clients' choice: `[/]` crashed the listing
    (MarkupError, exit 1) and `[link=...]` wrote an OSC-8 hyperlink into the
    operator's terminal (issue 15). Shown on a terminal (FORCE_COLOR), as typed."""
    room, link, bold = "[/]", "[link=http://evil.example]support[/link]", "[bold red]admin"
    rec = Recorder(make_config(data_dir=str(tmp_path)))
    async with running_server([rec]) as server:
        a, _ = await RawClient.join(server.port, link, room)
        b, wb = await RawClient.join(server.port, bold, room)
        await a.ticks_until(wb.first_tick + 3)
        a.send(hello_leave())
        b.send(hello_leave())
        await a.expect_kick()
        await b.expect_kick()
        await wait_until_recorded(server, rec, room)
    proc = subprocess.run(
        [sys.executable, "-m", "tickcast", "matches", "--data-dir", str(tmp_path)],
        env=dict(os.environ, PYTHONPATH=SRC, FORCE_COLOR="1", COLUMNS="200"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b]8;" not in out  # no hyperlink escape
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)  # the table's own colours aside
    for name in (room, link, bold):
        assert name in plain, (name, plain)


async def wait_until_recorded(server: object, rec: Recorder, room: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while room in server.relay.rooms or rec.backlog:  # type: ignore[attr-defined]
        assert loop.time() < end
        await asyncio.sleep(0.01)
