"""clients/csharp is a Unity package a game can install from a git URL.

Unity reads `package.json` (its name, samples), compiles each `.asmdef`, and,
for a package installed from git (read-only to it), ignores every asset that
has no `.meta` file: so each file and folder must have one, with a GUID of its
own. (The C# code itself is built and tested in
tests/integration/test_csharp_client.py.)
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "csharp"


def _meta_tool() -> ModuleType:
    tool = PACKAGE / "Tools~" / "unity_meta.py"
    spec = importlib.util.spec_from_file_location("unity_meta", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_package_json_names_the_package_and_its_samples() -> None:
    manifest = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "com.tickcast.client"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert re.fullmatch(r"\d{4}\.\d", manifest["unity"])
    paths = [s["path"] for s in manifest["samples"]]
    assert paths == ["Samples~/Unity", "Samples~/Console"]
    for path in paths:
        assert list((PACKAGE / path).glob("*.cs")), path
    assert "MonoBehaviour" in (PACKAGE / "Samples~/Unity/TickcastPlayer.cs").read_text()


def test_the_runtime_has_no_engine_dependency_and_the_tests_are_editor_nunit_tests() -> None:
    runtime = json.loads((PACKAGE / "Runtime" / "Tickcast.Runtime.asmdef").read_text())
    assert runtime["name"] == "Tickcast.Runtime"
    assert runtime["noEngineReferences"] is True and runtime["references"] == []
    tests = json.loads((PACKAGE / "Tests" / "Tickcast.Tests.asmdef").read_text())
    assert tests["references"] == ["Tickcast.Runtime"]
    assert tests["includePlatforms"] == ["Editor"]
    assert tests["precompiledReferences"] == ["nunit.framework.dll"]
    assert tests["defineConstraints"] == ["UNITY_INCLUDE_TESTS"]
    for source in (PACKAGE / "Runtime").rglob("*.cs"):
        assert "UnityEngine" not in source.read_text(encoding="utf-8"), source


def test_every_asset_has_a_meta_file_with_its_own_guid() -> None:
    tool = _meta_tool()
    assert tool.problems() == [], "run: python3 clients/csharp/Tools~/unity_meta.py"
    guids = [
        re.search(r"^guid: ([0-9a-f]{32})$", p.read_text(), re.M).group(1)  # type: ignore[union-attr]
        for p in PACKAGE.rglob("*.meta")
    ]
    assert len(guids) == len(set(guids)) == len(tool.assets())
    assert not [p for p in PACKAGE.rglob("*.meta") if any(part.endswith("~") for part in p.parts)]
    for path in tool.assets():
        meta = path.with_name(path.name + ".meta").read_text()
        assert meta == tool.meta(path), path  # what Unity would keep: no stale importer
