"""The release artifacts (issue 19, packaging): the sdist and the wheel build with
`python -m build`, pass `twine check --strict`, carry the licence file and the
metadata an index shows (SPDX licence, classifiers, authors, URLs, keywords),
and pyroma rates them 10/10.

Needs the dev extra (build, twine, pyroma) and the package index that pip uses
(`python -m build` installs the build backend into an isolated environment).
"""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.message import Message
from pathlib import Path

import pytest

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
