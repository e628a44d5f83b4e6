"""The browser side of the HTTP server: the dashboard at `/`, the demo game at
`/demo`, the JS client bundle under `/static/`, and the dashboard's live feed
at `/dashboard/events` (server-sent events).

Everything served is a static file from `static/` (no build step at run time;
the JS client bundle is built by clients/js and committed). The feed is the
only moving part, and it costs nothing when nobody looks: `DashboardFeed`
samples the server once per `interval` only while at least one viewer is
connected, and its sampling task ends with the last viewer. A sample reads the
same plain counters that `/metrics` reads (nothing on the input or tick path
changes for the dashboard).

Access: the feed's aggregate numbers are public like `/metrics`; player ids
and per-connection details (and the admin buttons) are sent only to a viewer
that passes the admin API's check (`admin.admin_access`: the bearer token, or
loopback when no token is configured).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tickcast import __version__
from tickcast.errors import reason_name
from tickcast.http import admin
from tickcast.http import appkeys as keys

if TYPE_CHECKING:
    from tickcast.server import Server
    from tickcast.session import Session

log = logging.getLogger("tickcast.http.dashboard")

STATIC_DIR = Path(__file__).with_name("static")
HISTORY_POINTS = 300
"""Chart points kept (one per sample: 5 minutes at the default 1 s interval)."""


class _Viewer:
    """One connected dashboard: its queue of encoded events and what it may see."""

    def __init__(self, admin_view: bool) -> None:
        self.admin_view = admin_view
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)


class DashboardFeed:
    """Samples a server while someone watches; fans the samples out to viewers.

    The chart history covers the time since the first of the current viewers
    connected (at most HISTORY_POINTS samples): nothing is sampled before.
    """

    def __init__(
        self,
        server: Server,
        interval: float = 1.0,
        readiness: Callable[[], list[str]] | None = None,
    ) -> None:
        self.server = server
        self.interval = interval
        self.readiness = readiness  # what /readyz reports: shown as the server's health
        self.viewers: set[_Viewer] = set()
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_POINTS)
        self.samples = 0
        """Samples taken since the server started (a test shows it stays 0 unwatched)."""
        self._task: asyncio.Task[None] | None = None
        self._prev_time = 0.0
        self._prev_totals: dict[str, float] = {}
        self._prev_rooms: dict[str, tuple[int, int]] = {}  # name -> (id(room), inputs)
        self._prev_session_bytes: dict[Session, int] = {}

    # ------------------------------------------------------------ viewers

    def subscribe(self, admin_view: bool) -> _Viewer:
        viewer = _Viewer(admin_view)
        self.viewers.add(viewer)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return viewer

    def unsubscribe(self, viewer: _Viewer) -> None:
        self.viewers.discard(viewer)
        if not self.viewers and self._task is not None:
            self._task.cancel()
            self._task = None
            self._reset()

    async def close(self, app: web.Application | None = None) -> None:
        """End every stream (an aiohttp on_shutdown hook: open streams would hold
        the listener's cleanup for its whole shutdown timeout)."""
        for viewer in list(self.viewers):
            try:
                viewer.queue.put_nowait(None)
            except asyncio.QueueFull:
                viewer.queue.get_nowait()
                viewer.queue.put_nowait(None)

    def _reset(self) -> None:
        self.history.clear()
        self._prev_time = 0.0
        self._prev_totals = {}
        self._prev_rooms = {}
        self._prev_session_bytes = {}

    async def _run(self) -> None:
        while self.viewers:
            snapshot = self.sample(time.monotonic())
            public = _encode("sample", _public_view(snapshot))
            private = _encode("sample", snapshot)
            for viewer in list(self.viewers):
                event = private if viewer.admin_view else public
                if viewer.queue.full():  # a viewer that does not read loses old samples
                    viewer.queue.get_nowait()
                viewer.queue.put_nowait(event)
            await asyncio.sleep(self.interval)

    # ------------------------------------------------------------ sampling

    def sample(self, now: float) -> dict[str, Any]:
        """One snapshot of the server, with rates since the previous sample."""
        self.samples += 1
        server = self.server
        relay = server.relay
        elapsed = now - self._prev_time if self._prev_time else 0.0
        sessions = list(relay.sessions)
        by_transport: dict[str, int] = {}
        sent = sum(relay.bytes_sent_closed.values())
        received = sum(relay.bytes_received_closed.values())
        for s in sessions:
            by_transport[s.transport] = by_transport.get(s.transport, 0) + 1
            sent += s.outbox.statistics().bytes_sent
            received += s.bytes_received
        rooms = list(relay.rooms.values())
        totals = {
            "inputs": relay.inputs_of_closed_rooms + sum(r.inputs_sequenced for r in rooms),
            "sent": sent,
            "received": received,
            "tick_sum": server.tick_seconds.sum,
            "tick_count": server.tick_seconds.count,
        }
        prev = self._prev_totals

        def rate(key: str) -> float:
            if not elapsed or key not in prev:
                return 0.0
            return max(0.0, (totals[key] - prev[key]) / elapsed)

        ticks = totals["tick_count"] - prev.get("tick_count", totals["tick_count"])
        tick_ms = (totals["tick_sum"] - prev.get("tick_sum", 0.0)) / ticks * 1e3 if ticks else 0.0
        point = {
            "t": round(time.time(), 3),
            "connections": len(sessions),
            "inputs_per_s": round(rate("inputs"), 1),
            "bytes_out_per_s": round(rate("sent")),
            "bytes_in_per_s": round(rate("received")),
            "tick_ms": round(tick_ms, 4),
        }
        self.history.append(point)
        problems = self.readiness() if self.readiness is not None else []
        room_views = [self._room_view(r, elapsed, now) for r in rooms]
        room_views.sort(key=lambda r: r["name"])
        live = set(sessions)
        self._prev_session_bytes = {
            s: b for s, b in self._prev_session_bytes.items() if s in live
        }
        self._prev_totals = totals
        self._prev_time = now
        return {
            "point": point,
            "health": {
                "status": "not ready" if problems else "ok",
                "problems": problems,
                "listening": server.listening,
                "version": __version__,
                "server_id": server.config.server_id,
                "tcp": server.address,
            },
            "connections_by_transport": by_transport,
            "rooms_count": len(rooms),
            "members": sum(r.members for r in rooms),
            "spectators": sum(len(r.spectators) for r in rooms),
            "kicks": {reason_name(k): n for k, n in sorted(relay.kicks.items()) if n},
            "rooms": room_views,
        }

    def _room_view(self, room: Any, elapsed: float, now: float) -> dict[str, Any]:
        view = admin.room_detail(room, self.server.loop.time())
        key, before = self._prev_rooms.get(room.name, (0, room.inputs_sequenced))
        if key != id(room):
            before = room.inputs_sequenced
        self._prev_rooms[room.name] = (id(room), room.inputs_sequenced)
        bytes_out = 0
        for s in room.sessions():
            b = s.outbox.statistics().bytes_sent
            bytes_out += b - self._prev_session_bytes.get(s, b)
            self._prev_session_bytes[s] = b
        inputs = room.inputs_sequenced - before
        view["inputs_per_s"] = round(inputs / elapsed, 1) if elapsed else 0.0
        view["bytes_out_per_s"] = round(bytes_out / elapsed) if elapsed else 0
        return view


def _public_view(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The snapshot without player ids and per-connection details."""
    rooms = []
    for r in snapshot["rooms"]:
        r = dict(r)
        r.pop("players", None)
        r.pop("spectator_connections", None)
        rooms.append(r)
    return {**snapshot, "rooms": rooms}


def _encode(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# ---------------------------------------------------------------- handlers

FEED = web.AppKey("dashboard_feed", DashboardFeed)


async def events(request: web.Request) -> web.StreamResponse:
    """The live feed: a `hello` event (history and access), then a `sample` per interval."""
    feed = request.app[FEED]
    admin_view = (
        admin.admin_access(
            request.remote, request.headers.get("Authorization"), request.app[keys.ADMIN_TOKEN]
        )
        == 200
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # no proxy buffering of the stream
        }
    )
    await response.prepare(request)
    viewer = feed.subscribe(admin_view)
    try:
        hello = {
            "admin": admin_view,
            "token_configured": bool(request.app[keys.ADMIN_TOKEN]),
            "interval": feed.interval,
            "history": list(feed.history),
        }
        await response.write(_encode("hello", hello))
        while True:
            event = await viewer.queue.get()
            if event is None:
                break
            await response.write(event)
    except (ConnectionResetError, ConnectionError):
        pass  # the viewer went away
    finally:
        feed.unsubscribe(viewer)
    return response


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-cache"})


async def dashboard_page(request: web.Request) -> web.FileResponse:
    return _page("dashboard.html")


async def demo_page(request: web.Request) -> web.FileResponse:
    return _page("demo.html")


def add_routes(app: web.Application) -> None:
    """Register the pages, the static files and the feed on the HTTP app."""
    feed = DashboardFeed(app[keys.SERVER], readiness=app.get(keys.READINESS))
    app[FEED] = feed
    app.on_shutdown.append(feed.close)
    app.router.add_get("/", dashboard_page)
    app.router.add_get("/demo", demo_page)
    app.router.add_get("/dashboard/events", events)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
