"""`tickcast serve` says in its start-up line whether tokens are checked."""

from __future__ import annotations

import os
import signal
import subprocess

from support import SERVE_COMMAND, SRC_DIR


def start_line(extra_env: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKCAST_")}
    env["TICKCAST_RECORD"] = "0"  # no tick log in the working directory
    env.update(extra_env, PYTHONPATH=SRC_DIR)
    proc = subprocess.Popen(
        # --http-port 0: never the default 8080, which another test or server may hold
        [*SERVE_COMMAND, "--http-port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)  # (130 if the signal beats the handler: not this test's concern)
        return line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_start_up_line_names_open_mode_and_signed_mode() -> None:
    assert "OPEN MODE" in start_line({})
    line = start_line({"TICKCAST_SECRET": "s" * 40})
    assert "HS256" in line and "OPEN" not in line and "s" * 40 not in line
