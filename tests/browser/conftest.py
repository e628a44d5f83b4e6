"""Real-browser tests: Debian's chromium driven by Playwright for Python.

Needs the apt package `chromium` (/usr/bin/chromium, or TICKCAST_CHROMIUM) and
the pip package `playwright` (its bundled driver only; never `playwright
install`). Missing either is a failure with a message that says what to
install, not a skip: these tests are part of the suite.

The server is a real `python -m tickcast serve` subprocess (the command a
newcomer runs). Screenshots go to TICKCAST_ARTIFACTS (default tmp/artifacts).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # two players in two pages: neither is throttled as a background page
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]


def chromium_path() -> str:
    path = os.environ.get("TICKCAST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "the browser tests need Debian's chromium: `apt-get install -y chromium` "
            "(or set TICKCAST_CHROMIUM to a Chromium binary)",
            pytrace=False,
        )
    return path


@dataclass
class ServerProcess:
    http: str
    tcp_host: str
    tcp_port: int
    proc: subprocess.Popen[str]


@contextlib.contextmanager
def serve(*extra: str) -> Iterator[ServerProcess]:
    """`python -m tickcast serve` on free ports with `extra` flags, stopped afterwards.

    It records, as `tickcast serve` does by default, into a data dir of its own:
    not ./tickcast-data, whose rooms left open by an earlier run would be restored
    into this one."""
    with tempfile.TemporaryDirectory(prefix="tickcast-browser-") as data_dir:
        yield from _serve(data_dir, *extra)


def _serve(data_dir: str, *extra: str) -> Iterator[ServerProcess]:
    path = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tickcast", "serve", "--host", "127.0.0.1", "--port", "0",
         "--http-host", "127.0.0.1", "--http-port", "0", "--tick-rate", "20",
         "--data-dir", data_dir, *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    http = tcp = None
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while (http is None or tcp is None) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"tickcast http on (http://\S+)", line):
            http = m.group(1)
        if m := re.search(r"tickcast listening on tcp://(\S+):(\d+)", line):
            tcp = (m.group(1), int(m.group(2)))
    if http is None or tcp is None:
        proc.kill()
        pytest.fail("tickcast serve did not print its addresses within 30 s")
    try:
        yield ServerProcess(http, tcp[0], tcp[1], proc)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def tickcast_server() -> Iterator[ServerProcess]:
    with serve() as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the browser tests need `pip install playwright` (the dev extra)", pytrace=False
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


JS = REPO / "clients" / "js"
NPM_REGISTRY_NOTE = (
    "`npm ci` fetches the JS client's dependencies (pinned by clients/js/package-lock.json) "
    "from the npm registry unless npm's cache has them"
)


def npm_with_node_modules() -> str:
    """The path of npm, after `npm ci` in clients/js if its node_modules is missing
    (that needs the npm registry or a warm npm cache); fails saying what is missing."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("the JS client tests need Node.js >= 20 and npm on PATH", pytrace=False)
    if not (JS / "node_modules").is_dir():
        ci = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if ci.returncode != 0:
            pytest.fail(
                f"`npm ci` in clients/js failed ({NPM_REGISTRY_NOTE}):\n{ci.stderr[-3000:]}",
                pytrace=False,
            )
    return npm


@pytest.fixture
def artifacts() -> Path:
    path = Path(os.environ.get("TICKCAST_ARTIFACTS", REPO / "tmp" / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
