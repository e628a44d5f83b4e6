"""The release artifacts (issue 19, packaging): the sdist and the wheel build with
`python -m build`, pass `twine check --strict`, carry the licence file and the
metadata an index shows (SPDX licence, classifiers, authors, URLs, keywords),
and pyroma rates them 10/10. The wheel without extras is the lean SDK: in a
fresh venv it connects to a real server and plays, without any of the server's
libraries, on the newest protobuf and on the oldest that pyproject allows.

Needs the dev extra (build, twine, pyroma) and the package index that pip uses
(`python -m build` installs the build backend into an isolated environment).
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from support import ServerProcess

import tickcast

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = tickcast.__version__


def run(*args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`python -m build` of this checkout, once: {"sdist": ..., "wheel": ...}."""
    out = tmp_path_factory.mktemp("dist")
    run("build", "--outdir", str(out), ".")
    sdists, wheels = list(out.glob("*.tar.gz")), list(out.glob("*.whl"))
    assert len(sdists) == len(wheels) == 1, sorted(p.name for p in out.iterdir())
    return {"sdist": sdists[0], "wheel": wheels[0]}


def wheel_metadata(wheel: Path) -> tuple[Message, list[str]]:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        text = z.read(f"tickcast-{VERSION}.dist-info/METADATA").decode()
    return email.message_from_string(text), names


def test_the_licence_file_is_the_mit_licence_pyproject_names() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n") and "Permission is hereby granted" in text
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    # no License :: classifier next to an SPDX expression (PEP 639 forbids both)
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]


def test_sdist_and_wheel_pass_twine_check_strict(dist: dict[str, Path]) -> None:
    out = run("twine", "check", "--strict", str(dist["sdist"]), str(dist["wheel"]))
    assert out.count("PASSED") == 2, out


def test_the_wheel_carries_the_licence_the_metadata_and_the_package_data(
    dist: dict[str, Path],
) -> None:
    meta, names = wheel_metadata(dist["wheel"])
    assert meta["Name"] == "tickcast" and meta["Version"] == VERSION
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert f"tickcast-{VERSION}.dist-info/licenses/LICENSE" in names
    assert set(meta.get_all("Classifier") or []) == set(PYPROJECT["project"]["classifiers"])
    assert "Programming Language :: Python :: 3.11" in meta.get_all("Classifier")
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Repository", "Issues", "Changelog", "Documentation"} <= set(urls)
    assert meta["Author-email"] and "lockstep" in (meta["Keywords"] or "")
    assert meta["Description-Content-Type"] == "text/markdown"
    # what the server needs at run time beyond the modules
    for path in ("tickcast/py.typed", "tickcast/proto/tickcast.proto",
                 "tickcast/http/static/dashboard.html", "tickcast/http/static/tickcast-client.js"):
        assert path in names, path


def test_the_sdist_has_the_licence_and_the_changelog(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as t:
        names = set(t.getnames())
    top = f"tickcast-{VERSION}"
    assert {f"{top}/LICENSE", f"{top}/CHANGELOG.md", f"{top}/README.md"} <= names


def test_pyroma_rates_the_sdist_ten_out_of_ten(dist: dict[str, Path]) -> None:
    out = run("pyroma", "--quiet", "--file", str(dist["sdist"]))
    assert out.strip().splitlines()[-1] == "10", out


# ---------------------------------------------------------------- the lean SDK (issue 19)

SDK_CHECK = ROOT / "tests" / "sdk_check.py"
HEAVY = {"aiohttp", "redis", "rich", "prometheus_client", "jwt"}


def oldest_protobuf() -> str:
    """The floor of pyproject's protobuf requirement (`protobuf>=X,<Y`)."""
    (req,) = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("protobuf")]
    m = re.search(r">=\s*([\d.]+)", req)
    assert m, req
    return m.group(1)


def fresh_venv(path: Path, *requirements: str) -> Path:
    """A venv at `path` holding `requirements` (pip of this venv installs into it,
    from the same index, so the venv needs no pip of its own); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   timeout=120)
    python = path / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
         "--disable-pip-version-check", *requirements],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return python


def outside_env() -> dict[str, str]:
    """The environment without this checkout on the path: only the venv's own site."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


async def sdk_check(python: Path) -> dict[str, Any]:
    """tests/sdk_check.py with `python` against a real server run from the dev venv."""
    server = await ServerProcess.start("--no-http")
    try:
        proc = await asyncio.create_subprocess_exec(
            str(python), str(SDK_CHECK), str(server.port), cwd=str(python.parent),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=outside_env(),
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        server.signal(signal.SIGTERM)
        await server.wait()
    assert proc.returncode == 0, err.decode()[-3000:]
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert [p["saw"] for p in report["players"]] == ["bob", "ada"], report
    assert all(p["chained"] >= 3 for p in report["players"]), report
    return report


async def test_the_wheel_without_extras_is_the_lean_sdk(
    dist: dict[str, Path], tmp_path: Path
) -> None:
    python = fresh_venv(tmp_path / "sdk", str(dist["wheel"]))
    report = await sdk_check(python)
    # connected and played with only its own dependencies: nothing heavy loaded or present
    assert report["imported"] == [] and report["installed"] == [], report
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "list", "--format=json"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    names = {p["name"].lower() for p in json.loads(listed)}
    assert names == {"tickcast", "protobuf", "websockets"}, names
    # the server is an extra: its command says exactly what to install
    serve = subprocess.run([str(python.parent / "tickcast"), "serve"], capture_output=True,
                           text=True, timeout=60, env=outside_env())
    assert serve.returncode == 1 and serve.stdout == ""
    assert serve.stderr.strip().endswith("pip install 'tickcast[server]'"), serve.stderr
    assert "Traceback" not in serve.stderr


async def test_the_sdk_runs_on_the_oldest_protobuf_it_allows(
    dist: dict[str, Path], tmp_path: Path
) -> None:
    oldest = oldest_protobuf()
    python = fresh_venv(tmp_path / "old", str(dist["wheel"]), f"protobuf=={oldest}")
    report = await sdk_check(python)
    assert report["protobuf"] == oldest and report["backend"] == "upb", report


def test_the_extras_are_what_the_cli_checks_for() -> None:
    """cli.EXTRAS names, per extra, the modules of the requirements pyproject lists."""
    from tickcast.cli import EXTRAS

    module_of = {"aiohttp": "aiohttp", "prometheus-client": "prometheus_client", "rich": "rich",
                 "pyjwt": "jwt", "redis": "redis", "uvloop": None}
    extras = PYPROJECT["project"]["optional-dependencies"]

    def modules(extra: str) -> set[str]:
        out: set[str] = set()
        for req in extras[extra]:
            name = re.split(r"[\[<>=;\s]", req, maxsplit=1)[0].lower()
            if name == "tickcast":  # tickcast[server]: that extra's modules
                inner = re.search(r"\[(.*)\]", req)
                assert inner
                for part in inner.group(1).split(","):
                    out |= modules(part.strip())
                continue
            module = module_of[name]
            if module:
                out.add(module)
        return out

    for extra, mods in EXTRAS.items():
        assert set(mods) == modules(extra), extra
    assert set(EXTRAS["cluster"]) >= HEAVY
    base = {re.split(r"[\[<>=;\s]", d, maxsplit=1)[0].lower()
            for d in PYPROJECT["project"]["dependencies"]}
    assert base == {"protobuf", "websockets"}
