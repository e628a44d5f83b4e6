"""Sans-I/O abuse limits: token buckets, per-input guards, admission and catch-up pacing.

Everything here takes sizes and times as arguments and keeps only counters, so
the relay's hot paths pay one method call per input or per read, and tests can
drive every limit with a fake clock. Which limit answers with which `Kick`
reason, and why each default is what it is, is written down in
docs/security.md.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

from tickcast.config import Config
from tickcast.errors import RateLimited, RemoteProtocolError, reason_name
from tickcast.proto import pb
from tickcast.wire import kick_frame


class TokenBucket:
    """A classic token bucket: `rate` tokens per second, at most `capacity` saved up.

    Refilled lazily on `take`, from the time passed in: no timer per bucket.
    """

    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, amount: float, now: float) -> bool:
        """Spend `amount` tokens if there are enough; False (nothing spent) if not."""
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.stamp = now
        if tokens < amount:
            self.tokens = tokens
            return False
        self.tokens = tokens - amount
        return True


class InputGuard:
    """Per-player input limits, checked at the start of `Room.submit`.

    Two rules: the inputs-per-second token bucket (with a burst), and the
    per-tick byte budget, which caps what one player's inputs can add to one
    tick and so to every member's download (no amplification). Time is the
    room's clock (the time of its last tick), so the bucket refills once per
    tick: inputs arriving between two ticks draw on the burst.
    """

    __slots__ = ("rate", "burst", "tokens", "stamp", "tick", "tick_bytes", "tick_budget")

    def __init__(self, config: Config, now: float) -> None:
        self.rate = config.input_rate  # 0 = no rate limit
        self.burst = float(config.input_burst)
        self.tokens = self.burst
        self.stamp = now
        self.tick = 0
        self.tick_bytes = 0
        self.tick_budget = config.input_bytes_per_tick

    def configure(self, config: Config) -> None:
        """New limits (a reload) for a player already in a room; the tokens it has
        saved up stay, up to the new burst."""
        self.rate = config.input_rate
        self.burst = float(config.input_burst)
        self.tokens = min(self.tokens, self.burst)
        self.tick_budget = config.input_bytes_per_tick

    def admit(self, size: int, now: float, tick: int) -> None:
        """Count one input of `size` payload bytes into open tick `tick`; raise RateLimited.

        The token bucket is inlined (not a TokenBucket) because this runs once
        per input on the relay's hot path.
        """
        if self.tick != tick:  # once per tick: refill, and a fresh byte budget
            self.tick = tick
            self.tick_bytes = 0
            if self.rate:
                tokens = self.tokens + (now - self.stamp) * self.rate
                self.tokens = tokens if tokens < self.burst else self.burst
                self.stamp = now
        if self.rate:
            if self.tokens < 1.0:
                raise RateLimited(f"more than {self.rate:g} inputs per second")
            self.tokens -= 1.0
        self.tick_bytes += size
        if self.tick_bytes > self.tick_budget:
            raise RateLimited(f"inputs over {self.tick_budget} payload bytes in one tick")


class ReceiveGuard:
    """Bytes per second one connection may send (every byte, before framing).

    The bucket holds one second of traffic, and at least two maximum frames,
    so a client can always send a legal frame after a pause.
    """

    __slots__ = ("bucket",)

    def __init__(self, config: Config, now: float) -> None:
        rate = float(config.recv_bytes_per_second)
        self.bucket = TokenBucket(rate, max(rate, 2.0 * (config.max_frame + 5)), now)

    def admit(self, size: int, now: float) -> None:
        if not self.bucket.take(size, now):
            raise RateLimited(f"more than {self.bucket.rate:g} bytes per second")


def receive_guard(config: Config, now: float) -> ReceiveGuard | None:
    """A connection's ReceiveGuard, or None when the limit is off."""
    return ReceiveGuard(config, now) if config.recv_bytes_per_second > 0 else None


class Admission:
    """Connections in total and per source address, counted before anything is allocated.

    The transport asks `admit(host)` in `connection_made`; a refusal is a
    ready-made Kick frame to write before closing (no Session, no outbox, no
    timer is created for it). Every admitted connection must be `release`d.

    Per-address counting groups IPv6 peers by their /64 (one subscriber's
    prefix, which an attacker can fill with addresses at will) and reads
    IPv4-mapped IPv6 addresses as IPv4. Loopback peers are exempt from the
    per-address limit (not from the total): they are this machine, a reverse
    proxy or TLS terminator relaying many players, or local tools and load
    generators. Set `exempt_loopback = False` to count them too.
    """

    __slots__ = (
        "max_total",
        "max_per_host",
        "exempt_loopback",
        "total",
        "per_host",
        "refused",
        "_full",
        "_busy",
    )

    def __init__(self, config: Config) -> None:
        self.max_total = config.max_connections
        self.max_per_host = config.max_connections_per_host
        self.exempt_loopback = True
        self.total = 0
        self.per_host: Counter[str] = Counter()
        self.refused = 0
        self._full = kick_frame(pb.REASON_RATE_LIMITED, "the server is at its connection limit")
        self._busy = kick_frame(
            pb.REASON_RATE_LIMITED, "too many connections from this address"
        )

    def configure(self, config: Config) -> None:
        """New limits (a reload): open connections stay, new ones are counted against
        them (every address is counted, limit or not, so a limit set by a reload
        counts the connections already open)."""
        self.max_total = config.max_connections
        self.max_per_host = config.max_connections_per_host

    def _key(self, host: str) -> str | None:
        """The per-address counter of `host` (None: not counted per address)."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host  # not an IP address (a Unix socket path, a test's name)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback and self.exempt_loopback:
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
        return str(ip)

    def admit(self, host: str) -> bytes | None:
        """None if the connection may go on; else the Kick frame to send before closing."""
        if self.max_total and self.total >= self.max_total:
            self.refused += 1
            return self._full
        key = self._key(host)
        if key is not None:
            if self.max_per_host and self.per_host[key] >= self.max_per_host:
                self.refused += 1
                return self._busy
            self.per_host[key] += 1
        self.total += 1
        return None

    def release(self, host: str) -> None:
        self.total -= 1
        key = self._key(host)
        if key is None:
            return
        left = self.per_host[key] - 1
        if left > 0:
            self.per_host[key] = left
        else:
            del self.per_host[key]


class CatchupBudget:
    """Bytes of catch-up (resume, full_history) all connections together may write
    per tick cycle, so a storm of resumes cannot starve live rooms of the loop.

    The relay refills it at every tick cycle (and at housekeeping, for rooms
    that no longer tick); an outbox pumping catch-up spends from it and stops
    when it is empty, to go on at the next cycle.
    """

    __slots__ = ("per_cycle", "remaining")

    def __init__(self, per_cycle: int) -> None:
        self.per_cycle = per_cycle
        self.remaining = per_cycle

    def refill(self) -> None:
        self.remaining = self.per_cycle


def is_loopback(host: str) -> bool:
    """True for a listen address only this machine can reach (open mode is allowed there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_name(what: str, name: str) -> None:
    """Player ids and room names: printable text only (see docs/security.md).

    `str.isprintable` refuses control, format, surrogate, private-use and
    unassigned characters and every separator except the ASCII space, so a
    name cannot forge log lines, hide behind invisible characters or carry
    terminal escapes. Leading or trailing spaces are refused too, so two
    names never differ only by invisible padding.
    """
    if not name.isprintable() or name != name.strip():
        raise RemoteProtocolError(
            f"{what} must be printable text without control characters or outer spaces"
        )


__all__ = [
    "Admission",
    "CatchupBudget",
    "InputGuard",
    "RateLimited",
    "ReceiveGuard",
    "TokenBucket",
    "check_name",
    "is_loopback",
    "reason_name",
    "receive_guard",
]
