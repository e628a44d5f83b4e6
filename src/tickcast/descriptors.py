"""The process's file descriptors: raised to what it may have, checked against the limits.

Every connection is a descriptor, and `--max-connections` (10,000 by default)
counts TCP, WebSocket and plain HTTP connections together; many systems start
a process with a soft RLIMIT_NOFILE of 1,024 (a limit kept for `select()`,
which an event loop on epoll does not use) under a much higher hard limit.
So `tickcast serve` raises its soft limit to the hard one at start, as Go's
runtime does for every Go program (since Go 1.19), and says at start whether
its limits fit in what it may open: beyond the descriptor limit an accept
fails with EMFILE, which the limits exist to prevent.

What the limits need: one descriptor per connection (`--max-connections`), a
few connections over a limit held for a moment to be answered properly
(`OVER_LIMIT`), and the process's own (`RESERVED`: the listening sockets, the
event loop, the tick log's files, Redis, logs). The HTTP side also holds its
plain HTTP connections to a quarter of the limit (`http.connections`), so
that they can never take the descriptors players need.
"""

from __future__ import annotations

import logging

from tickcast.config import Config
from tickcast.logs import fields

log = logging.getLogger("tickcast.server")

RESERVED = 64
"""Descriptors the process needs for itself (listeners, event loop, tick log, Redis, logs)."""
OVER_LIMIT = 16
"""Connections over a connection limit held at once to be refused properly."""


def raise_soft_limit() -> tuple[int, int, int] | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit: (soft before, soft now, hard),
    or None where there is no such limit. An unlimited hard limit is not taken as
    is (the kernel caps descriptors at `fs.nr_open`): the soft limit then stays."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on this platform
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = soft
    if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:  # a sandbox that refuses it
            log.warning(
                "file descriptors: cannot raise the limit %s",
                fields(soft_limit=soft, hard_limit=hard, error=exc),
            )
    return int(before), int(soft), int(hard)


def needed(config: Config) -> int | None:
    """Descriptors the connection limits may take at most (None: no limit set)."""
    if not config.max_connections:
        return None
    return config.max_connections + OVER_LIMIT + RESERVED


def check(
    config: Config, limits: tuple[int, int, int] | None
) -> tuple[int, str, dict[str, object]]:
    """The start-up line about descriptors: (logging level, message, its fields); the
    message ends with the `%s` of the fields."""
    if limits is None:
        return logging.DEBUG, "file descriptors: no RLIMIT_NOFILE on this platform %s", {}
    before, soft, hard = limits
    values: dict[str, object] = {"limit": soft}
    if soft > before:
        values["raised_from"] = before  # up to the hard limit
    need = needed(config)
    if need is None:
        return logging.INFO, (
            "file descriptors: --max-connections 0 (no limit): connections are bounded by "
            "the descriptors alone %s"
        ), values
    values.update(max_connections=config.max_connections, needed=need)
    if need > soft:
        values["hard_limit"] = hard
        return logging.WARNING, (
            "file descriptors: --max-connections needs more than this process may open "
            "(RLIMIT_NOFILE): past that, connections fail with EMFILE instead of being "
            "refused by the limit; raise the hard limit (LimitNOFILE= in a systemd unit, "
            "ulimit -Hn, docker run --ulimit nofile=) or lower --max-connections %s"
        ), values
    return logging.INFO, "file descriptors: enough for --max-connections %s", values


def prepare(config: Config) -> None:
    """At the start of `tickcast serve`: raise the soft limit and say whether the
    connection limits fit in it."""
    level, message, values = check(config, raise_soft_limit())
    log.log(level, message, fields(**values))
