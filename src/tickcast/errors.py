"""One exception tree for everything tickcast raises.

Like h11, errors are split by whose fault they are: `RemoteProtocolError` is the
peer's (it broke the protocol; the server answers with a Kick and closes),
`ConfigError` is the operator's. Every error that ends a connection knows the
`Kick` reason that goes with it.
"""

from __future__ import annotations

from tickcast.proto import pb

Reason = int  # a value of the protocol's `Reason` enum (pb.REASON_*)


class TickcastError(Exception):
    """Base class of every error tickcast raises."""


class ConfigError(TickcastError, ValueError):
    """A configuration value is invalid (a bad flag, environment variable or argument)."""


class RemoteProtocolError(TickcastError):
    """The peer broke the protocol; the connection ends with a Kick of `reason`."""

    reason: Reason = pb.REASON_PROTOCOL_ERROR

    def __init__(self, detail: str, reason: Reason | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class FrameTooLarge(RemoteProtocolError):
    """A frame's length prefix is over `max_frame`; refused before its body is buffered."""

    reason = pb.REASON_FRAME_TOO_LARGE


class ConnectionClosedError(TickcastError):
    """An operation needed an open connection, and it is closed."""


def reason_name(reason: Reason) -> str:
    """`pb.REASON_SLOW_CONSUMER` -> "SLOW_CONSUMER" (for logs and messages)."""
    try:
        return pb.Reason.Name(reason).removeprefix("REASON_")
    except ValueError:
        return f"REASON_{reason}"


# ---- client ----


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
