"""tickcast.stats: the percentile every summary line uses (issue 19: the tick
log's closing line printed a p99 above its max)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from support import test_config as config_for_tests

from tickcast.stats import Histogram, percentile
from tickcast.store.recorder import Recorder


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (50, 99, 0)
    assert (percentile([3.0], 99), percentile([1.0, 2.0], 50), percentile([1.0, 2.0], 99)) == (
        3.0, 1.0, 2.0
    )


@given(st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=300),
       st.floats(0, 100))
def test_a_percentile_is_one_of_the_values_so_never_above_the_max(
    values: list[float], q: float
) -> None:
    ordered = sorted(values)
    p = percentile(ordered, q)
    assert p in ordered and ordered[0] <= p <= ordered[-1]
    assert sum(v <= p for v in ordered) >= q / 100 * len(ordered)  # at least q % at or below


def test_the_tick_log_closing_line_never_has_a_p99_above_its_max() -> None:
    """51 samples, one slow: statistics.quantiles extrapolated p99 to 14.32 ms over a
    10 ms max. Nearest rank: p99 is the slow sample itself."""
    rec = Recorder(config_for_tests())
    rec.delays.extend([0.001] * 50 + [0.010])
    rec.stages["commit"].extend([0.002, 0.004])
    line = rec.summary()
    for name, p50, p99, top in re.findall(
        r"; ([\w -]+) p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms", line
    ):
        assert float(p50) <= float(p99) <= float(top), (name, line)
    assert "record-to-deliver delay p50 1.00 ms, p99 10.00 ms, max 10.00 ms" in line
    assert "commit p50 2.00 ms, p99 4.00 ms, max 4.00 ms" in line


def test_histogram_buckets_are_cumulative_and_end_with_inf() -> None:
    h = Histogram((0.001, 0.01))
    for v in (0.0005, 0.001, 0.005, 2.0):
        h.observe(v)
    assert h.cumulative() == [("0.001", 2), ("0.01", 3), ("+Inf", 4)]
    assert h.count == 4 and abs(h.sum - 2.0065) < 1e-12
