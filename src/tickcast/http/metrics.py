"""`/metrics`: the core's plain counters, exported at scrape time.

The relay, rooms, sessions and the server keep ints and `stats.Histogram`s
that they update anyway; nothing on the input or tick path calls
prometheus-client. `TickcastCollector.collect()` reads them when Prometheus
scrapes, so monitoring costs nothing between scrapes. Live rooms and sessions
are summed at scrape time; what has closed was added to the relay's totals
when it closed, so every `_total` only ever grows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tickcast import __version__
from tickcast.errors import reason_name
from tickcast.http.connections import HttpConnections, State
from tickcast.http.refusals import REASONS, Refusals
from tickcast.http.requests import RequestStats
from tickcast.proto import pb
from tickcast.session import SessionState
from tickcast.stats import Histogram

if TYPE_CHECKING:
    from tickcast.server import Server

QUEUE_DEPTH_BUCKETS = (0, 1024, 4096, 16384, 65536, 262144, 1048576)
"""Bytes waiting in a connection's outbound buffer (the default limit is 1 MiB)."""

TRANSPORTS = ("tcp", "ws")
STATES = (SessionState.AWAITING_HELLO.value, SessionState.JOINED.value)

HTTP_STATES = (State.WAITING, State.IDLE, State.BUSY, State.STREAM, State.PROBATION)

ExtraMetrics = Callable[[], Iterator[Metric]]
"""A hook for other parts (the tick log writer's lag, ...) to add metrics."""


def _per_transport(name: str, doc: str, counts: Counter[str]) -> CounterMetricFamily:
    """A counter by transport, with a zero for each transport not seen yet."""
    fam = CounterMetricFamily(name, doc, labels=["transport"])
    for t in sorted(set(TRANSPORTS) | set(counts)):
        fam.add_metric([t], counts[t])
    return fam


def _histogram(name: str, doc: str, h: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, buckets=h.cumulative(), sum_value=h.sum)


class TickcastCollector(Collector):
    """Reads one `Server`'s state at every scrape."""

    def __init__(self, server: Server, extra: list[ExtraMetrics] | None = None) -> None:
        self.server = server
        self.extra: list[ExtraMetrics] = extra if extra is not None else []

    def collect(self) -> Iterator[Metric]:
        server = self.server
        relay = server.relay
        info = GaugeMetricFamily("tickcast_build_info", "tickcast version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

        # ---- connections and their queues
        conns: Counter[tuple[str, str]] = Counter()
        received = Counter(relay.bytes_received_closed)
        sent = Counter(relay.bytes_sent_closed)
        frames = Counter(relay.frames_sent_closed)
        depths: list[int] = []
        for s in list(relay.sessions):
            conns[(s.transport, s.state.value)] += 1
            stats = s.outbox.statistics()
            received[s.transport] += s.bytes_received
            sent[s.transport] += stats.bytes_sent
            frames[s.transport] += stats.frames_sent
            depths.append(stats.buffered_bytes)
        g = GaugeMetricFamily(
            "tickcast_connections", "open client connections", labels=["transport", "state"]
        )
        for t in sorted(set(TRANSPORTS) | {t for t, _ in conns}):
            for st in STATES:
                g.add_metric([t, st], conns[(t, st)])
        yield g
        yield _per_transport(
            "tickcast_connections_opened", "client connections opened (admitted: a session "
            "began)", relay.connections_opened,
        )
        yield _per_transport(
            "tickcast_connections_closed", "client connections closed, for any reason",
            relay.connections_closed,
        )
        yield from self._bytes(received, sent, frames)
        yield GaugeMetricFamily(
            "tickcast_outbound_queue_max_bytes",
            "largest outbound backlog of any connection (bytes not yet taken by the kernel)",
            value=max(depths, default=0),
        )
        buckets: list[tuple[str, float]] = []
        for bound in QUEUE_DEPTH_BUCKETS:
            buckets.append((str(float(bound)), sum(1 for d in depths if d <= bound)))
        buckets.append(("+Inf", len(depths)))
        yield GaugeHistogramMetricFamily(
            "tickcast_outbound_queue_bytes",
            "outbound backlog of every connection now (bytes)",
            buckets=buckets,
            gsum_value=sum(depths),
        )

        # ---- rooms
        rooms = list(relay.rooms.values())
        yield GaugeMetricFamily("tickcast_rooms", "open rooms", value=len(rooms))
        yield CounterMetricFamily(
            "tickcast_rooms_opened", "rooms opened (by a first Hello, a restore, a takeover)",
            value=relay.rooms_opened,
        )
        yield CounterMetricFamily(
            "tickcast_rooms_closed", "rooms closed (emptied, closed by an operator, moved)",
            value=relay.rooms_closed,
        )
        yield GaugeMetricFamily(
            "tickcast_members", "room members (players, connected or within their reconnect grace)",
            value=sum(r.members for r in rooms),
        )
        yield GaugeMetricFamily(
            "tickcast_members_disconnected",
            "members without a connection (within their reconnect grace)",
            value=sum(r.disconnected for r in rooms),
        )
        yield GaugeMetricFamily(
            "tickcast_spectators", "spectators watching a room",
            value=sum(len(r.spectators) for r in rooms),
        )
        yield GaugeMetricFamily(
            "tickcast_history_bytes",
            "tick frames the rooms keep in memory for resumes (each at most --history-bytes)",
            value=sum(r.history.bytes for r in rooms),
        )
        yield CounterMetricFamily(
            "tickcast_history_let_go",
            "ticks let go of before --history-seconds because a room's history reached "
            "--history-bytes (resumes past them read the tick log, or are refused without it)",
            value=relay.history_let_go_closed + sum(r.history.let_go for r in rooms),
        )

        # ---- throughput
        yield CounterMetricFamily("tickcast_ticks", "ticks produced (all rooms)",
                                  value=relay.ticks_produced)
        yield CounterMetricFamily(
            "tickcast_inputs", "inputs sequenced into ticks",
            value=relay.inputs_of_closed_rooms + sum(r.inputs_sequenced for r in rooms),
        )
        kicks = CounterMetricFamily(
            "tickcast_kicks", "connections ended by the server with a Kick, by reason "
            "(UNSPECIFIED: an operator's kick or an internal error; a Leave is not a kick)",
            labels=["reason"],
        )
        for reason in sorted(set(pb.Reason.values()) | set(relay.kicks)):
            kicks.add_metric([reason_name(reason)], relay.kicks[reason])
        yield kicks
        yield CounterMetricFamily(
            "tickcast_leaves", "connections the client ended with Leave", value=relay.leaves
        )
        yield CounterMetricFamily(
            "tickcast_ticks_late", "times the ticker fell too far behind and reset its phase",
            value=server.ticks_late,
        )
        yield CounterMetricFamily(
            "tickcast_wakeups", "timer wakeups of the server (ticker and housekeeping)",
            value=server.wakeups,
        )

        # ---- timing
        yield _histogram(
            "tickcast_tick_duration_seconds",
            "one tick cycle: sequencing, encoding and fan-out of its rooms' ticks (with a "
            "tick log, the fan-out after the commit is included, the wait for the disk not)",
            server.tick_seconds,
        )
        yield _histogram(
            "tickcast_fanout_duration_seconds",
            "fan-out of one tick cycle's frames to every connection",
            relay.fanout_seconds,
        )
        for extra in self.extra:
            yield from extra()

    @staticmethod
    def _bytes(
        received: Counter[str], sent: Counter[str], frames: Counter[str]
    ) -> Iterator[Metric]:
        for name, doc, counts in (
            ("tickcast_received_bytes", "protocol bytes received from clients", received),
            ("tickcast_sent_bytes", "protocol bytes sent to clients (TCP frames, "
             "length prefix included)", sent),
            ("tickcast_sent_frames", "protocol messages sent to clients", frames),
        ):
            yield _per_transport(name, doc, counts)


def http_metrics(
    conns: HttpConnections, refusals: Refusals, requests: RequestStats
) -> ExtraMetrics:
    """The HTTP side's own metrics: its requests, what it refused, its connections."""

    def collect() -> Iterator[Metric]:
        counted = CounterMetricFamily(
            "tickcast_http_requests",
            "HTTP requests answered, by route template, method and status (the WebSocket "
            "and the dashboard feed when they end)",
            labels=["route", "method", "status"],
        )
        for (route, method, status), n in sorted(requests.counts.items()):
            counted.add_metric([route, method, str(status)], n)
        yield counted
        timed = HistogramMetricFamily(
            "tickcast_http_request_duration_seconds",
            "time from a request's head to its response's end, by route template (not the "
            "WebSocket and the dashboard feed)",
            labels=["route"],
        )
        for route, h in sorted(requests.durations.items()):
            timed.add_metric([route], h.cumulative(), h.sum)
        yield timed
        refused = CounterMetricFamily(
            "tickcast_http_refused",
            "HTTP requests and connections refused, by reason (docs/security.md lists them)",
            labels=["reason"],
        )
        for reason in sorted(set(REASONS) | set(refusals.counts)):
            refused.add_metric([reason], refusals.counts[reason])
        yield refused
        g = GaugeMetricFamily(
            "tickcast_http_connections",
            "plain HTTP connections by state (WebSocket ones are in tickcast_connections)",
            labels=["state"],
        )
        for state in HTTP_STATES:
            g.add_metric([state.value], conns.by_state[state])
        yield g
        yield GaugeMetricFamily(
            "tickcast_http_connections_limit",
            "plain HTTP connections allowed at once (--max-http-connections, at most a "
            "quarter of the file descriptor limit)",
            value=conns.limit,
        )

    return collect


def make_registry(server: Server, extra: list[ExtraMetrics] | None = None) -> CollectorRegistry:
    """A registry of its own per server (tests run several servers in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TickcastCollector(server, extra))
    ProcessCollector(registry=registry)
    return registry
