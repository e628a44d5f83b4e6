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

Access: the feed names rooms (which can be private join codes) and players,
so it answers exactly whom the admin API answers (`admin.admin_guard`: the
bearer token when one is configured, else loopback peers only), under a `Host`
of this server (`crosssite.py`). The aggregate numbers are public on
`/metrics`. At most `--max-dashboard-viewers` feeds run at once (503 beyond);
a viewer that does not read is dropped after `--http-request-timeout`.

Memory: the feed keeps, besides its chart history, the previous sample's
counters of the rooms and connections that are open now; a closed room's are
dropped at the next sample, so cycling room names cannot grow it.
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
from tickcast.http.connections import gate_of

if TYPE_CHECKING:
    from tickcast.server import Server
    from tickcast.session import Session

log = logging.getLogger("tickcast.http.dashboard")

STATIC_DIR = Path(__file__).with_name("static")
HISTORY_POINTS = 300
"""Chart points kept (one per sample: 5 minutes at the default 1 s interval)."""


class _Viewer:
    """One connected dashboard: its queue of encoded events (shared by every viewer)."""

    def __init__(self) -> None:
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

    @property
    def tracked_rooms(self) -> int:
        """Rooms the feed keeps counters of (the open ones, at the last sample)."""
        return len(self._prev_rooms)

    def subscribe(self) -> _Viewer:
        viewer = _Viewer()
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
            event = _encode("sample", self.sample(time.monotonic()))
            for viewer in list(self.viewers):
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
        prev_rooms, self._prev_rooms = self._prev_rooms, {}  # closed rooms' counters go
        room_views = [self._room_view(r, elapsed, prev_rooms) for r in rooms]
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

    def _room_view(
        self, room: Any, elapsed: float, prev_rooms: dict[str, tuple[int, int]]
    ) -> dict[str, Any]:
        view = admin.room_detail(room, self.server.loop.time())
        key, before = prev_rooms.get(room.name, (0, room.inputs_sequenced))
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


def _encode(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# ---------------------------------------------------------------- handlers

FEED = web.AppKey("dashboard_feed", DashboardFeed)


async def events(request: web.Request) -> web.StreamResponse:
    """The live feed: a `hello` event (the history), then a `sample` per interval.

    Reached only through the admin check (`admin.admin_guard`)."""
    feed = request.app[FEED]
    config = request.app[keys.SERVER].config
    if len(feed.viewers) >= config.max_dashboard_viewers:
        request.app[keys.REFUSALS].refuse(
            "dashboard_viewers", request.remote or "",
            f"{len(feed.viewers)} dashboard feeds open (--max-dashboard-viewers)",
        )
        return web.json_response(
            {"error": f"at most {config.max_dashboard_viewers} dashboard viewers at once"},
            status=503,
            headers={"Retry-After": "10"},
        )
    gate = gate_of(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # no proxy buffering of the stream
        }
    )
    await response.prepare(request)
    if gate is not None:
        gate.stream_started()
    viewer = feed.subscribe()
    write_timeout = config.http_request_timeout
    try:
        hello = {
            "admin": True,  # the feed answers only admins (kept for older pages)
            "token_configured": bool(request.app[keys.ADMIN_TOKEN].value),
            "interval": feed.interval,
            "history": list(feed.history),
        }
        event: bytes | None = _encode("hello", hello)
        while event is not None:
            async with asyncio.timeout(write_timeout):
                await response.write(event)
            event = await viewer.queue.get()
    except TimeoutError:  # a viewer that does not read: its place goes to another
        request.app[keys.REFUSALS].refuse(
            "request_timeout", request.remote or "",
            f"dashboard viewer took no sample within {write_timeout:g} s",
        )
        if request.transport is not None:
            request.transport.abort()
    except (ConnectionResetError, ConnectionError):
        pass  # the viewer went away
    finally:
        feed.unsubscribe(viewer)
        if gate is not None:
            gate.stream_finished()
    return response


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-cache"})


async def dashboard_page(request: web.Request) -> web.FileResponse:
    return _page("dashboard.html")


async def demo_page(request: web.Request) -> web.FileResponse:
    return _page("demo.html")


async def favicon(request: web.Request) -> web.FileResponse:
    """Browsers ask for /favicon.ico on every page: the icon, not a 404."""
    return web.FileResponse(
        STATIC_DIR / "favicon.svg",
        headers={"Cache-Control": "max-age=86400", "Content-Type": "image/svg+xml"},
    )


def add_routes(app: web.Application) -> None:
    """Register the pages, the static files and the feed on the HTTP app."""
    feed = DashboardFeed(app[keys.SERVER], readiness=app.get(keys.READINESS))
    app[FEED] = feed
    app.on_shutdown.append(feed.close)
    app.router.add_get("/", dashboard_page)
    app.router.add_get("/demo", demo_page)
    app.router.add_get("/dashboard/events", events)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
