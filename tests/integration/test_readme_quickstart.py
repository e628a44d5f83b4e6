"""The README's quickstart (issue 2, point 9) works as printed: both Python
snippets run against a fresh server (on a free port instead of 7777)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from support import SRC_DIR, running_server

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def quickstart_snippets() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


async def run_snippet(code: str) -> str:
    async with running_server(tick_rate=30) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code.replace("7777", str(server.port)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": SRC_DIR},
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


def test_the_quickstart_has_the_sdk_and_the_raw_socket_snippets() -> None:
    sdk, raw = quickstart_snippets()
    assert "tickcast.connect" in sdk and "socket.create_connection" in raw


async def test_two_sdk_players_see_each_others_inputs() -> None:
    out = await run_snippet(quickstart_snippets()[0])
    lines = out.splitlines()
    for me, other in (("ada", "bob"), ("bob", "ada")):
        assert any(
            line.startswith(f"{me} tick ") and line.endswith(f"{other} b'hello from {other}'")
            for line in lines
        ), out


async def test_the_raw_socket_client_sees_the_other_players_input() -> None:
    out = await run_snippet(quickstart_snippets()[1])
    assert "welcome" in out and "jump" in out, out
