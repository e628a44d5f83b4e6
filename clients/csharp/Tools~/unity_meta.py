"""Writes the Unity .meta file of every asset of this package that lacks one.

A package installed from a git URL is read-only to Unity, and Unity ignores
an asset without a .meta file there, so every file and folder of the package
needs one in the repository. Folders ending in `~` and dot-entries are not
assets (Unity skips them). GUIDs are derived from the path, so running this
again writes the same files.

    python3 clients/csharp/Tools~/unity_meta.py           # write the missing ones
    python3 clients/csharp/Tools~/unity_meta.py --check   # list missing and orphaned ones, exit 1 if any
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
NAME = "com.tickcast.client"

IMPORTERS = {
    ".cs": "MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n"
    "  executionOrder: 0\n  icon: {instanceID: 0}\n",
    ".asmdef": "AssemblyDefinitionImporter:\n  externalObjects: {}\n",
    ".json": "TextScriptImporter:\n  externalObjects: {}\n",
    ".md": "TextScriptImporter:\n  externalObjects: {}\n",
}
DEFAULT = "DefaultImporter:\n  externalObjects: {}\n"
TAIL = "  userData: \n  assetBundleName: \n  assetBundleVariant: \n"


def assets(root: Path = PACKAGE) -> list[Path]:
    """Every file and folder below `root` that Unity imports, sorted."""
    out = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name.endswith("~") or path.suffix == ".meta":
            continue
        out.append(path)
        if path.is_dir():
            out.extend(assets(path))
    return out


def guid(path: Path) -> str:
    return hashlib.md5(f"{NAME}/{path.relative_to(PACKAGE).as_posix()}".encode()).hexdigest()


def meta(path: Path) -> str:
    head = f"fileFormatVersion: 2\nguid: {guid(path)}\n"
    if path.is_dir():
        return head + "folderAsset: yes\n" + DEFAULT + TAIL
    return head + IMPORTERS.get(path.suffix, DEFAULT) + TAIL


def problems() -> list[str]:
    wanted = {p.with_name(p.name + ".meta") for p in assets()}
    have = {p for p in PACKAGE.rglob("*.meta")}
    missing = [f"missing: {p.relative_to(PACKAGE)}" for p in sorted(wanted - have)]
    orphans = [f"orphaned: {p.relative_to(PACKAGE)}" for p in sorted(have - wanted)]
    return missing + orphans


def main() -> int:
    if "--check" in sys.argv[1:]:
        found = problems()
        print("\n".join(found) or "every asset has its .meta file")
        return 1 if found else 0
    for path in assets():
        target = path.with_name(path.name + ".meta")
        if not target.exists():
            target.write_text(meta(path))
            print(f"wrote {target.relative_to(PACKAGE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
