"""`tickcast serve` as a process: signals, exit codes, flags and environment."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import termios

import pytest
from support import (
    SRC_DIR,
    RawClient,
    ServerProcess,
    SocketClient,
    expect_final_kick,
    hello_frame,
    input_frame,
    wait_until,
)

from tickcast.proto import pb


def local_port(c: RawClient) -> int:
    return int(c.writer.get_extra_info("sockname")[1])


async def accepted(server: ServerProcess, c: RawClient) -> None:
    """Wait until the server has logged this connection's accept (so it knows of it)."""
    await wait_until(
        lambda: server.logged(f"accepted conn=tcp:127.0.0.1:{local_port(c)}"), 10,
        "the accept log",
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_kicks_every_connection_and_exits_0(signum: int) -> None:
    server = await ServerProcess.start()
    try:
        player, w = await RawClient.join(server.port, "ada")
        spectator, _ = await RawClient.join(server.port, "sam", spectator=True)
        in_handshake = await RawClient.connect(server.port)
        half_hello = await RawClient.connect(server.port)
        half_hello.send(hello_frame("bob")[:5])
        await accepted(server, in_handshake)
        await accepted(server, half_hello)
        await player.ticks_until(w.first_tick + 2)
        server.signal(signum)
        for c in (player, spectator, in_handshake, half_hello):
            assert (await expect_final_kick(c, timeout=10)).reason == pb.REASON_SERVER_SHUTDOWN
            await c.close()
        with pytest.raises(OSError):  # it stopped accepting before it kicked anyone
            await RawClient.connect(server.port)
        assert await server.wait() == 0
        assert server.logged("closed")
        assert not server.logged("Traceback")
    finally:
        await server.kill()


def unread_bytes(sock: object) -> int:
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")  # type: ignore[attr-defined]
    return int(struct.unpack("i", buf)[0])


async def test_a_second_sigint_exits_at_once() -> None:
    # a long shutdown timeout, and a client that does not read: the first SIGINT
    # waits for its output to drain; the second must not wait
    # (the input limits are lifted: 600 KB of inputs at once is RATE_LIMITED by default)
    server = await ServerProcess.start(
        "--shutdown-timeout",
        "60",
        "--recv-bytes-per-second",
        "0",
        "--input-bytes-per-tick",
        str(1 << 20),
    )
    try:
        stalled = await SocketClient.connect(server.port, rcvbuf=16 * 1024)
        await stalled.send(hello_frame("stalled"))
        # its own inputs come back in the ticks: ~600 KB it never reads
        for seq in range(1, 11):
            await stalled.send(input_frame(seq, bytes(60_000)))
        await wait_until(lambda: unread_bytes(stalled.sock) > 8192, 10, "tick data backing up")
        server.signal(signal.SIGINT)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(server.proc.wait()), 0.5)
        server.signal(signal.SIGINT)
        assert await server.wait(timeout=10) == 130
        assert server.logged("second interrupt")
        stalled.close()
    finally:
        await server.kill()


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickcast", "serve", "--port", "0", *args],
        # the HTTP side on a free port (a flag or `env` may override it), never 8080
        env={**os.environ, "PYTHONPATH": SRC_DIR, "TICKCAST_HTTP_PORT": "0", **(env or {})},
        capture_output=True,
        text=True,
        timeout=15,
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--bogus"], {}, "unrecognized arguments: --bogus"),
        (["--tick-rate", "fast"], {}, "--tick-rate: not a valid int: 'fast'"),
        (["--tick-rate", "0"], {}, "--tick-rate: must be 1..1000"),
        (["--reconnect-grace", "1.5s"], {}, "--reconnect-grace: not a valid float"),
        (["--history-seconds", "inf"], {}, "--history-seconds: not a valid float"),
        ([], {"TICKCAST_IDLE_TIMEOUT": "nan"}, "TICKCAST_IDLE_TIMEOUT: not a valid float"),
        (["--log-level", "LOUD"], {}, "--log-level: must be one of"),
        # a value from the environment is named as its variable, not as the flag
        ([], {"TICKCAST_TICK_RATE": "abc"}, "error: TICKCAST_TICK_RATE: not a valid int: 'abc'"),
        ([], {"TICKCAST_MAX_FRAME": "10"}, "error: TICKCAST_MAX_FRAME: must be 64 .. 16 MiB"),
        (["--max-frame", "10"], {"TICKCAST_MAX_FRAME": "100"}, "error: --max-frame: must be"),
        (["--log-format", "xml"], {}, "--log-format: must be text or json"),
    ],
)
def test_bad_flag_or_value_exits_2(args: list[str], env: dict[str, str], message: str) -> None:
    done = run_serve(*args, env=env)
    assert done.returncode == 2, done
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # it never listened


def test_an_unknown_serve_flag_prints_serves_usage() -> None:
    done = run_serve("--bogus")
    assert done.returncode == 2
    first, *_, last = done.stderr.strip().splitlines()
    assert first.startswith("usage: tickcast serve [-h] [--host HOST]"), done.stderr
    assert last == "tickcast serve: error: unrecognized arguments: --bogus"


@pytest.mark.parametrize("listener", ["tcp", "http"])
def test_a_port_in_use_names_the_address_and_exits_2(listener: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        flag = "--port" if listener == "tcp" else "--http-port"
        done = run_serve(flag, str(port), "--no-record")
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    # the error is the last line: nothing logged after it
    assert lines[-1] == (
        f"tickcast serve: error: cannot listen on {listener}://127.0.0.1:{port}: address "
        f"already in use (another process has it: stop it, or choose another {flag})"
    ), done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


async def test_environment_and_decimal_durations() -> None:
    server = await ServerProcess.start(
        "--reconnect-grace", "1.5", "--handshake-timeout", "0.25",
        env={"TICKCAST_TICK_RATE": "17"},
    )  # fmt: skip
    try:
        watcher, ww = await RawClient.join(server.port, "watcher")
        assert ww.tick_rate == 17
        # 0.25 s, not the default 5 s
        silent = await RawClient.connect(server.port)
        kick = await expect_final_kick(silent, timeout=4)
        assert kick.reason == pb.REASON_HANDSHAKE_TIMEOUT
        # 1.5 s, not the default 30 s
        dropper, wd = await RawClient.join(server.port, "dropper")
        await dropper.close()
        while True:
            t = await watcher.next_tick(timeout=10)
            if wd.slot in t.left:
                break
        for c in (watcher, silent):
            await c.close()
    finally:
        server.signal(signal.SIGTERM)
        with contextlib.suppress(Exception):
            await server.wait()
        await server.kill()


async def test_a_flag_wins_over_the_environment() -> None:
    server = await ServerProcess.start(
        "--tick-rate", "19",
        env={"TICKCAST_TICK_RATE": "17", "TICKCAST_IDLE_TIMEOUT": "0.5"},
    )  # fmt: skip
    try:
        c, w = await RawClient.join(server.port, "ada")
        assert w.tick_rate == 19
        # the idle timeout from the environment, with a decimal
        assert (await expect_final_kick(c, timeout=8)).reason == pb.REASON_IDLE_TIMEOUT
        await c.close()
    finally:
        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
