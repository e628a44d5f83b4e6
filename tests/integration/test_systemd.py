"""systemd readiness (issue 19, operations): with `Type=notify`, `tickcast serve`
says READY=1 once it listens, RELOADING=1 and READY=1 around a SIGHUP reload,
STOPPING=1 when it shuts down, WATCHDOG=1 every half of $WATCHDOG_USEC, and
STATUS= lines, over $NOTIFY_SOCKET (a path or an abstract socket) that the test
holds itself. The example unit runs a command and flags that exist."""

from __future__ import annotations

import asyncio
import configparser
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support import SRC_DIR, RawClient, ServerProcess

from tickcast.config import read_config_file

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "tickcast.service"


@contextmanager
def notify_socket(path: Path | None = None) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket like systemd's: (the socket, the $NOTIFY_SOCKET value)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        if path is None:
            name = f"tickcast-test-{uuid.uuid4().hex}"
            sock.bind("\0" + name)  # the abstract namespace: no file
            yield sock, "@" + name
        else:
            sock.bind(str(path))
            yield sock, str(path)
    finally:
        sock.close()


async def messages(sock: socket.socket, until: str, timeout: float = 20.0) -> list[dict[str, str]]:
    """Notifications received until one with the line `until` (it included)."""
    loop = asyncio.get_running_loop()
    out: list[dict[str, str]] = []
    async with asyncio.timeout(timeout):
        while True:
            data = await loop.sock_recv(sock, 4096)
            fields = dict(line.split("=", 1) for line in data.decode().split("\n"))
            out.append(fields)
            if until in data.decode().split("\n"):
                return out


async def test_ready_watchdog_reload_and_stopping_over_an_abstract_socket() -> None:
    with notify_socket() as (sock, address):
        server = await ServerProcess.start(
            "--no-http", env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}
        )
        try:
            [ready] = await messages(sock, "READY=1")
            assert ready["MAINPID"] == str(server.proc.pid)
            assert ready["STATUS"] == (
                f"serving 0 connections in 0 rooms on tcp://127.0.0.1:{server.port}")
            c, _ = await RawClient.join(server.port, "ada")  # ready means listening
            pings = await messages(sock, "WATCHDOG=1")
            while len(pings) < 4:  # every 0.1 s (half of 0.2 s), from the event loop
                pings += await messages(sock, "WATCHDOG=1")
            assert all(set(p) == {"WATCHDOG", "STATUS"} for p in pings), pings
            assert pings[-1]["STATUS"].startswith("serving 1 connections in 1 rooms")
            server.signal(signal.SIGHUP)
            seen = await messages(sock, "READY=1")
            [reloading] = [m for m in seen if "RELOADING" in m]
            assert int(reloading["MONOTONIC_USEC"]) > 0
            assert "READY" in seen[-1]
            server.signal(signal.SIGTERM)
            seen = await messages(sock, "STOPPING=1")
            assert seen[-1]["STATUS"] == "shutting down (SIGTERM)"
            await c.close()
            assert await server.wait() == 0
        finally:
            await server.kill()


async def test_a_path_socket_and_no_watchdog_unless_asked_for_this_pid(tmp_path: Path) -> None:
    with notify_socket(tmp_path / "notify") as (sock, address):
        # WATCHDOG_PID names another process: the pings are not for this one
        env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1"}
        server = await ServerProcess.start("--no-http", env=env)
        try:
            [ready] = await messages(sock, "READY=1")
            assert "WATCHDOG" not in ready
            server.signal(signal.SIGINT)
            seen = await messages(sock, "STOPPING=1")
            assert [m for m in seen if "WATCHDOG" in m] == []
            assert seen[-1]["STATUS"] == "shutting down (SIGINT)"
            assert await server.wait() == 0
        finally:
            await server.kill()


async def test_without_notify_socket_nothing_is_sent_and_nothing_breaks() -> None:
    server = await ServerProcess.start("--no-http", env={"NOTIFY_SOCKET": ""})
    try:
        server.signal(signal.SIGHUP)  # a reload without systemd: fine too
        c, _ = await RawClient.join(server.port, "ada")
        await c.close()
        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
        assert not server.logged("systemd")
    finally:
        await server.kill()


# ---------------------------------------------------------------- the example unit


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(UNIT, encoding="utf-8")
    return parser


def serve_help() -> str:
    env = {**os.environ, "PYTHONPATH": SRC_DIR, "COLUMNS": "1000"}
    return subprocess.run([sys.executable, "-m", "tickcast", "serve", "--help"],
                          capture_output=True, text=True, env=env, timeout=60, check=True).stdout


def test_the_example_unit_runs_tickcast_serve_with_flags_that_exist() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert int(service["WatchdogSec"]) > 0
    assert shlex.split(service["ExecReload"]) == ["/bin/kill", "-HUP", "$MAINPID"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "tickcast" and argv[1] == "serve", argv
    help_text = serve_help()
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", help_text))
    given = [a for a in argv[2:] if a.startswith("--")]
    assert given and all(a in flags for a in given), given
    # --config-file's value is a file of settings that exist
    example = read_config_file(ROOT / "packaging" / "tickcast.toml")
    assert example and "admin_token_file" in example
    variables = set(re.findall(r"\bTICKCAST_[A-Z_]+\b", help_text))
    with open(UNIT, encoding="utf-8") as f:  # Environment= may repeat: every one of them
        environment = [line.split("=", 1)[1].strip() for line in f
                       if line.startswith("Environment=")]
    assert environment
    for assignment in environment:
        name = assignment.split("=", 1)[0]
        assert name in variables, name
    assert unit()["Install"]["WantedBy"] == "multi-user.target"
