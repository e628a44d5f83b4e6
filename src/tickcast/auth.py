"""Signed tokens (the spec's Tokens rule); `tickcast token` (in `tickcast.cli`) mints them.

A token is an HS256 JWT with `sub` (must equal `Hello.player_id`), `exp`
(required) and optionally `room` (must equal the room joined). Verification is
PyJWT's, with the algorithm pinned to HS256: a token whose header names any
other algorithm (`none` included) is refused before any key is tried.

Secrets come from `--secret-file` (one a line; several lines are a rotation:
a token signed by any of them verifies, new tokens are signed by the first)
or from the `TICKCAST_SECRET` environment variable, never from a flag value,
which anyone on the machine could read in `ps`.

Without a secret the server runs in *open mode* (any token is accepted), and
only on a loopback address unless `--insecure-no-auth` says otherwise.

Every refusal is `Kick{AUTH_FAILED}` whose detail names the check that failed;
neither the detail nor any log line ever contains the token.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt

from tickcast.config import Config
from tickcast.errors import ConfigError, TokenRejected
from tickcast.logs import fields
from tickcast.security import is_loopback

log = logging.getLogger("tickcast.auth")

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
"""RFC 7518 3.2: an HS256 key must be at least as long as the hash (256 bits)."""
SECRET_ENV = "TICKCAST_SECRET"


def load_secrets(config: Config, environ: Mapping[str, str] | None = None) -> tuple[bytes, ...]:
    """The secrets to verify with (the first also signs): the secret file's lines,
    then TICKCAST_SECRET. Blank lines and lines starting with '#' are skipped."""
    env = os.environ if environ is None else environ
    secrets: list[bytes] = []
    if config.secret_file:
        path = Path(config.secret_file)
        try:
            text = path.read_text(encoding="utf-8")
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"--secret-file: cannot read it: {exc.strerror}") from None
        if mode & 0o077:
            log.warning(
                "--secret-file is readable by other users: chmod 600 it %s", fields(path=path)
            )
        secrets.extend(
            line.strip().encode()
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        )
        if not secrets:
            raise ConfigError("--secret-file: the file holds no secret")
    if env.get(SECRET_ENV):
        secrets.append(env[SECRET_ENV].strip().encode())
    for i, secret in enumerate(secrets):
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"secret {i + 1} is {len(secret)} bytes; HS256 needs at least {MIN_SECRET_BYTES}"
            )
    return tuple(secrets)


class Authenticator:
    """Verifies Hello tokens; with no secrets it is in open mode and accepts any."""

    def __init__(self, secrets: tuple[bytes, ...] = ()) -> None:
        self.secrets = secrets

    @classmethod
    def for_config(
        cls, config: Config, environ: Mapping[str, str] | None = None
    ) -> Authenticator:
        """Load the secrets; refuse open mode on a non-loopback address unless
        `insecure_no_auth` is set (ConfigError, so the server does not start).

        Both listeners count: WebSocket clients on the HTTP listener join rooms
        with the same Hello, so `--http-host 0.0.0.0` opens the server as much as
        `--host 0.0.0.0` does."""
        auth = cls(load_secrets(config, environ))
        listeners = [("--host", config.host)]
        if config.http:
            listeners.append(("--http-host", config.http_host))
        public = " and ".join(f"{flag} {host}" for flag, host in listeners if not is_loopback(host))
        if auth.open and public and not config.insecure_no_auth:
            raise ConfigError(
                f"no token secret (--secret-file or {SECRET_ENV}) and {public} "
                "is not loopback: refusing to run open; pass --insecure-no-auth to do it anyway"
            )
        if auth.open and public:
            log.warning(
                "OPEN MODE (--insecure-no-auth): anyone can join as anyone %s",
                fields(listeners=public),
            )
        return auth

    @property
    def open(self) -> bool:
        """True when any token is accepted (no secret configured)."""
        return not self.secrets

    def describe(self) -> str:
        """For the start-up line: whether tokens are checked."""
        if self.open:
            return "auth: OPEN MODE, no secret: any token is accepted"
        n = len(self.secrets)
        return f"auth: HS256 tokens ({n} secret{'s' if n > 1 else ''})"

    def verify(self, token: str, player_id: str, room: str) -> None:
        """Raise TokenRejected unless `token` is valid for `player_id` in `room`."""
        if not self.secrets:
            return
        if not token:
            raise TokenRejected("token missing")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenRejected("token is not a well-formed JWT") from None
        if header.get("alg") != ALGORITHM:
            raise TokenRejected(f"token algorithm is not {ALGORITHM}")
        claims: dict[str, Any] | None = None
        for secret in self.secrets:
            try:
                claims = jwt.decode(
                    token,
                    secret,
                    algorithms=[ALGORITHM],
                    options={"require": ["exp", "sub"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise TokenRejected("token expired") from None
            except jwt.MissingRequiredClaimError as exc:
                raise TokenRejected(f"token has no {exc.claim!r} claim") from None
            except jwt.ImmatureSignatureError:
                raise TokenRejected("token not valid yet") from None
            except jwt.InvalidTokenError as exc:
                raise TokenRejected(f"token rejected ({type(exc).__name__})") from None
        if claims is None:
            raise TokenRejected("token signature does not verify")
        if claims.get("sub") != player_id:
            raise TokenRejected("token is for another player (sub differs from player_id)")
        if "room" in claims and claims["room"] != room:
            raise TokenRejected("token is for another room")


def mint(
    secret: bytes,
    player_id: str,
    room: str | None = None,
    ttl: float = 3600.0,
    now: float | None = None,
) -> str:
    """A signed token for `player_id` (and `room`), valid for `ttl` seconds."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": player_id, "iat": issued, "exp": issued + int(ttl)}
    if room is not None:
        claims["room"] = room
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


_TTL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> float:
    """ "90", "90s", "15m", "1h", "7d" -> seconds."""
    m = _TTL.match(text.lower())
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration like 90s, 15m, 1h or 7d: {text!r}")
    return float(m.group(1)) * _UNIT[m.group(2)]
