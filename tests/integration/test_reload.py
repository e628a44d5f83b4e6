"""SIGHUP and `tickcast reload` (issue 19, operations): the token secret, the admin
token and the limits are read again and applied without dropping a connection;
what changed is logged (never a secret); a bad new configuration is refused with
an ERROR and the running one kept. Before, SIGHUP killed the server (exit 129)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from support import (
    SRC_DIR,
    RawClient,
    ServerProcess,
    assert_gap_free,
    expect_final_kick,
    hello_frame,
    wait_until,
)

from tickcast.auth import mint
from tickcast.proto import pb

OLD_SECRET = "old-secret-" + "o" * 32
NEW_SECRET = "new-secret-" + "n" * 32
OLD_ADMIN, NEW_ADMIN = "old-admin-token-1234", "new-admin-token-5678"


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


async def refused(port: int, player: str, room: str, token: str) -> int:
    """The Kick reason a Hello gets (0 if it is welcomed instead)."""
    c = await RawClient.connect(port)
    c.send(hello_frame(player, room, token=token))
    msg = await c.next_message()
    if msg.HasField("welcome"):
        await c.close()
        return 0
    assert msg.HasField("kick"), msg
    await c.close()
    return int(msg.kick.reason)


async def admin_status(http: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s, s.get(http + "/api/server", headers=headers) as r:
        return r.status


def tickcast_reload(http: str, token_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickcast", "reload", "--http", http,
         "--admin-token-file", str(token_file)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": SRC_DIR},
    )


async def test_sighup_and_tickcast_reload_keep_every_connection(tmp_path: Path) -> None:
    secret, admin, conf = tmp_path / "secret", tmp_path / "admin-token", tmp_path / "tick.toml"
    write(secret, OLD_SECRET + "\n")
    write(admin, OLD_ADMIN + "\n")
    write(conf, "max_rooms = 10\ninput_rate = 120\n")
    server = await ServerProcess.start(
        "--config-file", str(conf), "--secret-file", str(secret), "--admin-token-file", str(admin)
    )
    try:
        assert server.proc.stdout is not None
        http = (await server.proc.stdout.readline()).decode().split()[-1]
        assert http.startswith("http://127.0.0.1:")
        port = server.port
        ada, wa = await RawClient.join(port, "ada", "r1", token=mint(OLD_SECRET.encode(), "ada"))
        bob, _ = await RawClient.join(port, "bob", "r1", token=mint(OLD_SECRET.encode(), "bob"))
        assert await admin_status(http, OLD_ADMIN) == 200

        # ---- SIGHUP: a new secret, a new admin token, tighter limits
        write(secret, NEW_SECRET + "\n")
        write(admin, NEW_ADMIN + "\n")
        write(conf, "max_rooms = 1\ninput_rate = 60\n")
        server.signal(signal.SIGHUP)
        await wait_until(lambda: server.logged("INFO tickcast.cli: reloaded "), 10, "the reload")
        assert server.proc.returncode is None  # alive (it used to die with 129)
        assert server.logged("reload: setting changed setting=max_rooms old=10 new=1")
        assert server.logged("reload: setting changed setting=input_rate old=120 new=60")
        assert server.logged('setting="token secret" change="changed, now 1 secret"')
        assert server.logged('setting="admin token" change=changed')
        assert await refused(port, "cy", "r1", mint(OLD_SECRET.encode(), "cy")) == (
            pb.REASON_AUTH_FAILED)
        assert await refused(port, "cy", "r1", mint(NEW_SECRET.encode(), "cy")) == 0
        # one room is all there may be now: r1 is open, r2 would be a second
        assert await refused(port, "dee", "r2", mint(NEW_SECRET.encode(), "dee")) == (
            pb.REASON_ROOM_FULL)
        assert await admin_status(http, OLD_ADMIN) == 401
        assert await admin_status(http, NEW_ADMIN) == 200

        # ---- a bad new configuration: refused with an ERROR, the running one kept
        write(conf, "max_rooms = 5\ninput_rate = -1\n")
        server.signal(signal.SIGHUP)
        await wait_until(lambda: server.logged("ERROR tickcast.cli: reload refused"), 10,
                         "the refusal")
        [line] = [x for x in server.stderr_lines if "reload refused" in x]
        assert f"{conf}: input_rate: must be >= 0" in line, line
        assert await refused(port, "dee", "r2", mint(NEW_SECRET.encode(), "dee")) == (
            pb.REASON_ROOM_FULL)  # still max_rooms 1, not the refused file's 5
        write(conf, "max_rooms = 1\n")
        write(secret, "too-short\n")
        done = tickcast_reload(http, admin)
        assert done.returncode == 1, done
        assert "secret 1 is 9 bytes; HS256 needs at least 32" in done.stderr, done.stderr
        assert await refused(port, "cy", "r1", mint(NEW_SECRET.encode(), "cy")) == 0

        # ---- tickcast reload: the same, with the outcome printed
        write(secret, NEW_SECRET + "\n")
        write(conf, "max_rooms = 5\ninput_rate = 60\ntick_rate = 60\n")
        done = tickcast_reload(http, admin)
        assert done.returncode == 0, done
        assert done.stdout.splitlines() == [
            "tickcast reload: max_rooms 1 -> 5",
            "tickcast reload: changed but kept until a restart: tick_rate",
        ], done.stdout
        await wait_until(lambda: server.logged("keep their running values settings=tick_rate"),
                         10, "the restart warning")
        assert await refused(port, "dee", "r2", mint(NEW_SECRET.encode(), "dee")) == 0

        # every connection lived through it all: ada's ticks have no gap, no kick came
        ada.send_input(1, b"still here")
        seen: list[pb.Tick] = []
        while not any(i.payload == b"still here" for t in seen for i in t.inputs):
            seen.append(await ada.next_tick())
        numbers = [pb.ServerMessage.FromString(b).tick.number for b in ada.raw
                   if pb.ServerMessage.FromString(b).HasField("tick")]
        assert numbers[0] == wa.first_tick
        assert_gap_free(numbers)
        assert not any(pb.ServerMessage.FromString(b).HasField("kick") for b in bob.raw)
        # no secret and no admin token in the log
        log = "\n".join(server.stderr_lines)
        for secret_text in (OLD_SECRET, NEW_SECRET, OLD_ADMIN, NEW_ADMIN):
            assert secret_text not in log
        server.signal(signal.SIGTERM)
        for c in (ada, bob):
            assert (await expect_final_kick(c)).reason == pb.REASON_SERVER_SHUTDOWN
        assert await server.wait() == 0
    finally:
        await server.kill()


async def test_the_reload_api_answers_what_changed(tmp_path: Path) -> None:
    conf = tmp_path / "tick.toml"
    write(conf, "max_players = 8\n")
    server = await ServerProcess.start("--config-file", str(conf))
    try:
        assert server.proc.stdout is not None
        http = (await server.proc.stdout.readline()).decode().split()[-1]
        write(conf, "max_players = 4\nnot_a_setting = 1\n")
        headers = {"X-Tickcast-Admin": "1"}
        async with aiohttp.ClientSession() as s:
            async with s.post(http + "/api/reload", headers=headers) as r:
                assert r.status == 400
                body = await r.json()
            assert body["reloaded"] is False
            assert body["error"].endswith(f"{conf}: not_a_setting: not a setting of tickcast "
                                          "serve"), body
            write(conf, "max_players = 4\n")
            async with s.post(http + "/api/reload", headers=headers) as r:
                assert r.status == 200
                body = await r.json()
            # a form a web page could send is refused (cross-site rules of the admin API)
            async with s.post(http + "/api/reload", data="x") as r:
                assert r.status == 403
        assert body == {"reloaded": True, "changes": ["max_players 8 -> 4"], "restart_needed": []}
        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
    finally:
        await server.kill()
