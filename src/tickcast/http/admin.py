"""The admin API under `/api/`: JSON, for operators and their tools.

Access: with an admin token configured (`--admin-token-file`,
`TICKCAST_ADMIN_TOKEN`), every request needs `Authorization: Bearer <token>`;
without one, the API answers only to loopback peers, so a server that nobody
configured is not manageable from the network. `/api/openapi.json` (the
description of this API) is public. The decision is `admin_access`, a pure
function, so it can be tested for peers a test cannot connect from. The
dashboard's live feed (`/dashboard/events`: room names, player ids) has the
same access. Before this check, `crosssite.py` has refused foreign `Host`s and
cross-site state changes.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tickcast import __version__
from tickcast.config import Config, shown
from tickcast.errors import ConfigError
from tickcast.http import appkeys as keys
from tickcast.http.openapi import openapi_document
from tickcast.proto import pb
from tickcast.room import Room

if TYPE_CHECKING:
    from tickcast.server import Server
    from tickcast.session import Session

GUARDED_PATHS = ("/api/", "/dashboard/events")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---------------------------------------------------------------- access


def load_admin_token(config: Config) -> str:
    """The admin token: the setting itself, else the first line of the token file."""
    if config.admin_token:
        return config.admin_token
    if config.admin_token_file:
        try:
            with open(config.admin_token_file, encoding="utf-8") as f:
                token = f.readline().strip()
        except OSError as exc:
            raise ConfigError(f"--admin-token-file: cannot read it: {exc}") from None
        if not token:
            raise ConfigError(f"--admin-token-file: {config.admin_token_file} is empty")
        return token
    return ""


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def admin_access(peer_host: str | None, authorization: str | None, token: str) -> int:
    """The HTTP status an admin request gets before its handler: 200 (go on),
    401 (a token is configured and the request lacks the right one) or 403
    (no token configured and the peer is not on loopback)."""
    if not token:
        return 200 if is_loopback(peer_host) else 403
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return 401
    return 200


@web.middleware
async def admin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path.startswith(GUARDED_PATHS) and path != "/api/openapi.json":
        status = admin_access(
            request.remote,
            request.headers.get("Authorization"),
            request.app[keys.ADMIN_TOKEN].value,
        )
        if status != 200:
            request.app[keys.REFUSALS].refuse(
                "admin_auth", request.remote or "",
                f"{request.method} {path}: "
                + ("no valid admin token" if status == 401 else "not loopback, no token set"),
            )
        if status == 401:
            return web.json_response(
                {"error": "a valid admin bearer token is required"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="tickcast"'},
            )
        if status == 403:
            return web.json_response(
                {"error": "no admin token is configured: the API answers only on loopback"},
                status=403,
            )
    return await handler(request)


# ---------------------------------------------------------------- views


def redacted_config(config: Config) -> dict[str, Any]:
    """The configuration as /api/server shows it: secrets and URL passwords hidden."""
    return {f.name: shown(f.name, getattr(config, f.name)) for f in dataclasses.fields(config)}


def _session_view(s: Session) -> dict[str, Any]:
    stats = s.outbox.statistics()
    return {
        "transport": s.transport,
        "peer": s.peer,
        "queue_bytes": stats.buffered_bytes,
        "queue_frames": stats.frames_behind,
        "catching_up": stats.catching_up,
        "acked_tick": s.acked_tick,
    }


def room_summary(room: Room, now: float) -> dict[str, Any]:
    sessions = room.sessions()
    queues = [s.outbox.statistics().buffered_bytes for s in sessions]
    return {
        "name": room.name,
        "tick": room.last_sent(),
        "tick_rate": room.tick_rate,
        "age_seconds": round(max(0.0, now - room.created_at), 3),
        "members": room.members,
        "disconnected": room.disconnected,
        "spectators": len(room.spectators),
        "inputs": room.inputs_sequenced,
        "queue_max_bytes": max(queues, default=0),
        "queue_total_bytes": sum(queues),
    }


def room_detail(room: Room, now: float) -> dict[str, Any]:
    out = room_summary(room, now)
    players = []
    for p in sorted(room.players.values(), key=lambda p: p.slot):
        if not p.member:
            continue
        view: dict[str, Any] = {
            "player_id": p.id,
            "slot": p.slot,
            "last_seq": p.last_seq,
            "join_tick": p.join_tick,
            "connected": p.session is not None,
        }
        if p.session is not None:
            view["connection"] = _session_view(p.session)
        players.append(view)
    out["players"] = players
    out["spectator_connections"] = [_session_view(s) for s in room.sessions() if s.spectator]
    return out


def _server(request: web.Request) -> Server:
    return request.app[keys.SERVER]


def _room(request: web.Request) -> Room:
    room = _server(request).relay.rooms.get(request.match_info["room"])
    if room is None:
        raise web.HTTPNotFound(
            text='{"error": "no such room"}', content_type="application/json"
        )
    return room


async def get_server_info(request: web.Request) -> web.Response:
    server = _server(request)
    started = request.app[keys.STARTED]
    return web.json_response(
        {
            "version": __version__,
            "server_id": server.config.server_id,
            "uptime_seconds": round(time.monotonic() - started, 3),
            "tcp": server.address,
            "http": request.app[keys.HTTP_ADDRESS][0],
            "connections": len(server.relay.sessions),
            "rooms": len(server.relay.rooms),
            "config": redacted_config(server.config),
        }
    )


async def list_rooms(request: web.Request) -> web.Response:
    server = _server(request)
    now = server.loop.time()
    rooms = [room_summary(r, now) for r in list(server.relay.rooms.values())]
    rooms.sort(key=lambda r: r["name"])
    return web.json_response({"rooms": rooms})


async def get_room(request: web.Request) -> web.Response:
    room = _room(request)
    return web.json_response(room_detail(room, _server(request).loop.time()))


async def close_room(request: web.Request) -> web.Response:
    room = _room(request)
    kicked = len(room.sessions())
    _server(request).relay.close_room(room.name, pb.REASON_ROOM_CLOSED)
    return web.json_response({"room": room.name, "closed": True, "kicked": kicked})


async def kick_player(request: web.Request) -> web.Response:
    room = _room(request)
    player = room.players.get(request.match_info["player_id"])
    session = player.session if player is not None and player.member else None
    if player is None or session is None:
        raise web.HTTPNotFound(
            text='{"error": "no such connected player in this room"}',
            content_type="application/json",
        )
    session.kick(pb.REASON_UNSPECIFIED, "kicked by an operator")
    return web.json_response({"room": room.name, "player_id": player.id, "kicked": True})


async def reload_config(request: web.Request) -> web.Response:
    """What SIGHUP does (tickcast/reload.py), with its outcome in the answer."""
    reload = request.app[keys.RELOAD]
    try:
        done = reload()
    except ConfigError as exc:
        return web.json_response(
            {"error": f"refused, the running configuration is kept: {exc}", "reloaded": False},
            status=400,
        )
    if done is None:
        return web.json_response(
            {"error": "this server was not started by tickcast serve: it has nothing to "
             "reload from", "reloaded": False},
            status=409,
        )
    return web.json_response(
        {"reloaded": True, "changes": done.lines(), "restart_needed": done.restart}
    )


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(__version__))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", get_openapi)
    app.router.add_get("/api/server", get_server_info)
    app.router.add_get("/api/rooms", list_rooms)
    app.router.add_get("/api/rooms/{room}", get_room)
    app.router.add_delete("/api/rooms/{room}", close_room)
    app.router.add_post("/api/rooms/{room}/players/{player_id}/kick", kick_player)
    app.router.add_post("/api/reload", reload_config)
