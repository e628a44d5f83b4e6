"""The commands the docs give a newcomer run (issue 19): the README's load-test
line against a server, and docs/benchmarks.md's ways to reproduce its figures
with this repository alone (each block after a `<!-- reproduce: NAME -->`
marker), shortened where they would take long."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from support import SRC_DIR, running_server

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=SRC_DIR)
BENCHMARKS = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")


def reproduce(name: str) -> str:
    (block,) = re.findall(rf"<!-- reproduce: {name} -->\n```\w*\n(.*?)```", BENCHMARKS, re.S)
    # this interpreter instead of the README's .venv (the same one when run as documented)
    return block.replace(".venv/bin/python", sys.executable).replace(
        ".venv/bin/tickcast", f"{sys.executable} -m tickcast")


def shell(script: str, cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


async def test_the_readme_load_test_line_runs_against_a_server(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = re.findall(r"`(\.venv/bin/tickcast bots --[^`]*)`", readme)
    args = line.split()[1:]
    args[args.index("--duration") + 1] = "1"
    async with running_server(tick_rate=30) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tickcast", *args, "--port", str(server.port), "--no-live",
            "--json", str(tmp_path / "s.json"), env=ENV, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
    assert "bots connected" in out.decode() and "64/64" in out.decode()


def test_bench_bots_reproduces_tickcasts_side_of_a_scenario(tmp_path: Path) -> None:
    script = reproduce("bots")
    assert script.strip().endswith("bench/bots.py")
    out = shell(f"cd {ROOT} && {script.strip()} smoke", tmp_path)
    header, row = out.strip().splitlines()[-2:]
    assert header.split()[:5] == ["scenario", "clients", "deliveries", "srv", "cpu%"]
    assert row.split()[0] == "smoke" and row.split()[1] == "16/16" and row.endswith("OK")
    assert int(row.split()[2]) > 0  # inputs were delivered


def test_bench_micro_runs(tmp_path: Path) -> None:
    script = reproduce("micro").strip()
    out = shell(f"cd {ROOT} && {script} --rooms 2 --per-room 2 --ticks 30", tmp_path)
    assert re.search(r"^us_per_input\s+[\d.]+$", out, re.M), out


def test_the_idle_wakeups_recipe_runs(tmp_path: Path) -> None:
    script = reproduce("idle").replace("sleep 10", "sleep 1")
    out = shell(script, tmp_path)
    assert len(re.findall(r"^voluntary_ctxt_switches:\s+\d+$", out, re.M)) == 2, out
    assert len(re.findall(r"^cpu ticks \d+$", out, re.M)) == 2, out
