"""README (issue 2, points 9 and 10): exactly two commands for a newcomer, the
links it promises, and `.ci/run` running the README's test command."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def marked_block(marker: str) -> list[str]:
    """The lines of the fenced block right after `<!-- marker -->`."""
    found = re.findall(rf"<!-- {marker} -->\n```\w*\n(.*?)```", README, re.S)
    assert len(found) == 1, f"expected one {marker} block, found {len(found)}"
    return found[0].splitlines()


def test_exactly_two_commands_one_to_serve_and_one_to_test() -> None:
    (run,) = marked_block("run-command")
    (test,) = marked_block("test-command")
    assert run.startswith("python3 -m venv") and "pip install '.[server]'" in run
    assert run.endswith("tickcast serve")
    assert test.startswith("python3 -m venv") and "pip install -e '.[dev]'" in test
    assert test.endswith("-m pytest")
    # no other shell block a newcomer might take for a third command
    assert README.count("<!-- run-command -->") == README.count("<!-- test-command -->") == 1


def test_the_links_it_promises_exist() -> None:
    links = set(re.findall(r"\]\(([^)#\s]+)", README))
    assert {"docs/protocol.md", "docs/configuration.md", "docs/client.md"} <= links
    for link in links:
        if not link.startswith(("http://", "https://")):
            assert (ROOT / link).exists(), link


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    extract = next(line for line in ci.splitlines() if line.startswith("cmd=$(awk"))
    done = subprocess.run(
        ["bash", "-c", f'{extract}\nprintf %s "$cmd"'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert done.stdout.splitlines() == marked_block("test-command")
    assert 'eval "$cmd"' in ci
