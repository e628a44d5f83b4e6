"""The sans-I/O limiters with a fake clock: token buckets, guards, admission, catch-up pacing."""

from __future__ import annotations

import pytest

from tickcast.config import Config
from tickcast.errors import ConfigError, RemoteProtocolError
from tickcast.outbox import Outbox
from tickcast.proto import pb
from tickcast.security import (
    Admission,
    CatchupBudget,
    InputGuard,
    RateLimited,
    ReceiveGuard,
    TokenBucket,
    check_name,
    is_loopback,
)


def test_token_bucket_bursts_then_refills_at_its_rate() -> None:
    b = TokenBucket(rate=10, capacity=5, now=0.0)
    assert all(b.take(1, 0.0) for _ in range(5))
    assert not b.take(1, 0.0)
    assert b.take(1, 0.1)  # 0.1 s at 10/s = one token
    assert not b.take(1, 0.1)
    assert b.take(5, 100.0) and not b.take(1, 100.0)  # never more than the capacity


def test_input_guard_rate_and_per_tick_bytes() -> None:
    g = InputGuard(Config(port=0, input_rate=10, input_burst=3, input_bytes_per_tick=100), 0.0)
    for _ in range(3):
        g.admit(10, 0.0, tick=1)
    with pytest.raises(RateLimited, match="inputs per second") as info:
        g.admit(10, 0.0, tick=1)
    assert info.value.reason == pb.REASON_RATE_LIMITED
    g = InputGuard(Config(port=0, input_rate=0, input_bytes_per_tick=100), 0.0)
    g.admit(60, 0.0, tick=1)
    g.admit(60, 0.0, tick=2)  # a new tick, a new budget
    with pytest.raises(RateLimited, match="100 payload bytes"):
        g.admit(41, 0.0, tick=2)


def test_receive_guard_allows_two_max_frames_after_a_pause() -> None:
    g = ReceiveGuard(Config(port=0, recv_bytes_per_second=1000, max_frame=4096), 0.0)
    g.admit(2 * 4101, 0.0)
    with pytest.raises(RateLimited, match="bytes per second"):
        g.admit(1, 0.0)
    g.admit(1000, 1.0)


def test_admission_counts_total_and_per_host() -> None:
    a = Admission(Config(port=0, max_connections=3, max_connections_per_host=2))
    assert a.admit("10.0.0.1") is None and a.admit("10.0.0.1") is None
    assert a.admit("10.0.0.1") is not None  # per host
    assert a.admit("10.0.0.2") is None
    assert a.admit("10.0.0.3") is not None  # in total
    a.release("10.0.0.1")
    assert a.admit("10.0.0.3") is None
    assert a.refused == 2 and a.total == 3
    for host in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        a.release(host)
    assert a.total == 0 and not a.per_host  # nothing kept for gone addresses


def test_admission_groups_ipv6_by_64_and_exempts_loopback() -> None:
    a = Admission(Config(port=0, max_connections_per_host=2))
    assert a.admit("2001:db8:1:2::1") is None and a.admit("2001:db8:1:2::ffff") is None
    assert a.admit("2001:db8:1:2:aaaa::1") is not None  # same /64
    assert a.admit("2001:db8:1:3::1") is None  # another /64
    assert a.admit("::ffff:10.0.0.9") is None and a.admit("10.0.0.9") is None
    assert a.admit("10.0.0.9") is not None  # mapped and plain IPv4 are one address
    assert all(a.admit("127.0.0.1") is None for _ in range(10))  # loopback: total only
    a.exempt_loopback = False
    assert a.admit("::1") is None and a.admit("::1") is None and a.admit("::1") is not None


class Source:
    """A TickSource of `n` frames of `size` bytes."""

    def __init__(self, n: int, size: int) -> None:
        self.n, self.size = n, size

    def first_kept(self) -> int:
        return 1

    def last_sent(self) -> int:
        return self.n

    def frame(self, number: int) -> bytes:
        return bytes(self.size)


class Sink:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None: ...

    def abort(self) -> None: ...


def test_catchup_budget_is_shared_per_cycle() -> None:
    budget = CatchupBudget(10_000)
    sinks = [Sink() for _ in range(5)]
    outboxes = [Outbox(s, 1 << 20, 1000) for s in sinks]
    for ob in outboxes:
        ob.catchup_budget = budget
        ob.start_catchup(Source(100, 1000), 1)  # 100 kB each: 500 kB asked for
    assert sum(s.written for s in sinks) <= 10_000 + 1000  # one frame may overshoot
    cycles = 1
    while any(ob.catching_up for ob in outboxes):
        budget.refill()
        for ob in outboxes:
            ob.pump()
        cycles += 1
        assert sum(s.written for s in sinks) <= cycles * 11_000
    assert all(s.written == 100_000 for s in sinks)
    assert cycles >= 50


def test_names_and_loopback() -> None:
    check_name("player_id", "Zoë the 2nd")
    for bad in ("tab\there", "nl\n", "\x1b[2J", "zero\u200bwidth", " lead", "trail "):
        with pytest.raises(RemoteProtocolError):
            check_name("player_id", bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("10.1.1.1")


def test_limits_are_validated() -> None:
    with pytest.raises(ConfigError, match="--input-bytes-per-tick"):
        Config(port=0, input_bytes_per_tick=10)
    with pytest.raises(ConfigError, match="--max-rooms"):
        Config(port=0, max_rooms=0)
