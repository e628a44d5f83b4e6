"""`tickcast bots` end to end: a real server, the real command, its exit code."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

from tickcast import wire
from tickcast.testing import running_server

SRC = str(Path(__file__).resolve().parents[2] / "src")


async def run_bots(port: int, *args: str, json_file: Path) -> tuple[int, str, dict]:  # type: ignore[type-arg]
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tickcast",
        "bots",
        "--port",
        str(port),
        "--no-live",
        "--json",
        str(json_file),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    summary = json.loads(json_file.read_text()) if json_file.exists() else {}
    return proc.returncode or 0, out.decode(), summary


async def test_bots_against_a_server_exit_zero(tmp_path: Path) -> None:
    # 50 ticks/s for 3 s: several whole 32-tick windows to compare, even on a slow machine
    async with running_server(tick_rate=50) as server:
        rc, out, s = await run_bots(
            server.port,
            "--rooms",
            "2",
            "--per-room",
            "3",
            "--spectators",
            "1",
            "--duration",
            "3",
            json_file=tmp_path / "s.json",
        )
    assert rc == 0, out
    assert "summary" in out and "OK" in out
    assert s["ok"] and s["connected"] == 8 and s["gaps"] == 0 and s["duplicates"] == 0
    assert s["inputs_sent"] > 0 and s["inputs_confirmed"] == s["inputs_sent"]
    assert s["ticks"] > 0 and s["windows_compared"] > 0 and s["inconsistencies"] == 0


class DropOneTick:
    """A loopback proxy that forwards whole frames and drops the `nth` tick frame
    of the server's stream on the first connection (a server bug, simulated)."""

    def __init__(self, target_port: int, nth: int = 20) -> None:
        self.target_port = target_port
        self.nth = nth
        self.dropped = False
        self._server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _accept(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection("127.0.0.1", self.target_port)
        drop = not self.dropped
        self.dropped = True

        async def upstream() -> None:
            while data := await cr.read(65536):
                sw.write(data)
            sw.close()

        async def downstream() -> None:
            framer = wire.Framer(1 << 26)
            ticks = 0
            while data := await sr.read(65536):
                for body in framer.feed(data):
                    if drop and body[:1] == b"\x12":
                        ticks += 1
                        if ticks == self.nth:
                            continue
                    cw.write(wire.frame(body))
            cw.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)


async def test_bots_exit_non_zero_on_a_gap(tmp_path: Path) -> None:
    async with running_server(tick_rate=30) as server:
        async with DropOneTick(server.port) as port:
            rc, out, s = await run_bots(
                port,
                "--rooms",
                "1",
                "--per-room",
                "2",
                "--duration",
                "2",
                json_file=tmp_path / "s.json",
            )
    assert rc == 1, out
    assert s["gaps"] == 1 and not s["ok"]
    assert "FAILED" in out


async def test_bots_check_every_tick_as_it_is_read_from_the_first_one() -> None:
    """No tick waits in a queue for a consumer: a run starts without a backlog."""
    from tickcast.bots import BotOptions, BotRun

    async with running_server(tick_rate=50) as server:
        run = BotRun(BotOptions(port=server.port, rooms=2, per_room=2, spectators=1, live=False))
        await run.connect_all()
        try:
            assert len(run.bots) == 6

            async def all_checked_some_ticks() -> None:
                while not all(b.ticks >= 3 for b in run.bots):
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(all_checked_some_ticks(), 20)  # no consumer task runs
            for b in run.bots:
                assert b.client.ticks_nowait() == []  # nothing queued behind the checks
                assert b.last == b.client.last_tick and b.gaps == b.duplicates == 0
        finally:
            await asyncio.gather(*(b.client.close() for b in run.bots))


async def test_bots_in_two_worker_processes_merge_into_one_summary(tmp_path: Path) -> None:
    async with running_server(tick_rate=50) as server:
        args = "--rooms 3 --per-room 2 --duration 3 --workers 2".split()
        rc, out, s = await run_bots(server.port, *args, json_file=tmp_path / "s.json")
    assert rc == 0, out
    assert s["ok"] and s["connected"] == 6 and s["bots"] == 6 and s["options"]["workers"] == 2
    assert s["inputs_sent"] > 0 and s["inputs_confirmed"] == s["inputs_sent"]
    assert s["windows_compared"] > 0 and s["inconsistencies"] == 0
    assert 0 < s["latency_ms_p50"] <= s["latency_ms_p99"] <= s["latency_ms_max"]


def read_terminal(master: int) -> bytes:
    """Everything written to a pseudo-terminal until its last writer closes it."""
    out = bytearray()
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the slave side is closed
            break
        if not data:
            break
        out += data
    return bytes(out)


async def test_bots_show_a_live_display_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the live table (connected, rates, latency, reconnects, kicks) is
    redrawn while the bots run; every flag the issue names is accepted."""
    import pty

    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(COLUMNS="200", LINES="50", TERM="xterm")
    try:
        async with running_server(tick_rate=50) as server:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tickcast", "bots",
                "--host", "127.0.0.1", "--port", str(server.port),
                "--rooms", "1", "--per-room", "2", "--spectators", "1",
                "--input-rate", "20", "--payload-bytes", "24", "--duration", "2.5",
                "--json", str(tmp_path / "s.json"),
                stdin=slave, stdout=slave, stderr=slave, env=env,
            )  # fmt: skip
            os.close(slave)
            slave = -1
            reader = asyncio.get_running_loop().run_in_executor(None, read_terminal, master)
            rc = await asyncio.wait_for(proc.wait(), 60)
            screen = (await asyncio.wait_for(reader, 10)).decode(errors="replace")
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert rc == 0, screen
    live = screen.split("tickcast bots: summary")[0]  # what was drawn before the summary
    for column in ("connected", "inputs/s", "deliveries/s", "p50 ms", "p99 ms", "reconnects"):
        assert column in live, column
    assert "kicks" in live and live.count("tickcast bots:") >= 2  # redrawn while running
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["ok"] and s["connected"] == 3
    assert s["options"]["input_rate"] == 20 and s["options"]["payload_bytes"] == 24
    assert s["options"]["spectators"] == 1


async def test_bots_continue_above_last_seq_in_a_room_the_player_was_in(tmp_path: Path) -> None:
    """Issue 19: a player the room already knows (a restored match, or an earlier
    `tickcast bots` run that did not leave) is welcomed with last_seq > 0, and the
    SDK numbers its inputs above it; the run is OK, not `inputs misordered`."""
    import tickcast

    async with running_server(tick_rate=50) as server:
        # the earlier run's bot: 5 inputs sequenced, then the connection drops (no Leave)
        earlier = await tickcast.connect("127.0.0.1", server.port, player_id="bot-1-1",
                                         room="bots-1")
        for i in range(5):
            earlier.send(b"earlier %d" % i)
        async for _tick in earlier.ticks():
            if earlier.pending_inputs == 0:
                break
        await earlier.close(leave=False)
        rc, out, s = await run_bots(
            server.port, "--rooms", "1", "--per-room", "2", "--duration", "2",
            json_file=tmp_path / "s.json",
        )  # fmt: skip
    assert rc == 0, out
    assert s["ok"] and s["misordered"] == 0 and s["inputs_lost"] == 0, s
    assert s["inputs_confirmed"] == s["inputs_sent"] > 0


async def test_bots_count_and_show_the_kicks_that_refuse_them(tmp_path: Path) -> None:
    """Issue 19: with auth on and no token every bot gets AUTH_FAILED: the summary
    counts those kicks by reason and shows them (it said `kicks 0`)."""
    secret = tmp_path / "secret"
    secret.write_text("bots-test-secret-0123456789abcdefghij\n")
    async with running_server(tick_rate=50, secret_file=str(secret)) as server:
        rc, out, s = await run_bots(
            server.port, "--rooms", "2", "--per-room", "2", "--spectators", "1",
            "--duration", "1", json_file=tmp_path / "s.json",
        )  # fmt: skip
    assert rc == 1, out
    assert (s["bots"], s["connected"], s["connect_errors"]) == (6, 0, 6)
    assert s["kicks"] == 6 and s["kick_reasons"] == {"AUTH_FAILED": 6}, s
    assert re.search(r"kicks\s.*6 \{'AUTH_FAILED': 6\}", out), out
    assert "FAILED" in out
