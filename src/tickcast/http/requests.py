"""HTTP request metrics: requests by route template, method and status, and how
long they took (`tickcast_http_requests_total`, `..._request_duration_seconds`).

Labels stay bounded whatever clients send: the route is the template a request
matched (`/api/rooms/{room}`, never the room's name), or `unmatched`; the
method is one of the standard ones or `other`; the status is the one we
answered. The WebSocket and the dashboard feed are counted when they end, and
left out of the durations (those are connection lifetimes, not requests).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from tickcast.stats import Histogram

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
UNMATCHED = "unmatched"
STREAMS = frozenset({"/ws", "/dashboard/events"})
"""Routes whose requests last as long as a connection (not timed)."""
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0)


class RequestStats:
    """Plain counters the middleware keeps; `/metrics` reads them at scrape time."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, int]] = Counter()  # (route, method, status)
        self.durations: dict[str, Histogram] = {}  # by route

    def observe(self, route: str, method: str, status: int, seconds: float | None) -> None:
        self.counts[(route, method, status)] += 1
        if seconds is not None:
            h = self.durations.get(route)
            if h is None:
                h = self.durations[route] = Histogram(DURATION_BUCKETS)
            h.observe(seconds)


def route_of(request: web.Request) -> str:
    """The template of the route `request` matched, or `unmatched`."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def request_metrics(stats: RequestStats) -> Middleware:
    """Count every request that reaches the handlers (and those our middlewares
    answer: a cross-site refusal, a missing admin token)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = route_of(request)
            method = request.method if request.method in METHODS else "other"
            seconds = None if route in STREAMS else time.perf_counter() - start
            stats.observe(route, method, status, seconds)

    return middleware
