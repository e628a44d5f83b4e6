"""Plain-number statistics the core keeps for `/metrics`.

The hot path only does integer and float arithmetic here (no locks, no label
lookups, no prometheus-client calls); `tickcast.http.metrics` reads these at
scrape time and exports them. That keeps monitoring free when nobody scrapes.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

DURATION_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)
"""Seconds: tick cycles are tens of microseconds to a few milliseconds."""


class Histogram:
    """A fixed-bucket histogram in Prometheus' sense (a value lands in the first
    bucket whose upper bound is >= it); `counts[-1]` is the +Inf overflow."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: Sequence[float] = DURATION_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs ending with "+Inf", as Prometheus wants them."""
        out: list[tuple[str, int]] = []
        total = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            total += n
            out.append((repr(float(bound)), total))
        out.append(("+Inf", total + self.counts[-1]))
        return out


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank `q`-th percentile of already sorted values (0 for none):
    the smallest value with at least `q` % of them at or below it. Always one of
    the values, so never above the max (`statistics.quantiles` interpolates, and
    with few samples extrapolates past both ends)."""
    if not sorted_values:
        return 0.0
    k = max(0, math.ceil(q / 100 * len(sorted_values)) - 1)
    return sorted_values[k]
