"""`--config-file` (what SIGHUP reads again): TOML keys are Config fields, each
source wins over the one before (defaults < file < TICKCAST_* < flags), and an
error names the source of the bad value: the file and its key, the variable, or
the flag (issue 19: TICKCAST_TICK_RATE=abc was reported as --tick-rate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickcast.config import RELOADABLE, Config, read_config_file
from tickcast.errors import ConfigError


def conf(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tickcast.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_each_source_wins_over_the_one_before(tmp_path: Path) -> None:
    path = conf(tmp_path, "tick_rate = 20\ninput-rate = 50\nmax_rooms = 7\nchain = false\n")
    env = {"TICKCAST_CONFIG_FILE": path, "TICKCAST_INPUT_RATE": "60", "TICKCAST_MAX_ROOMS": "8"}
    cfg = Config.from_sources(environ=env, overrides={"max_rooms": 9})
    assert (cfg.tick_rate, cfg.input_rate, cfg.max_rooms, cfg.chain) == (20, 60.0, 9, False)
    assert cfg.config_file == path
    # from_env (the API of before) reads no file
    assert Config.from_env(env).tick_rate == Config().tick_rate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tick_rate = 'fast'", "tick_rate: must be an int (got 'fast')"),
        ("chain = 1", "chain: must be a bool (got 1)"),
        ("input_rate = nan", "input_rate: must be a finite number"),
        ("tick_rate = 0", "tick_rate: must be 1..1000 (got 0)"),
        ("tickrate = 5", "tickrate: not a setting of tickcast serve"),
        ("config_file = 'other.toml'", "config_file: not a setting of tickcast serve"),
        ("tick_rate = ", "is not valid TOML"),
    ],
)
def test_a_bad_file_names_itself_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = conf(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        Config.from_sources(environ={}, overrides={"config_file": path})
    assert str(err.value).startswith(path) or str(err.value).startswith("--config-file")
    assert message in str(err.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config-file: cannot read .*No such file"):
        read_config_file(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("environ", "overrides", "message"),
    [
        ({"TICKCAST_TICK_RATE": "abc"}, {}, "TICKCAST_TICK_RATE: not a valid int: 'abc'"),
        ({"TICKCAST_TICK_RATE": "0"}, {}, "TICKCAST_TICK_RATE: must be 1..1000 (got 0)"),
        ({"TICKCAST_TICK_RATE": "5"}, {"tick_rate": 0}, "--tick-rate: must be 1..1000 (got 0)"),
    ],
)
def test_an_error_names_the_source_of_the_value(
    environ: dict[str, str], overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        Config.from_sources(environ=environ, overrides=overrides)
    assert str(err.value) == message


def test_the_reloadable_settings_are_fields_and_the_listeners_are_not() -> None:
    names = {f for f in Config.__dataclass_fields__}
    assert RELOADABLE <= names
    assert not {"host", "port", "http_port", "tick_rate", "data_dir", "cluster"} & RELOADABLE
    changed, restart = Config().reloadable_changes(Config(max_rooms=3, tick_rate=60))
    assert changed == {"max_rooms": (1000, 3)} and restart == ["tick_rate"]
