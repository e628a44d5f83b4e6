"""Regenerate the flag table in docs/configuration.md from `tickcast.config.Config`.

    PYTHONPATH=src python scripts/gen_config_docs.py          # rewrite the table
    PYTHONPATH=src python scripts/gen_config_docs.py --check  # exit 1 if it is stale

The CLI and the environment variables are generated from Config's fields, so
the docs are too: one row per field, in field order, between the BEGIN/END
markers below. Everything outside the markers is hand-written and kept as is.
`tests/unit/test_config_docs.py` fails when the table is out of date, so a
branch that adds a Config field re-runs this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from tickcast.config import RELOADABLE, Config

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED FLAG TABLE (scripts/gen_config_docs.py) -->"
END = "<!-- END GENERATED FLAG TABLE -->"


def field_default(f: dataclasses.Field[Any]) -> Any:
    """The field's default value, whether given as a value or a factory."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def format_default(f: dataclasses.Field[Any]) -> str:
    """A default as an operator would type it (booleans as the env var spells them)."""
    value = field_default(f)
    if value is dataclasses.MISSING:
        return "(required)"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value == "" and f.name == "server_id":
        return "the host name"
    if value == "":
        return '`""`'
    if isinstance(value, int) and f.name.endswith("_bytes") and value >= 1024:
        return f"`{value}` ({_human_bytes(value)})"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def _human_bytes(n: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


def type_name(f: dataclasses.Field[Any]) -> str:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return {"float": "seconds" if _is_duration(f) else "float", "str": "string"}.get(kind, kind)


def _is_duration(f: dataclasses.Field[Any]) -> bool:
    return "seconds" in str(f.metadata.get("help", "")) or f.name.endswith(
        ("_timeout", "_grace", "_seconds")
    )


def flag_cell(f: dataclasses.Field[Any]) -> str:
    flag = "--" + f.name.replace("_", "-")
    if type_name(f) == "bool":
        return f"`{flag}`"  # a switch: it takes no value and sets the field to true
    return f"`{flag} {f.name.upper()}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_table() -> str:
    """The generated Markdown table (with its markers), one row per Config field."""
    rows = [
        BEGIN,
        "| Flag | Environment variable | Type | Default | Meaning |",
        "|---|---|---|---|---|",
    ]
    for f in dataclasses.fields(Config):
        env = "TICKCAST_" + f.name.upper()
        meaning = _cell(str(f.metadata.get("help", "")))
        if f.name in RELOADABLE:
            meaning += " (reloaded by SIGHUP)"
        rows.append(
            f"| {flag_cell(f)} | `{env}` | {type_name(f)} | {format_default(f)} | {meaning} |"
        )
    rows.append(END)
    return "\n".join(rows)


def updated(doc: str) -> str:
    """`doc` with the text between the markers (markers included) replaced."""
    start = doc.find(BEGIN)
    stop = doc.find(END)
    if start < 0 or stop < start:
        raise ValueError(f"markers not found in the document: {BEGIN!r} ... {END!r}")
    return doc[:start] + render_table() + doc[stop + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    current = args.doc.read_text(encoding="utf-8")
    fresh = updated(current)
    if args.check:
        if fresh != current:
            print(f"{args.doc} is out of date: run scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        args.doc.write_text(fresh, encoding="utf-8")
        print(f"updated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
