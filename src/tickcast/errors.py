"""One exception tree for everything tickcast raises.

Like h11, errors are split by whose fault they are:

    TickcastError
    +-- UsageError            local misuse: the calling code used an API wrongly
    +-- ConfigError           the operator's: a bad flag, environment variable or argument
    +-- ListenError           (also an OSError) a listener cannot bind its address
    +-- StoreError            the tick log cannot be used (data dir, disk, database)
    +-- KickError             ends one client connection with Kick{reason, detail}
    |   +-- RemoteProtocolError   the peer broke the protocol
    |   |   +-- FrameTooLarge
    |   |   +-- RateLimited
    |   |   +-- TokenRejected     the Hello's token did not verify
    |   +-- JoinRefused           the room will not admit this Hello (full, no resume, ...)
    |   +-- SlowConsumer          the peer fell behind its outbound budget (with the counters)
    +-- ConnectionClosedError  (SDK) an operation needed an open connection
    +-- Kicked                 (SDK) the server ended the client's connection
    |   +-- AuthFailed
    |   +-- ResumeUnavailable
    +-- TickGap                (SDK) a tick number was skipped unexpectedly

Every server-side error that ends a connection is a `KickError` and knows the
`Kick` reason that goes with it: the session catches them in one place and
turns them into that Kick, so an error ends that one connection only.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from tickcast.proto import pb

if TYPE_CHECKING:
    from tickcast.outbox import OutboxStatistics

Reason = int  # a value of the protocol's `Reason` enum (pb.REASON_*)


class TickcastError(Exception):
    """Base class of every error tickcast raises."""


class UsageError(TickcastError, RuntimeError):
    """Local misuse: an API was called when it may not be (a server started twice,
    a spectator sending inputs, a port asked of a server that is not listening).
    The fault of the code that called it, never of a peer (h11's LocalProtocolError)."""


class ConfigError(TickcastError, ValueError):
    """A configuration value is invalid (a bad flag, environment variable or argument);
    `field` is the `Config` field it is about, when it is about one."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class ListenError(TickcastError, OSError):
    """A listener cannot bind its address (in use, not this machine's, no permission).
    The message names the address and the flags that set it; `errno` is the system's.
    The operator's setting, so `tickcast serve` exits 2 with it, as for a bad flag."""

    def __str__(self) -> str:
        return str(self.strerror)

    @classmethod
    def from_os_error(
        cls, exc: OSError, scheme: str, host: str, port: int, host_flag: str, port_flag: str
    ) -> ListenError:
        """`exc` of binding `host`:`port`, said with the address and what to do."""
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        code = exc.errno or 0
        reason = os.strerror(code).lower() if code else str(exc)
        hint = {
            errno.EADDRINUSE: f"another process has it: stop it, or choose another {port_flag}",
            errno.EADDRNOTAVAIL: f"not an address of this machine: check {host_flag}",
            errno.EACCES: f"a port below 1024 needs privileges: choose another {port_flag}",
        }.get(code, f"check {host_flag} and {port_flag}")
        return cls(code, f"cannot listen on {scheme}://{where}: {reason} ({hint})")


class StoreError(TickcastError):
    """The tick log cannot be used (bad data dir, corrupt database, full disk)."""


# ---- server side: errors that end one connection ----


class KickError(TickcastError):
    """Ends one client connection with `Kick{reason, detail}`; the rest go on."""

    reason: Reason = pb.REASON_UNSPECIFIED

    def __init__(self, detail: str, reason: Reason | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class RemoteProtocolError(KickError):
    """The peer broke the protocol; the connection ends with a Kick of `reason`."""

    reason = pb.REASON_PROTOCOL_ERROR


class FrameTooLarge(RemoteProtocolError):
    """A frame's length prefix is over `max_frame`; refused before its body is buffered."""

    reason = pb.REASON_FRAME_TOO_LARGE


class RateLimited(RemoteProtocolError):
    """A connection sent more than its budget allows; it is kicked with RATE_LIMITED."""

    reason = pb.REASON_RATE_LIMITED


class TokenRejected(RemoteProtocolError):
    """A Hello's token did not pass; the detail says which check, never the token."""

    reason = pb.REASON_AUTH_FAILED


class JoinRefused(KickError):
    """A Hello the room will not accept (ROOM_FULL, RESUME_UNAVAILABLE, ROOM_CLOSED)."""


class SlowConsumer(KickError):
    """A connection fell behind: over its outbound budget, or the ticks its catch-up
    still needs have left the history. Like nats' SlowConsumer it carries the
    counters (`statistics`), so a log line can say how far behind it was."""

    reason = pb.REASON_SLOW_CONSUMER

    def __init__(self, statistics: OutboxStatistics, *, catching_up: bool) -> None:
        super().__init__(
            "fell behind the kept history while catching up"
            if catching_up
            else "outbound queue over its limit"
        )
        self.statistics = statistics
        self.catching_up = catching_up


def reason_name(reason: Reason) -> str:
    """`pb.REASON_SLOW_CONSUMER` -> "SLOW_CONSUMER" (for logs and messages)."""
    try:
        return pb.Reason.Name(reason).removeprefix("REASON_")
    except ValueError:
        return f"REASON_{reason}"


# ---- client (SDK) side ----


class ConnectionClosedError(TickcastError):
    """An operation needed an open connection, and it is closed."""


class Kicked(TickcastError):
    """The server ended the client's connection with `Kick{reason, detail}`, and
    resuming makes no sense (see `tickcast.client`): the tick stream ends with this."""

    def __init__(self, reason: Reason, detail: str = "", redirect: str = "") -> None:
        super().__init__(
            f"kicked: {reason_name(reason)}: {detail}"
            if detail
            else f"kicked: {reason_name(reason)}"
        )
        self.reason = reason
        self.detail = detail
        self.redirect = redirect

    @property
    def reason_name(self) -> str:
        """The reason without its prefix, e.g. "ROOM_FULL"."""
        return reason_name(self.reason)


class AuthFailed(Kicked):
    """The server refused the token (`Kick{AUTH_FAILED}`); the detail says which check failed."""


class ResumeUnavailable(Kicked):
    """The ticks after the client's last one are no longer kept, or its membership
    ran out (`Kick{RESUME_UNAVAILABLE}`): the stream cannot go on without a gap."""


class TickGap(TickcastError):
    """The server skipped a tick number while the client does not expect skipped
    empty ticks: the stream cannot go on without silently losing inputs."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"tick stream gap: expected tick {expected}, got {got}")
        self.expected = expected
        self.got = got
