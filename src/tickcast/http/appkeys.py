"""Typed keys of what the HTTP handlers share through the aiohttp Application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tickcast.http.connections import HttpConnections
from tickcast.http.refusals import Refusals
from tickcast.reload import Reloaded
from tickcast.server import Server

SERVER = web.AppKey("server", Server)
HTTP_ADDRESS = web.AppKey[list[str]]("http_address")  # one item, set once listening
WS_ORIGINS = web.AppKey[frozenset[str]]("ws_origins")


@dataclass
class AdminToken:
    """The admin API's bearer token ("" = none: loopback only), in a box that a
    reload (SIGHUP, `tickcast reload`) refills while the application runs."""

    value: str = ""


ADMIN_TOKEN = web.AppKey("admin_token", AdminToken)
RELOAD = web.AppKey[Callable[[], "Reloaded | None"]]("reload")  # POST /api/reload
STARTED = web.AppKey[float]("started")  # time.monotonic() at start
READINESS = web.AppKey[Callable[[], list[str]]]("readiness")  # what /readyz reports
CONNECTIONS = web.AppKey("connections", HttpConnections)  # the listener's connections
REFUSALS = web.AppKey("refusals", Refusals)  # tickcast_http_refused_total and its log
