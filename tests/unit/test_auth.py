"""Tokens: the spec's Tokens rule, rotation, open mode, and the `token` command."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from tickcast import cli
from tickcast.auth import Authenticator, load_secrets, mint, parse_ttl
from tickcast.config import Config
from tickcast.errors import ConfigError, TokenRejected
from tickcast.proto import pb

S1 = b"first-secret-that-is-long-enough-0123456789"
S2 = b"second-secret-that-is-long-enough-987654321"


def refusal(auth: Authenticator, token: str, player: str = "ada", room: str = "r") -> str:
    with pytest.raises(TokenRejected) as info:
        auth.verify(token, player, room)
    assert info.value.reason == pb.REASON_AUTH_FAILED
    assert token == "" or token not in info.value.detail
    return info.value.detail


def test_valid_tokens_pass_with_and_without_room() -> None:
    auth = Authenticator((S1,))
    auth.verify(mint(S1, "ada"), "ada", "anything")
    auth.verify(mint(S1, "ada", room="r"), "ada", "r")


def test_each_failed_check_is_named() -> None:
    auth = Authenticator((S1,))
    now = time.time()
    assert refusal(auth, "") == "token missing"
    assert "well-formed" in refusal(auth, "not.a.jwt")
    assert "expired" in refusal(auth, mint(S1, "ada", ttl=10, now=now - 100))
    assert "signature" in refusal(auth, mint(b"x" * 40, "ada"))
    assert "another player" in refusal(auth, mint(S1, "bob"))
    assert "another room" in refusal(auth, mint(S1, "ada", room="other"))
    no_exp = jwt.encode({"sub": "ada"}, S1, algorithm="HS256")
    assert "'exp'" in refusal(auth, no_exp)
    no_sub = jwt.encode({"exp": int(now) + 60}, S1, algorithm="HS256")
    assert "'sub'" in refusal(auth, no_sub)


def test_alg_none_and_other_algorithms_are_refused() -> None:
    auth = Authenticator((S1,))
    claims = {"sub": "ada", "exp": int(time.time()) + 60}
    none_token = jwt.encode(claims, None, algorithm="none")
    assert "not HS256" in refusal(auth, none_token)
    hs512 = jwt.encode(claims, S1 + S1, algorithm="HS512")
    assert "not HS256" in refusal(auth, hs512)


def test_rotation_any_secret_verifies(tmp_path: Path) -> None:
    f = tmp_path / "secrets"
    f.write_text(f"# current first\n{S2.decode()}\n\n{S1.decode()}\n")
    secrets = load_secrets(Config(port=0, secret_file=str(f)), environ={})
    assert secrets == (S2, S1)
    auth = Authenticator(secrets)
    auth.verify(mint(S1, "ada"), "ada", "r")  # signed by the old secret
    auth.verify(mint(S2, "ada"), "ada", "r")  # by the new one


def test_a_secret_file_readable_by_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f = tmp_path / "secrets"
    f.write_text(S1.decode())
    f.chmod(0o644)
    load_secrets(Config(port=0, secret_file=str(f)), environ={})
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
    caplog.clear()
    f.chmod(0o600)
    load_secrets(Config(port=0, secret_file=str(f)), environ={})
    assert not caplog.records
    assert S1.decode() not in caplog.text


def test_secret_from_environment_and_short_secrets_refused() -> None:
    assert load_secrets(Config(port=0), environ={"TICKCAST_SECRET": S1.decode()}) == (S1,)
    with pytest.raises(ConfigError, match="at least 32"):
        load_secrets(Config(port=0), environ={"TICKCAST_SECRET": "short"})


def test_open_mode_only_on_loopback() -> None:
    assert Authenticator.for_config(Config(port=0, host="127.0.0.1"), environ={}).open
    assert Authenticator.for_config(Config(port=0, host="::1"), environ={}).open
    with pytest.raises(ConfigError, match="insecure-no-auth"):
        Authenticator.for_config(Config(port=0, host="0.0.0.0"), environ={})
    auth = Authenticator.for_config(
        Config(port=0, host="0.0.0.0", insecure_no_auth=True), environ={}
    )
    assert auth.open and "OPEN MODE" in auth.describe()
    auth.verify("", "anyone", "r")  # open mode accepts any token
    signed = Authenticator.for_config(
        Config(port=0, host="0.0.0.0"), environ={"TICKCAST_SECRET": S1.decode()}
    )
    assert not signed.open


def test_open_mode_counts_the_websocket_listener_too() -> None:
    """WebSocket clients join through the HTTP listener: a public --http-host without
    a secret is open mode on a public address as much as a public --host."""
    with pytest.raises(ConfigError, match="--http-host 0.0.0.0 is not loopback"):
        Authenticator.for_config(Config(port=0, http_host="0.0.0.0"), environ={})
    with pytest.raises(ConfigError, match="--http-host :: is not loopback"):
        Authenticator.for_config(Config(port=0, http_host="::"), environ={})
    # without the HTTP listener, or with a secret, or when told to, it runs
    assert Authenticator.for_config(
        Config(port=0, http_host="0.0.0.0", http=False), environ={}
    ).open
    assert not Authenticator.for_config(
        Config(port=0, http_host="0.0.0.0"), environ={"TICKCAST_SECRET": S1.decode()}
    ).open
    assert Authenticator.for_config(
        Config(port=0, http_host="0.0.0.0", insecure_no_auth=True), environ={}
    ).open


def test_serve_refuses_open_mode_on_a_public_address(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TICKCAST_SECRET", raising=False)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "insecure-no-auth" in capsys.readouterr().err
    argv = ["serve", "--port", "0", "--http-host", "0.0.0.0", "--http-port", "0"]
    assert cli.main(argv) == 2
    assert "--http-host 0.0.0.0 is not loopback" in capsys.readouterr().err


def test_token_command_mints_a_verifiable_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TICKCAST_SECRET", raising=False)
    f = tmp_path / "secrets"
    f.write_text(S1.decode() + "\n" + S2.decode() + "\n")
    argv = ["token", "--player", "ada", "--room", "r", "--ttl", "15m", "--secret-file", str(f)]
    assert cli.main(argv) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, S1, algorithms=["HS256"])  # the first secret signs
    assert claims["sub"] == "ada" and claims["room"] == "r"
    assert 890 <= claims["exp"] - claims["iat"] <= 900
    assert cli.main(["token", "--player", "ada"]) == 2  # no secret anywhere


def test_parse_ttl() -> None:
    assert parse_ttl("90") == 90 and parse_ttl("15m") == 900 and parse_ttl("1h") == 3600
    assert parse_ttl("2d") == 172800
    with pytest.raises(Exception, match="duration"):
        parse_ttl("soon")
