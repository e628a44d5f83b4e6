"""Reloading a running server's settings: SIGHUP and `tickcast reload`.

The reloadable settings (`config.RELOADABLE`) are the token secret and the
admin token (their files are read again), the limits and the log level. A
reload builds the new `Config` from the same sources as at start (the config
file, read again; the environment and the flags of the start), then:

1. prepares everything that can fail before anything changes: the secrets
   are loaded (a missing or short secret, or open mode on a public address,
   is a ConfigError), the services read what they need (the admin token);
2. applies it all at once, on the loop, between two callbacks: the relay, its
   rooms and players, open sessions, the connection admission and the
   services take the new values; no connection is touched otherwise;
3. says what changed: a line per setting, secrets only as "changed", and the
   settings that need a restart (they keep their running values).

A ConfigError in 1 (or in building the new Config) changes nothing: the
running configuration stays, and the caller logs it as an ERROR.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tickcast.auth import Authenticator
from tickcast.logs import quote, set_levels
from tickcast.security import receive_guard

if TYPE_CHECKING:
    from tickcast.config import Config
    from tickcast.server import Server

SECRET_FIELDS = frozenset({"admin_token"})
"""Settings whose values are never said (the HTTP side says "admin token changed")."""

INPUT_LIMITS = ("input_rate", "input_burst", "input_bytes_per_tick")


@dataclass(frozen=True)
class Change:
    """One setting a reload changed: its old and new value, or (a secret) a note."""

    setting: str
    old: object = None
    new: object = None
    note: str = ""

    def line(self) -> str:
        if self.note:
            return f"{self.setting} {self.note}"
        return f"{self.setting} {quote(self.old)} -> {quote(self.new)}"

    def fields(self) -> dict[str, object]:
        if self.note:
            return {"setting": self.setting, "change": self.note}
        return {"setting": self.setting, "old": self.old, "new": self.new}


@dataclass
class Reloaded:
    """What a reload did: `changes`, and `restart`: the settings that changed in
    their sources but need a restart to take effect (they keep their values)."""

    changes: list[Change] = field(default_factory=list)
    restart: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes]


def reload_server(server: Server, new: Config) -> Reloaded:
    """Apply `new`'s reloadable settings to the running `server` (see above)."""
    old = server.config
    changed, restart = old.reloadable_changes(new)
    effective = old.replace(**{name: value for name, (_, value) in changed.items()})
    # 1. everything that can fail, before anything changes
    auth = Authenticator.for_config(effective)
    applies: list[Callable[[], list[Change]]] = []
    for service in server.services:
        prepare = getattr(service, "prepare_reload", None)
        if callable(prepare):
            applies.append(prepare(effective))
    # 2. apply
    done = Reloaded(restart=restart)
    for name, (before, after) in changed.items():
        if name not in SECRET_FIELDS:
            done.changes.append(Change(name, before, after))
    relay = server.relay
    if auth.secrets != relay.auth.secrets:
        n = len(auth.secrets)
        now_held = f"{n} secret{'s' if n > 1 else ''}" if n else "none (OPEN MODE)"
        done.changes.append(Change("token secret", note=f"changed, now {now_held}"))
    relay.auth = auth
    server.config = relay.config = effective
    server.admission.configure(effective)
    relay.catchup.per_cycle = effective.catchup_bytes_per_tick
    inputs = any(name in changed for name in INPUT_LIMITS)
    for room in relay.rooms.values():
        if room.config is not old:  # a room of its own settings (a replay's)
            continue
        room.config = effective
        if inputs:
            for player in room.players.values():
                if player.guard is not None:
                    player.guard.configure(effective)
    if "recv_bytes_per_second" in changed:
        now = server.loop.time()
        for session in relay.sessions:
            session.recv_guard = receive_guard(effective, now)
    if "log_level" in changed:
        set_levels(effective.log_level, effective.log_connections)
    for apply in applies:
        done.changes.extend(apply())
    return done
