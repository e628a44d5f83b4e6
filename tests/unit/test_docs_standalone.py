"""The docs stand alone (issue 19): nothing points at the project's shared
folder (../shared, shared/spec, shared/bench), every relative link and anchor
resolves, every `tickcast` command they show uses a subcommand and flags that
exist, and CHANGELOG.md is a Keep a Changelog file for the current version."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

import tickcast

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "clients" / "js" / "README.md",
        *sorted((ROOT / "docs").glob("*.md"))]
NAMES = [str(p.relative_to(ROOT)) for p in DOCS]
FENCE = re.compile(r"```.*?```", re.S)


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def anchors(path: Path) -> frozenset[str]:
    """GitHub's heading anchors of a Markdown file (lower case, punctuation dropped,
    spaces to hyphens)."""
    headings = re.findall(r"^#{1,6} (.+)$", FENCE.sub("", text(path)), re.M)
    return frozenset(re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                     for h in headings)


@cache
def help_flags(command: str) -> frozenset[str] | None:
    """The flags `tickcast COMMAND --help` lists (None: no such command)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), COLUMNS="1000")
    done = subprocess.run([sys.executable, "-m", "tickcast", command, "--help"],
                          capture_output=True, text=True, env=env, timeout=60)
    if done.returncode != 0:
        return None
    return frozenset(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", done.stdout))


SUBCOMMANDS = re.findall(r"^    (\w+)\s", subprocess.run(
    [sys.executable, "-m", "tickcast", "--help"], capture_output=True, text=True,
    env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), timeout=60, check=True,
).stdout, re.M)


def shown_commands(doc: str) -> list[str]:
    """Command lines shown in a doc: lines of fenced blocks (continuations
    joined) and inline code spans."""
    lines: list[str] = []
    for block in re.findall(r"```\w*\n(.*?)```", doc, re.S):
        lines += block.replace("\\\n", " ").splitlines()
    lines += re.findall(r"`([^`\n]+)`", FENCE.sub("", doc))
    return lines


@pytest.mark.parametrize("path", DOCS, ids=NAMES)
def test_no_doc_points_at_the_shared_folder(path: Path) -> None:
    for pattern in ("../shared", "shared/spec", "shared/bench", "/work/shared"):
        assert pattern not in text(path), f"{path.name} mentions {pattern}"


@pytest.mark.parametrize("path", DOCS, ids=NAMES)
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    for link in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", text(path))):
        if link.startswith(("http://", "https://", "mailto:")):
            continue
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{path.name}: {link}: no such file"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file), f"{path.name}: {link}: no such heading"


@pytest.mark.parametrize("path", DOCS, ids=NAMES)
def test_every_tickcast_command_shown_exists_with_its_flags(path: Path) -> None:
    command = re.compile(r"(?:^|[\s;&|(/])(?:\.venv/bin/)?tickcast ([a-z]+)((?: +[^\s;&|]+)*)")
    for line in shown_commands(text(path)):
        for m in command.finditer(line):
            name, rest = m.group(1), re.split(r"['\"]", m.group(2))[0]  # up to a quote
            if name not in SUBCOMMANDS:
                continue  # prose: "tickcast listening on ...", "from tickcast import"
            flags = help_flags(name)
            assert flags is not None, f"{path.name}: tickcast {name}"
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest):
                assert flag in flags, f"{path.name}: `tickcast {name}` has no {flag}: {line}"


def test_the_commands_are_checked_for_real() -> None:
    """The command test above sees the commands the docs are known to show."""
    seen = {m for p in DOCS for line in shown_commands(text(p))
            for m in re.findall(r"tickcast (\w+) ", line)}
    assert {"serve", "bots", "token", "drain", "export"} <= seen & set(SUBCOMMANDS)


def test_the_readme_load_test_uses_the_venv_after_the_run_command() -> None:
    readme = text(ROOT / "README.md")
    run = readme.index("<!-- run-command -->")
    (line,) = re.finditer(r"`([^`]*tickcast bots --[^`]*)`", readme)  # the one with flags
    assert line.start() > run and line.group(1).startswith(".venv/bin/tickcast bots ")


def test_the_changelog_keeps_a_changelog_for_this_version() -> None:
    log = text(ROOT / "CHANGELOG.md")
    assert log.startswith("# Changelog\n") and "keepachangelog.com" in log
    releases = re.findall(r"^## \[([^\]]+)\](?: - (\S+))?$", log, re.M)
    assert releases and releases[0][0] == tickcast.__version__
    js = json.loads(text(ROOT / "clients" / "js" / "package.json"))
    assert js["version"] == tickcast.__version__  # one version for both packages
    for version, date in releases:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}|Unreleased", date or "Unreleased"), date
        assert re.search(rf"^\[{re.escape(version)}\]: https://", log, re.M), version
    kinds = set(re.findall(r"^### (.+)$", log, re.M))
    assert kinds and kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
