"""The HTTP side of a tickcast server: one aiohttp listener on the server's loop.

`HttpService` is a `server.Service`: the server starts it after the TCP
listener and closes it with itself. It serves

- `/ws`: the WebSocket transport (`websocket.py`), a full peer of TCP;
- `/metrics`: Prometheus text format (`metrics.py`);
- `/healthz` (the process is alive) and `/readyz` (the TCP listener accepts
  and every readiness check passes: the tick log writer adds one);
- `/api/...`: the admin API (`admin.py`);
- `/`, `/demo`, `/static/`, `/dashboard/events`: the dashboard (`dashboard.py`).

Every connection passes an `HttpGate` first (`connections.py`: counted in the
connection limits, request heads and bodies timed), and every request the
connection middleware, then the Host and cross-site checks (`crosssite.py`),
then the admin token check (`admin.py`). What they refuse is counted in
`tickcast_http_refused_total{reason}` and logged (`refusals.py`).

Other services of the same server join in without knowing this one: a
service with a `readiness_problem() -> str | None` method is asked by every
`/readyz`, and one with a `metrics() -> Iterator[Metric]` method (e.g. the
tick log writer's lag) is collected by every `/metrics` scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from tickcast.errors import ListenError
from tickcast.http import admin, dashboard
from tickcast.http import appkeys as keys
from tickcast.http.connections import GatedSite, HttpConnections, connection_middleware
from tickcast.http.crosssite import HostRule, crosssite_guard
from tickcast.http.metrics import ExtraMetrics, http_metrics, make_registry
from tickcast.http.refusals import Refusals
from tickcast.http.requests import RequestStats, request_metrics
from tickcast.http.websocket import parse_origins, websocket_handler
from tickcast.logs import fields

if TYPE_CHECKING:
    from tickcast.config import Config
    from tickcast.reload import Change, Reloaded
    from tickcast.server import Server

log = logging.getLogger("tickcast.http")

ReadinessCheck = Callable[[], str | None]
"""Returns None when ready, else what is wrong (shown by /readyz)."""


class HttpService:
    """The HTTP listener. `extra_metrics` and `readiness_checks` are hooks for
    other services (the tick log: writer lag, log writable)."""

    def __init__(
        self,
        extra_metrics: list[ExtraMetrics] | None = None,
        readiness_checks: list[ReadinessCheck] | None = None,
    ) -> None:
        self.extra_metrics: list[ExtraMetrics] = list(extra_metrics or [])
        self.readiness_checks: list[ReadinessCheck] = list(readiness_checks or [])
        self.server: Server | None = None
        self.reloader: Callable[[], Reloaded] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def address(self) -> str:
        assert self.server is not None, "not started"
        host = self.server.config.http_host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    async def start(self, server: Server) -> None:
        self.server = server
        cfg = server.config
        self.refusals = refusals = Refusals()
        self.connections = conns = HttpConnections(cfg, server.admission, refusals)
        self.requests = requests = RequestStats()
        app = web.Application(
            middlewares=[
                connection_middleware(conns),
                request_metrics(requests),
                crosssite_guard(HostRule.from_config(cfg), refusals),
                admin.admin_guard,
            ],
            client_max_size=64 * 1024,
        )
        app[keys.SERVER] = server
        app[keys.REFUSALS] = refusals
        app[keys.CONNECTIONS] = conns
        app[keys.WS_ORIGINS] = parse_origins(cfg.ws_allowed_origins)
        self.admin_token = keys.AdminToken(admin.load_admin_token(cfg))
        app[keys.ADMIN_TOKEN] = self.admin_token
        app[keys.RELOAD] = self.reload
        app[keys.STARTED] = time.monotonic()
        address: list[str] = []
        app[keys.HTTP_ADDRESS] = address
        app[keys.READINESS] = self.readiness_problems
        for service in server.services:
            if service is self:
                continue
            check = getattr(service, "readiness_problem", None)
            if callable(check):
                self.readiness_checks.append(check)
            metrics = getattr(service, "metrics", None)
            if callable(metrics):
                self.extra_metrics.append(metrics)
        self.extra_metrics.append(http_metrics(conns, refusals, requests))
        self.registry = make_registry(server, self.extra_metrics)
        app.router.add_get("/ws", websocket_handler)
        app.router.add_get("/metrics", self.serve_metrics)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        admin.add_routes(app)
        # browser branch: dashboard at /, demo game at /demo, /static/, live feed (dashboard.py)
        dashboard.add_routes(app)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=cfg.shutdown_timeout,
            # a backstop only: the gate closes idle and slow connections first
            keepalive_timeout=cfg.http_keepalive_timeout + cfg.http_header_timeout + 1.0,
        )
        await runner.setup()
        site = GatedSite(runner, cfg.http_host, cfg.http_port, conns)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ListenError.from_os_error(
                exc, "http", cfg.http_host, cfg.http_port, "--http-host", "--http-port"
            ) from exc
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        address.append(self.address)
        log.info("http listening %s", fields(address=self.address))
        if conns.limit < cfg.max_http_connections:
            log.info(
                "http: plain HTTP connections held to a quarter of the file descriptors "
                "this process may open %s",
                fields(limit=conns.limit, descriptors=conns.descriptors,
                       max_http_connections=cfg.max_http_connections),
            )

    def reload(self) -> Reloaded | None:
        """POST /api/reload: run `reloader` (set by `tickcast serve`: SIGHUP's reload),
        None without one. Raises ConfigError when the new configuration is refused."""
        return self.reloader() if self.reloader is not None else None

    def prepare_reload(self, config: Config) -> Callable[[], list[Change]]:
        """For a reload (tickcast/reload.py): read the admin token again now (a
        ConfigError, and nothing changes, if it cannot be read); the function
        returned puts it in place and says what changed (never the token)."""
        token = admin.load_admin_token(config)
        box = self.admin_token

        def apply() -> list[Change]:
            from tickcast.reload import Change

            if token == box.value:
                return []
            what = "set" if not box.value else "removed" if not token else "changed"
            box.value = token
            return [Change("admin token", note=what)]

        return apply

    def close(self) -> None:
        """Nothing to do at once: WebSocket clients were kicked by the relay's
        shutdown and close themselves; `wait_closed` stops the listener."""

    async def wait_closed(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ------------------------------------------------------------ handlers

    async def serve_metrics(self, request: web.Request) -> web.Response:
        # Prometheus text format, or OpenMetrics when the scraper asks for it
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(self.registry), headers={"Content-Type": content_type})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def readiness_problems(self) -> list[str]:
        """What keeps the server from being ready (empty: ready); /readyz and the
        dashboard's health show it."""
        problems = []
        if self.server is None or not self.server.listening:
            problems.append("the TCP listener is not accepting connections")
        for check in self.readiness_checks:
            problem = check()
            if problem:
                problems.append(problem)
        return problems

    async def readyz(self, request: web.Request) -> web.Response:
        problems = self.readiness_problems()
        if problems:
            return web.json_response({"status": "not ready", "problems": problems}, status=503)
        return web.json_response({"status": "ready"})
