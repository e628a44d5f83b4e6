"""Runs the JS client's own tests (`node --test` in clients/js) as part of the suite.

They start real tickcast servers with this interpreter (TICKCAST_PYTHON) and
check the client against them, the JS arena against the Python one, and that
the committed browser bundle is what the sources build. Needs Node >= 20 and
`npm ci` done in clients/js: missing either is a failure that says so.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import JS, npm_with_node_modules


# `npm ci` on a fresh machine with a cold npm cache took about two minutes in CI,
# more than the suite's default per-test timeout; the subprocess timeouts below
# (300 s + 240 s) are what bound this test.
@pytest.mark.timeout(600)
def test_js_client_node_tests() -> None:
    npm = npm_with_node_modules()
    env = dict(os.environ, TICKCAST_PYTHON=sys.executable)
    result = subprocess.run(
        [npm, "test", "--silent"], cwd=JS, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "# fail 0" in result.stdout
