"""docs/configuration.md must list every Config field exactly as the generator would.

Other branches add Config fields; when they do, this test fails until
`python scripts/gen_config_docs.py` has rewritten the table.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tickcast.config import Config

ROOT = Path(__file__).resolve().parents[2]


def load_generator() -> ModuleType:
    path = ROOT / "scripts" / "gen_config_docs.py"
    spec = importlib.util.spec_from_file_location("gen_config_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_config_docs", module)
    spec.loader.exec_module(module)
    return module


gen = load_generator()


def test_configuration_doc_table_is_up_to_date() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert gen.updated(doc) == doc, "run: PYTHONPATH=src python scripts/gen_config_docs.py"


def test_every_field_has_a_row_with_flag_env_and_help() -> None:
    table = gen.render_table()
    for f in dataclasses.fields(Config):
        row = next(line for line in table.splitlines() if f"`TICKCAST_{f.name.upper()}`" in line)
        assert f"`--{f.name.replace('_', '-')}" in row
        assert f.metadata.get("help"), f"Config.{f.name} has no help text for the docs"
        assert f.metadata["help"].split()[0] in row


def test_defaults_are_shown_as_an_operator_types_them() -> None:
    rows = {line.split("|")[2].strip(): line for line in gen.render_table().splitlines()[3:-1]}
    assert "| `30` |" in rows["`TICKCAST_TICK_RATE`"]
    assert "| `5` |" in rows["`TICKCAST_HANDSHAKE_TIMEOUT`"]
    assert "`1048576` (1 MiB)" in rows["`TICKCAST_QUEUE_LIMIT_BYTES`"]
    assert "| `true` |" in rows["`TICKCAST_CHAIN`"]
    assert "| `--skip-empty-ticks` |" in rows["`TICKCAST_SKIP_EMPTY_TICKS`"]


def test_check_mode_reports_a_stale_table(tmp_path: Path) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(f"intro\n{gen.BEGIN}\n| stale |\n{gen.END}\noutro\n", encoding="utf-8")
    assert gen.main(["--check", "--doc", str(doc)]) == 1
    assert gen.main(["--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("\noutro\n")
    assert "| stale |" not in text
    assert gen.main(["--check", "--doc", str(doc)]) == 0


def test_boolean_flags_can_be_turned_on_and_off() -> None:
    from tickcast.cli import build_parser, config_from_args

    parser = build_parser()
    off = config_from_args(parser.parse_args(["serve", "--no-chain"]), environ={})
    on = config_from_args(
        parser.parse_args(["serve", "--skip-empty-ticks"]), environ={"TICKCAST_CHAIN": "0"}
    )
    assert off.chain is False
    assert on.skip_empty_ticks is True and on.chain is False
    env_only = config_from_args(parser.parse_args(["serve"]), environ={"TICKCAST_CHAIN": "0"})
    flag_wins = config_from_args(
        parser.parse_args(["serve", "--chain"]), environ={"TICKCAST_CHAIN": "0"}
    )
    assert env_only.chain is False and flag_wins.chain is True
