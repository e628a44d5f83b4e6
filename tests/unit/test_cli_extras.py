"""A command whose extra is not installed says exactly what to install (issue 19),
before it parses anything (so a type= that imports the extra cannot crash first);
`--help` works without it. The real thing, in a venv without extras, is in
tests/integration/test_packaging.py; here the missing modules are pretended."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest

from tickcast import cli


def without(monkeypatch: pytest.MonkeyPatch, *missing: str) -> None:
    real: Callable[..., Any] = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name in missing else real(name, *args)

    monkeypatch.setattr(cli.importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    ("argv", "missing", "extra"),
    [
        (["serve"], ("aiohttp",), "server"),
        (["token", "--player", "a", "--ttl", "1m"], ("jwt",), "server"),
        (["bots", "--rooms", "1"], ("rich",), "server"),
        (["serve", "--cluster", "redis://127.0.0.1:1/0", "--port", "0"], ("redis",), "cluster"),
        (["drain", "--node", "x:1"], ("redis",), "cluster"),
    ],
)
def test_a_missing_extra_is_named_with_its_pip_command(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], missing: tuple[str, ...], extra: str
) -> None:
    without(monkeypatch, *missing)
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    message = str(done.value.code)
    assert message.endswith(f"pip install 'tickcast[{extra}]'"), message
    assert f"no module {missing[0]!r}" in message


def test_help_and_reload_need_no_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without(monkeypatch, *cli.EXTRAS["cluster"])
    for argv in (["--help"], ["serve", "--help"], ["reload", "--help"]):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        assert done.value.code == 0
        assert "usage: tickcast" in capsys.readouterr().out
