"""Typed keys of what the HTTP handlers share through the aiohttp Application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass

SERVER = web.AppKey["Server"]("server")
HTTP_ADDRESS = web.AppKey[list[str]]("http_address")  # one item, set once listening
WS_ORIGINS = web.AppKey[frozenset[str]]("ws_origins")
ADMIN_TOKEN = web.AppKey[str]("admin_token")
STARTED = web.AppKey[float]("started")  # time.monotonic() at start
