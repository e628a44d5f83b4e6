"""What the HTTP side refuses: counted by reason, logged without flooding the log.

Every refusal (a slow request head cut, a connection over a limit, a foreign
`Host` or `Origin`, ...) is one `refuse(reason, ...)` call: it counts into
`tickcast_http_refused_total{reason}` and writes one log line. A flood of
refusals of one reason writes at most one line per `every` seconds; the next
line says how many were not written, so the log stays readable under attack
and the metric keeps the exact count.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from tickcast.logs import fields

log = logging.getLogger("tickcast.http")

REASONS: dict[str, tuple[int, str]] = {
    "header_timeout": (logging.INFO, "no whole request head within --http-header-timeout"),
    "header_too_large": (logging.INFO, "a request head over the size limit"),
    "body_timeout": (logging.INFO, "no whole request body within --http-body-timeout"),
    "request_timeout": (
        logging.INFO,
        "a response not taken by the client within --http-request-timeout",
    ),
    "http_connections": (
        logging.WARNING,
        "--max-http-connections reached: the connection that waited longest for its "
        "request head was closed, or a new one refused",
    ),
    "connections": (logging.WARNING, "--max-connections reached"),
    "connections_per_host": (logging.WARNING, "--max-connections-per-host reached"),
    "dashboard_viewers": (logging.WARNING, "--max-dashboard-viewers reached"),
    "host": (logging.WARNING, "a Host that is not this server's (DNS rebinding)"),
    "origin": (logging.WARNING, "a state-changing request from another site"),
    "simple_request": (
        logging.WARNING,
        "a state-changing request a plain HTML form could have made (no JSON "
        "Content-Type, no X-Tickcast-Admin or Authorization header)",
    ),
    "admin_auth": (logging.INFO, "the admin API or feed without the admin token"),
}
"""Every reason: its log level, and what it means (docs/security.md lists them)."""


class Refusals:
    """The counts behind `tickcast_http_refused_total` and their rate-limited log."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    def refuse(self, reason: str, peer: str, detail: str) -> None:
        """Count one refusal of `reason` (a key of REASONS) and log it unless a line
        for the same reason was written less than `every` seconds ago."""
        self.counts[reason] += 1
        now = self.clock()
        last = self._logged_at.get(reason)
        if last is not None and now - last < self.every:
            self._unlogged[reason] += 1
            return
        self._logged_at[reason] = now
        unlogged = self._unlogged.pop(reason, 0)
        more = {"unlogged": unlogged, "seconds": round(now - last)} if unlogged and last else {}
        level = REASONS.get(reason, (logging.WARNING, ""))[0]
        log.log(level, "http refused %s", fields(reason=reason, peer=peer or None, detail=detail,
                                                  **more))
