"""The JS client as an npm package (issue 19): `npm pack` of clients/js, the
tarball installed into a fresh project, imported from Node through its
`exports`, and type-checked by TypeScript from its `.d.ts` files.

Needs Node >= 20 and npm; installing the tarball fetches its two dependencies
(@bufbuild/protobuf, @noble/hashes) from the npm registry unless npm's cache
already has them (`npm ci` in clients/js puts them there).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import tickcast

from .conftest import JS, npm_with_node_modules

CHECK_IMPORTS = """
import { createRequire } from "node:module";
import * as client from "tickcast-client";
import { Arena } from "tickcast-client/arena";

const require = createRequire(import.meta.url);
const pkg = require("tickcast-client/package.json");
let deepImport = "allowed";
try {
  await import("tickcast-client/dist/core.js");
} catch (e) {
  deepImport = e.code;
}
const arena = new Arena();
console.log(JSON.stringify({
  version: pkg.version,
  exported: Object.keys(client).sort(),
  protocolVersion: client.PROTOCOL_VERSION,
  redirect: client.Reason.REDIRECT,
  connect: typeof client.connect,
  arena: typeof arena,
  deepImport,
}));
"""

CHECK_TYPES = """
import { connect, ClientCore, Kicked, PROTOCOL_VERSION, type ClientOptions, type Tick }
  from "tickcast-client";
import { Arena } from "tickcast-client/arena";

const options: ClientOptions = { url: "ws://127.0.0.1:8080/ws", playerId: "ada", room: "r1" };
const pending: Promise<unknown> = connect(options).catch((e: unknown) => e instanceof Kicked);
const numbers = (ticks: Tick[]): number[] => ticks.map((t) => t.number);
const version: number = PROTOCOL_VERSION;
const core = new ClientCore("ada", { room: "r1" });
const arena = new Arena();
// @ts-expect-error: the declarations are real types, so a wrong option is an error
connect({ url: 7777, playerId: "ada" });
export { pending, numbers, version, core, arena };
"""


def run(*args: str, cwd: Path, timeout: float = 180) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """`npm pack` of a copy of clients/js (its prepack builds dist/ there, not in
    the checkout): (the tarball, npm's report of it)."""
    npm = npm_with_node_modules()
    tmp = tmp_path_factory.mktemp("npm")
    pkg = tmp / "tickcast-client"
    shutil.copytree(JS, pkg, ignore=shutil.ignore_patterns("node_modules", "dist"))
    (pkg / "node_modules").symlink_to(JS / "node_modules", target_is_directory=True)
    out = tmp / "out"
    out.mkdir()
    report = json.loads(run(npm, "pack", "--json", "--pack-destination", str(out), cwd=pkg))[0]
    return out / report["filename"], report


def test_the_tarball_holds_the_modules_and_their_declarations(packed: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    tarball, report = packed
    files = {f["path"] for f in report["files"]}
    assert report["name"] == "tickcast-client" and report["version"] == tickcast.__version__
    assert {"package.json", "README.md", "LICENSE"} <= files
    for module in ("index", "client", "core", "errors", "arena", "gen/tickcast_pb"):
        assert {f"dist/{module}.js", f"dist/{module}.d.ts"} <= files, module
    # nothing of the workshop: sources, tests, scripts, the browser bundle's entry
    assert not [f for f in files if not f.startswith("dist/") and "/" in f], files
    assert not [f for f in files if f.startswith("dist/browser.")], files
    # every declaration file that another one imports is in the tarball too
    root = tarball.parent / "unpacked"
    shutil.unpack_archive(tarball, root)
    for dts in [f for f in files if f.endswith(".d.ts")]:
        text = (root / "package" / dts).read_text()
        for target in re.findall(r"""from ["'](\.{1,2}/[^"']+)\.js["']""", text):
            wanted = (Path(dts).parent / f"{target}.d.ts").as_posix().removeprefix("./")
            assert Path(wanted).as_posix() in {Path(f).as_posix() for f in files}, (dts, target)
    assert (root / "package" / "LICENSE").read_text() == (JS.parents[1] / "LICENSE").read_text()


def test_the_metadata_a_registry_shows(packed: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    meta = json.loads((JS / "package.json").read_text())
    assert meta["license"] == "MIT" and meta["type"] == "module"
    assert meta["repository"]["directory"] == "clients/js"
    assert meta["types"] == meta["exports"]["."]["types"] == "./dist/index.d.ts"
    assert set(meta["exports"]) == {".", "./arena", "./package.json"}
    for entry in (meta["exports"]["."], meta["exports"]["./arena"]):
        assert list(entry) == ["types", "import"]  # "types" first, as TypeScript wants


def test_a_fresh_project_installs_imports_and_type_checks_it(
    packed: tuple[Path, dict], tmp_path: Path  # type: ignore[type-arg]
) -> None:
    tarball, _ = packed
    npm = npm_with_node_modules()
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "app", "private": True,
                                                  "type": "module"}))
    run(npm, "install", "--no-audit", "--no-fund", "--prefer-offline", str(tarball), cwd=app)
    (app / "check.mjs").write_text(CHECK_IMPORTS)
    seen = json.loads(run("node", "check.mjs", cwd=app))
    assert seen["version"] == tickcast.__version__
    assert {"connect", "Client", "ClientCore", "Kicked", "Reason", "PROTOCOL_VERSION"} <= set(
        seen["exported"]
    )
    assert (seen["protocolVersion"], seen["redirect"], seen["connect"], seen["arena"]) == (
        1, 14, "function", "object"
    )
    assert seen["deepImport"] == "ERR_PACKAGE_PATH_NOT_EXPORTED"  # only what `exports` lists

    (app / "check.ts").write_text(CHECK_TYPES)
    (app / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
        "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
        "lib": ["ES2022", "DOM"], "strict": True, "noEmit": True, "skipLibCheck": False,
        "types": [],
    }, "files": ["check.ts"]}))
    tsc = JS / "node_modules" / "typescript" / "bin" / "tsc"
    run("node", str(tsc), "-p", "tsconfig.json", cwd=app)
