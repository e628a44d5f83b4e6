"""The server's configuration: one frozen dataclass, validated once.

Every field maps one to one onto a `tickcast serve` flag (`--tick-rate` for
`tick_rate`) and an environment variable (`TICKCAST_TICK_RATE`); the CLI is
generated from the field metadata below, so the three never drift apart.
Durations are seconds (floats); sizes are bytes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tickcast.errors import ConfigError
from tickcast.redact import REDACTED, redact_url

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


RELOADABLE = frozenset(
    {
        # the secret and the admin token (their files are read again)
        "secret_file", "insecure_no_auth", "admin_token_file", "admin_token",
        # the limits
        "input_rate", "input_burst", "input_bytes_per_tick", "recv_bytes_per_second",
        "max_connections", "max_connections_per_host", "max_rooms", "max_players",
        "catchup_bytes_per_tick", "max_name_bytes", "handshake_timeout", "idle_timeout",
        "log_level",
    }
)
"""The settings a running server takes again on SIGHUP or `tickcast reload`
(tickcast/reload.py applies them); a change of any other needs a restart."""


def _opt(help: str, **extra: Any) -> Any:
    return {"help": help, **extra}


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a tickcast server needs to know; immutable once built."""

    host: str = field(default="127.0.0.1", metadata=_opt("address to listen on for TCP clients"))
    port: int = field(default=7777, metadata=_opt("TCP port (0 picks a free one)"))
    tick_rate: int = field(default=30, metadata=_opt("ticks per second of every room"))
    tick_phases: int = field(
        default=8,
        metadata=_opt(
            "spread the rooms over this many evenly spaced moments of the tick interval "
            "(each room still ticks once per interval): many rooms then do not all fan out "
            "at once, which lowers latency; with recording, one log transaction per phase"
        ),
    )
    handshake_timeout: float = field(
        default=5.0, metadata=_opt("seconds a new connection has to send its Hello")
    )
    reconnect_grace: float = field(
        default=30.0,
        metadata=_opt("seconds a dropped player keeps its slot before it appears in Tick.left"),
    )
    idle_timeout: float = field(
        default=60.0,
        metadata=_opt(
            "seconds without any frame from a client before it is kicked (IDLE_TIMEOUT); 0 = never"
        ),
    )
    max_frame: int = field(
        default=65536, metadata=_opt("largest client frame accepted, in bytes (FRAME_TOO_LARGE)")
    )
    queue_limit_bytes: int = field(
        default=1 << 20,
        metadata=_opt("outbound bytes a connection may have unsent before SLOW_CONSUMER"),
    )
    queue_limit_ticks: int = field(
        default=150,
        metadata=_opt("outbound ticks a connection may have unsent before SLOW_CONSUMER"),
    )
    send_buffer_bytes: int = field(
        default=65536,
        metadata=_opt(
            "kernel send buffer per connection (SO_SNDBUF; 0 = the OS default, which lets "
            "megabytes hide in the kernel and delays slow-consumer detection)"
        ),
    )
    history_seconds: float = field(
        default=60.0,
        metadata=_opt("seconds of ticks each room keeps in memory for resume and full_history"),
    )
    history_bytes: int = field(
        default=2 << 20,
        metadata=_opt(
            "bytes of ticks each room keeps in memory at most (the oldest go first, within "
            "--history-seconds); with recording, older ticks are read from the tick log, "
            "without it a resume that needs them is RESUME_UNAVAILABLE"
        ),
    )
    max_players: int = field(
        default=1024,
        metadata=_opt("players per room (ROOM_FULL beyond it); spectators not counted"),
    )
    skip_empty_ticks: bool = field(
        default=False, metadata=_opt("do not send ticks without inputs or presence changes")
    )
    chain: bool = field(
        default=True, metadata=_opt("record Tick.chain (BLAKE2b-256 hash chain of tick contents)")
    )
    shutdown_timeout: float = field(
        default=5.0,
        metadata=_opt(
            "seconds connections get on shutdown to receive their Kick before they are cut "
            "(each is closed as soon as its Kick has reached the peer)"
        ),
    )
    server_id: str = field(
        default="", metadata=_opt("id sent in Welcome.server_id (default: the host name)")
    )
    log_level: str = field(default="INFO", metadata=_opt("DEBUG, INFO, WARNING or ERROR"))
    log_format: str = field(
        default="text",
        metadata=_opt(
            "text: one line per event, key=value fields; json: one JSON object per line "
            "with the same fields"
        ),
    )
    log_connections: bool = field(
        default=False,
        metadata=_opt(
            "log every connection's accepted, welcomed, kicked and closed lines at INFO "
            "(off: they are left out unless --log-level is DEBUG; kicks are counted in "
            "/metrics either way)"
        ),
    )
    config_file: str = field(
        default="",
        metadata=_opt(
            "TOML file of settings (the names of this table's variables without "
            "TICKCAST_, in lower case: input_rate = 60), read at start and again on SIGHUP "
            "or `tickcast reload`; a flag or a TICKCAST_ variable wins over it"
        ),
    )

    # ---- recording (tickcast.store): fields go here ----
    record: bool = field(
        default=True,
        metadata=_opt(
            "record every match to the tick log in --data-dir, committed before any client "
            "receives a tick (used by `tickcast serve`; --no-record turns it off)"
        ),
    )
    data_dir: str = field(
        default="./tickcast-data", metadata=_opt("directory of the tick log (ticks.sqlite3)")
    )
    durability: str = field(
        default="normal",
        metadata=_opt(
            "normal: a commit survives any process crash; full: also power loss "
            "(an fsync per tick cycle)"
        ),
    )
    retention_days: float = field(
        default=0.0, metadata=_opt("prune ended matches older than this many days; 0 = keep")
    )
    max_data_bytes: int = field(
        default=0,
        metadata=_opt("prune the oldest ended matches while the log is larger; 0 = no limit"),
    )

    # ---- security (tickcast.auth, limits): fields go here ----
    secret_file: str = field(
        default="",
        metadata=_opt(
            "file of HS256 token secrets, one a line: any verifies, the first signs "
            "(rotation); or set TICKCAST_SECRET to one secret. Never a flag value"
        ),
    )
    insecure_no_auth: bool = field(
        default=False,
        metadata=_opt("allow open mode (any token accepted) on a non-loopback address"),
    )
    input_rate: float = field(
        default=120.0,
        metadata=_opt("inputs per second per player (token bucket; RATE_LIMITED); 0 = no limit"),
    )
    input_burst: int = field(
        default=240, metadata=_opt("inputs a player may send at once above input_rate")
    )
    input_bytes_per_tick: int = field(
        default=65536,
        metadata=_opt(
            "payload bytes one player's inputs may add to one tick (RATE_LIMITED); "
            "the default lets one maximum-size input through and caps a burst of them"
        ),
    )
    recv_bytes_per_second: int = field(
        default=262144,
        metadata=_opt("bytes per second one connection may send (RATE_LIMITED); 0 = no limit"),
    )
    max_connections: int = field(
        default=10000, metadata=_opt("open connections in total; more are refused; 0 = no limit")
    )
    max_connections_per_host: int = field(
        default=256,
        metadata=_opt(
            "open connections per source address (IPv6: per /64; loopback peers exempt); "
            "0 = no limit"
        ),
    )
    max_rooms: int = field(
        default=1000, metadata=_opt("rooms in total; a Hello that would open one more: ROOM_FULL")
    )
    catchup_bytes_per_tick: int = field(
        default=1 << 20,
        metadata=_opt("resume/full_history bytes all connections together get per tick cycle"),
    )
    max_name_bytes: int = field(
        default=64,
        metadata=_opt(
            "longest player id and room name, in bytes of UTF-8 (PROTOCOL_ERROR); "
            "at most the spec's 64"
        ),
    )

    # ---- HTTP side (tickcast.http): fields go here ----
    http_host: str = field(
        default="127.0.0.1",
        metadata=_opt("address of the HTTP listener (WebSocket /ws, /metrics, health, admin API)"),
    )
    http_port: int = field(default=8080, metadata=_opt("HTTP port (0 picks a free one)"))
    http: bool = field(
        default=True, metadata=_opt("serve the HTTP listener (--no-http runs without it)")
    )
    ws_allowed_origins: str = field(
        default="",
        metadata=_opt(
            "comma-separated Origins a browser WebSocket may come from (empty = any); "
            "clients that send no Origin (not browsers) are always let in"
        ),
    )
    admin_token_file: str = field(
        default="",
        metadata=_opt("file holding the admin API bearer token (without a token: loopback only)"),
    )
    admin_token: str = field(
        default="",
        metadata=_opt(
            "admin API bearer token; prefer the env var or --admin-token-file, "
            "since a flag shows in the process list"
        ),
    )
    http_allowed_hosts: str = field(
        default="",
        metadata=_opt(
            "comma-separated Host names the admin API and the dashboard answer to, besides "
            "IP addresses, localhost and --http-host (a name a proxy forwards, e.g. "
            "admin.example.com; .example.com takes its subdomains too; * turns the check off)"
        ),
    )
    http_header_timeout: float = field(
        default=10.0,
        metadata=_opt(
            "seconds an HTTP client has to send a whole request head (request line and "
            "headers), from connecting or from its first byte after a keep-alive pause"
        ),
    )
    http_body_timeout: float = field(
        default=10.0, metadata=_opt("seconds an HTTP client has to send a request body")
    )
    http_keepalive_timeout: float = field(
        default=5.0,
        metadata=_opt("seconds an HTTP connection may stay idle between two requests"),
    )
    http_request_timeout: float = field(
        default=30.0,
        metadata=_opt(
            "seconds from a request's head to the end of its response (a client that does "
            "not read is cut); for the dashboard feed: the longest a write may wait"
        ),
    )
    max_http_connections: int = field(
        default=1024,
        metadata=_opt(
            "plain HTTP connections at once (WebSocket players not included), and never more "
            "than a quarter of the process's file descriptor limit; when full, the one that "
            "has waited longest for its request head is closed"
        ),
    )
    max_dashboard_viewers: int = field(
        default=16, metadata=_opt("dashboard live feeds (/dashboard/events) at once; more: 503")
    )

    # ---- cluster (tickcast.cluster): fields go here ----
    cluster: str = field(
        default="",
        metadata=_opt(
            "redis://HOST:PORT/DB of the cluster's Redis: rooms are spread over every node "
            "on it (empty = a single node, nothing shared)"
        ),
    )
    advertise: str = field(
        default="",
        metadata=_opt(
            "HOST:PORT other nodes send redirected clients to (default: --host and the "
            "listening port)"
        ),
    )
    lease_seconds: float = field(
        default=3.0,
        metadata=_opt(
            "cluster: a room's owner lease; a dead owner's rooms move after this long"
        ),
    )
    advertise_http: str = field(
        default="",
        metadata=_opt(
            "HOST:PORT other nodes send redirected WebSocket clients to (default: "
            "--http-host and the HTTP listening port)"
        ),
    )
    placement: str = field(
        default="least-loaded",
        metadata=_opt(
            "cluster: where a new room goes: least-loaded (the node with the fewest "
            "connections, this one on a tie) or local (the node the first Hello reached)"
        ),
    )

    def __post_init__(self) -> None:
        if not self.server_id:
            object.__setattr__(self, "server_id", socket.gethostname())
        object.__setattr__(self, "log_level", self.log_level.upper())
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first invalid field."""

        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                value = shown(name, getattr(self, name))
                raise ConfigError(f"{flag_of(name)}: {what} (got {value!r})", field=name)

        need(0 <= self.port <= 65535, "port", "must be 0..65535")
        need(1 <= self.tick_rate <= 1000, "tick_rate", "must be 1..1000")
        need(1 <= self.tick_phases <= 16, "tick_phases", "must be 1..16")
        need(self.handshake_timeout > 0, "handshake_timeout", "must be > 0")
        need(self.reconnect_grace >= 0, "reconnect_grace", "must be >= 0")
        need(self.idle_timeout >= 0, "idle_timeout", "must be >= 0 (0 = never)")
        need(64 <= self.max_frame <= 16 << 20, "max_frame", "must be 64 .. 16 MiB")
        need(self.queue_limit_bytes >= 1024, "queue_limit_bytes", "must be >= 1024")
        need(self.queue_limit_ticks >= 1, "queue_limit_ticks", "must be >= 1")
        need(self.send_buffer_bytes >= 0, "send_buffer_bytes", "must be >= 0")
        need(self.history_seconds >= 0, "history_seconds", "must be >= 0")
        need(self.history_bytes >= 65536, "history_bytes", "must be >= 65536")
        need(self.max_players >= 1, "max_players", "must be >= 1")
        need(self.shutdown_timeout >= 0, "shutdown_timeout", "must be >= 0")
        need(0 <= self.http_port <= 65535, "http_port", "must be 0..65535")
        for name in (
            "http_header_timeout",
            "http_body_timeout",
            "http_keepalive_timeout",
            "http_request_timeout",
        ):
            need(getattr(self, name) > 0, name, "must be > 0")
        need(self.max_http_connections >= 8, "max_http_connections", "must be >= 8")
        need(self.max_dashboard_viewers >= 1, "max_dashboard_viewers", "must be >= 1")
        need(self.input_rate >= 0, "input_rate", "must be >= 0 (0 = no limit)")
        need(self.input_burst >= 1, "input_burst", "must be >= 1")
        need(self.input_bytes_per_tick >= 64, "input_bytes_per_tick", "must be >= 64")
        need(self.recv_bytes_per_second >= 0, "recv_bytes_per_second", "must be >= 0")
        need(self.max_connections >= 0, "max_connections", "must be >= 0 (0 = no limit)")
        need(self.max_connections_per_host >= 0, "max_connections_per_host", "must be >= 0")
        need(self.max_rooms >= 1, "max_rooms", "must be >= 1")
        need(self.catchup_bytes_per_tick >= 1024, "catchup_bytes_per_tick", "must be >= 1024")
        need(1 <= self.max_name_bytes <= 64, "max_name_bytes", "must be 1..64 (the spec's limit)")
        need(self.durability in ("normal", "full"), "durability", "must be normal or full")
        need(self.retention_days >= 0, "retention_days", "must be >= 0 (0 = keep)")
        need(self.max_data_bytes >= 0, "max_data_bytes", "must be >= 0 (0 = no limit)")
        need(self.lease_seconds >= 0.3, "lease_seconds", "must be >= 0.3")
        need(self.placement in ("least-loaded", "local"), "placement",
             "must be least-loaded or local")
        need(
            not self.cluster or self.cluster.startswith(("redis://", "rediss://", "unix://")),
            "cluster",
            "must be a redis:// URL",
        )
        if self.cluster:
            from redis.connection import parse_url  # only where a cluster is configured

            try:
                parse_url(self.cluster)  # type: ignore[no-untyped-call]
            except ValueError as exc:  # e.g. a port that is not a number
                need(False, "cluster", f"redis-py cannot read it: {exc}")
        need(self.log_level in LOG_LEVELS, "log_level", f"must be one of {', '.join(LOG_LEVELS)}")
        need(self.log_format in LOG_FORMATS, "log_format", "must be text or json")

    def __repr__(self) -> str:
        """Every field, with the secrets hidden (`shown`): a Config in a log line or a
        traceback shows no admin token and no Redis password."""
        shown_fields = (
            f"{f.name}={shown(f.name, getattr(self, f.name))!r}" for f in dataclasses.fields(self)
        )
        return f"Config({', '.join(shown_fields)})"

    @property
    def tick_interval(self) -> float:
        """Seconds between two ticks."""
        return 1.0 / self.tick_rate

    @property
    def history_ticks(self) -> int:
        """How many encoded ticks a room keeps in memory."""
        return max(1, int(self.history_seconds * self.tick_rate) + 1)

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build from `TICKCAST_<FIELD>` variables, then `overrides` on top."""
        return cls.from_sources(environ=environ, overrides=overrides, config_file=False)

    @classmethod
    def from_sources(
        cls,
        *,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        config_file: bool = True,
    ) -> Config:
        """Build from every source, each winning over the one before: the defaults,
        the config file (`config_file` from the overrides or the environment; skipped
        when `config_file` is False), the `TICKCAST_<FIELD>` variables, `overrides`
        (the flags). An error names the source of the bad value: the flag, the
        variable, or the file and its key."""
        env = os.environ if environ is None else environ
        given = dict(overrides or {})
        values: dict[str, Any] = {}
        source: dict[str, str] = {}  # field -> where its value came from, for errors
        from_environment: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            var = env_of(f.name)
            raw = env.get(var)
            if raw is not None and raw != "":
                from_environment[f.name] = parse_value(f, raw, var)
                source[f.name] = var
        path = given.get("config_file") or from_environment.get("config_file") or ""
        if config_file and path:
            for name, value in read_config_file(path).items():
                values[name] = value
                source.setdefault(name, f"{path}: {name}")
        values.update(from_environment)
        values.update(given)
        for name in given:
            source.pop(name, None)  # a flag: the message names it already
        try:
            return cls(**values)
        except ConfigError as exc:
            where = source.get(exc.field)
            message = str(exc)
            if where and message.startswith(flag_of(exc.field) + ":"):
                message = where + message[len(flag_of(exc.field)) :]
                raise ConfigError(message, field=exc.field) from None
            raise

    def reloadable_changes(self, new: Config) -> tuple[dict[str, tuple[Any, Any]], list[str]]:
        """What differs in `new`: the reloadable fields that changed ({name: (old, new)}),
        and the names of the other changed fields (they need a restart)."""
        changed: dict[str, tuple[Any, Any]] = {}
        restart: list[str] = []
        for f in dataclasses.fields(self):
            old, value = getattr(self, f.name), getattr(new, f.name)
            if old == value:
                continue
            if f.name in RELOADABLE:
                changed[f.name] = (old, value)
            else:
                restart.append(f.name)
        return changed, restart


SECRET_WORDS = ("token", "secret", "password")
"""A field named with one of these holds a secret itself (`admin_token`), unless it
names the file the secret is in (`secret_file`, `admin_token_file`)."""


def shown(name: str, value: Any) -> Any:
    """A field's value as it may be printed (an error, a repr, /api/server): a secret
    field's as `<redacted>`, a URL (`--cluster`) without its passwords
    (`tickcast.redact.redact_url`)."""
    if value and any(w in name for w in SECRET_WORDS) and not name.endswith("_file"):
        return REDACTED
    return redact_url(value) if isinstance(value, str) else value


def flag_of(name: str) -> str:
    """The `tickcast serve` flag of a field: `--tick-rate` for `tick_rate`."""
    return "--" + name.replace("_", "-")


def env_of(name: str) -> str:
    """The environment variable of a field: `TICKCAST_TICK_RATE` for `tick_rate`."""
    return "TICKCAST_" + name.upper()


def _kind(f: dataclasses.Field[Any]) -> str:
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def parse_value(f: dataclasses.Field[Any], raw: str, source: str = "") -> Any:
    """Parse one string (from a flag or the environment) for field `f`; an error
    names `source` (default: the field's flag)."""
    kind = _kind(f)
    try:
        if kind == "bool":
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            value = float(raw)
            if not math.isfinite(value):  # "inf" and "nan" parse, but no setting means them
                raise ValueError(raw)
            return value
        return raw
    except ValueError:
        where = source or flag_of(f.name)
        raise ConfigError(f"{where}: not a valid {kind}: {raw!r}", field=f.name) from None


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings of a TOML config file: {field name: value}. Keys are field names
    (`input_rate`, or `input-rate`), values TOML's own types (a bool for a switch, a
    number for a number, a string for text). ConfigError names the file and the key."""
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"--config-file: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config-file: {path} is not valid TOML: {exc}") from None
    fields = {f.name: f for f in dataclasses.fields(Config)}
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        f = fields.get(name)
        where = f"{path}: {key}"
        if f is None or name == "config_file":
            raise ConfigError(f"{where}: not a setting of tickcast serve")
        kind = _kind(f)
        ok = {
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "str": isinstance(value, str),
        }.get(kind, False)
        if not ok:
            article = "an" if kind[0] in "aeiou" else "a"
            raise ConfigError(
                f"{where}: must be {article} {kind} (got {shown(name, value)!r})", field=name
            )
        if kind == "float":
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(f"{where}: must be a finite number (got {value!r})", field=name)
        out[name] = value
    return out
