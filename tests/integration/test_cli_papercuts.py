"""What a newcomer hit at the command line (issue 19, papercuts): `tickcast
export ... | head -1` ends quietly, and the data dir errors are the ones
docs/recording.md quotes. (A port in use, a bad TICKCAST_* variable and
`serve --bogus` are in test_cli.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fault_support import _unmount, require_mount_rig
from support import SRC_DIR, ServerProcess

from tickcast import wire
from tickcast.cli import SIGPIPE_EXIT
from tickcast.store import SQLiteTickLog
from tickcast.store.log import Cycle, MatchEnd, MatchStart

ROOT = Path(__file__).resolve().parents[2]
RECORDING = (ROOT / "docs" / "recording.md").read_text(encoding="utf-8")
ENV = {**os.environ, "PYTHONPATH": SRC_DIR, "TICKCAST_RECORD": "1", "TICKCAST_HTTP_PORT": "0"}


def a_long_match(d: Path, ticks: int = 4000) -> None:
    """One ended match whose export is far more than a pipe holds (~1 MB)."""
    frames, chain = [], b""
    for t in range(1, ticks + 1):
        content = wire.encode_tick_content(t, wire.encode_relayed_input(1, t, bytes(120)))
        chain = wire.next_chain(chain, content)
        frames.append(wire.encode_tick_frame(content, chain))
    lg = SQLiteTickLog(d)
    lg.write_cycle(Cycle(begins=[MatchStart(1, "long", 30, 10.0, "s1")],
                         ticks=[(1, i + 1, f) for i, f in enumerate(frames)]))
    lg.write_cycle(Cycle(ends=[MatchEnd(1, 20.0, "empty")]))
    lg.close()


def test_export_into_a_pipe_that_closes_early_ends_quietly(tmp_path: Path) -> None:
    a_long_match(tmp_path)
    shell = (f"{sys.executable} -m tickcast export 1 --data-dir {tmp_path} | head -1; "
             'echo "status ${PIPESTATUS[0]}" >&2')
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=ENV,
                          timeout=120)
    assert json.loads(done.stdout)["tick"] == 1
    # no "[Errno 32] Broken pipe", no traceback: the status a killed `cat` has
    assert done.stderr == f"status {SIGPIPE_EXIT}\n", done.stderr
    assert SIGPIPE_EXIT == 141


def doc_message(state: str) -> str:
    """The message docs/recording.md's "Bad disk states" table quotes for `state`."""
    row = next(line for line in RECORDING.splitlines() if line.startswith(f"| {state} |"))
    (message,) = re.findall(r"`(tickcast: [^`]+)`", row)
    return message


def as_pattern(message: str, data_dir: Path) -> re.Pattern[str]:
    """The doc's message with its placeholders (D the data dir, REASON the system's
    words, P H T the lock holder's pid, host and time) as a regular expression."""
    out = re.sub(r"\bD\b", lambda _: re.escape(str(data_dir)), re.escape(message))
    for word, what in (("REASON", r"[A-Z][\w ]+"), ("pid\\ P", r"pid\ \d+"),
                       ("host\\ H", r"host\ \S+"), ("since\\ T", r"since\ \S+")):
        out = out.replace(word, what)
    return re.compile(out)


def serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickcast", "serve", "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=ENV, timeout=60,
    )


def assert_doc_says(state: str, done: subprocess.CompletedProcess[str], data_dir: Path) -> None:
    assert done.returncode == 1 and done.stdout == "", done  # "exits 1 before listening"
    last = done.stderr.strip().splitlines()[-1]
    assert as_pattern(doc_message(state), data_dir).fullmatch(last), (doc_message(state), last)


def test_a_data_dir_that_cannot_be_created_says_what_the_doc_says(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    d = tmp_path / "a-file" / "data"
    assert_doc_says("data dir cannot be created", serve(d), d)


def test_a_data_dir_that_is_not_writable_says_what_the_doc_says(tmp_path: Path) -> None:
    # root may write everywhere but on a read-only file system
    require_mount_rig("mount", "umount")
    d = tmp_path / "ro"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], check=True)
    try:
        assert_doc_says("data dir not writable", serve(d), d)
    finally:
        _unmount(d)


async def test_a_data_dir_in_use_says_what_the_doc_says(tmp_path: Path) -> None:
    first = await ServerProcess.start("--record", "--data-dir", str(tmp_path), "--no-http")
    try:
        done = serve(tmp_path)
    finally:
        await first.kill()
    assert_doc_says("another server records into the data dir", done, tmp_path)


@pytest.mark.parametrize("state", ["data dir cannot be created", "data dir not writable",
                                   "another server records into the data dir"])
def test_the_doc_quotes_each_message_once(state: str) -> None:
    assert doc_message(state).startswith("tickcast: ")
