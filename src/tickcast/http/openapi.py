"""The OpenAPI 3.0 description of the admin API, served at `/api/openapi.json`.

Written by hand next to the handlers in `admin.py` (the API is six routes;
the Host and cross-site rules are `crosssite.py`'s);
the generated-request test in tests/integration checks the two agree: every
documented operation answers with a documented status, and never with a 5xx.
"""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(description: str, **properties: str) -> dict[str, Any]:
    """A JSON object response whose properties all have simple types."""
    schema = {"type": "object", "properties": {k: {"type": t} for k, t in properties.items()}}
    return _json(schema, description)


_ERROR = _json(_ref("Error"), "error")
_GUARDED = {
    "401": _json(_ref("Error"), "an admin token is configured and the request lacks it"),
    "403": _json(
        _ref("Error"),
        "no token configured and the peer is not on loopback; or the Host is not a name "
        "of this server; or (state changes) a cross-site request, or one without "
        "Content-Type: application/json, X-Tickcast-Admin or Authorization",
    ),
}
_ADMIN_HEADER = {
    "name": "X-Tickcast-Admin", "in": "header", "required": False,
    "description": "any value: marks a state-changing request as made by a script, which a "
    "web form cannot send (needed without a JSON Content-Type or Authorization)",
    "schema": {"type": "string"},
}
_ROOM_PARAM = {
    "name": "room", "in": "path", "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}
_PLAYER_PARAM = {
    "name": "player_id", "in": "path", "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "Connection": {
        "type": "object",
        "properties": {
            "transport": {"type": "string", "enum": ["tcp", "ws"]},
            "peer": {"type": "string"},
            "queue_bytes": {"type": "integer"},
            "queue_frames": {"type": "integer"},
            "catching_up": {"type": "boolean"},
            "acked_tick": {"type": "integer"},
        },
    },
    "RoomSummary": {
        "type": "object",
        "required": ["name", "tick", "tick_rate", "age_seconds", "members", "spectators"],
        "properties": {
            "name": {"type": "string"},
            "tick": {"type": "integer", "description": "number of the last tick sent"},
            "tick_rate": {"type": "integer"},
            "age_seconds": {"type": "number"},
            "members": {"type": "integer"},
            "disconnected": {"type": "integer"},
            "spectators": {"type": "integer"},
            "inputs": {"type": "integer"},
            "queue_max_bytes": {"type": "integer"},
            "queue_total_bytes": {"type": "integer"},
        },
    },
    "RoomDetail": {
        "allOf": [
            _ref("RoomSummary"),
            {
                "type": "object",
                "properties": {
                    "players": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "player_id": {"type": "string"},
                                "slot": {"type": "integer"},
                                "last_seq": {"type": "integer"},
                                "join_tick": {"type": "integer"},
                                "connected": {"type": "boolean"},
                                "connection": _ref("Connection"),
                            },
                        },
                    },
                    "spectator_connections": {"type": "array", "items": _ref("Connection")},
                },
            },
        ]
    },
    "ServerInfo": {
        "type": "object",
        "required": ["version", "uptime_seconds", "config"],
        "properties": {
            "version": {"type": "string"},
            "server_id": {"type": "string"},
            "uptime_seconds": {"type": "number"},
            "tcp": {"type": "string"},
            "http": {"type": "string"},
            "connections": {"type": "integer"},
            "rooms": {"type": "integer"},
            "config": {
                "type": "object",
                "description": "the running configuration; secrets show as <redacted>",
            },
        },
    },
}


def openapi_document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "tickcast admin API",
            "version": version,
            "description": "Rooms and connections of one tickcast server. Bearer admin "
            "token; without a configured token only loopback peers are served. Requests "
            "must use a Host this server is known by (an IP address, localhost, "
            "--http-allowed-hosts). DELETE and POST are refused from another site and "
            "need Content-Type: application/json, an X-Tickcast-Admin header or an "
            "Authorization header, so that a web page cannot make them.",
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"admin": []}],
        "paths": {
            "/api/server": {
                "get": {
                    "operationId": "getServer",
                    "summary": "version, uptime and configuration (secrets redacted)",
                    "responses": {"200": _json(_ref("ServerInfo"), "server info"), **_GUARDED},
                }
            },
            "/api/rooms": {
                "get": {
                    "operationId": "listRooms",
                    "summary": "every open room",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["rooms"],
                                "properties": {
                                    "rooms": {"type": "array", "items": _ref("RoomSummary")}
                                },
                            },
                            "the rooms, by name",
                        ),
                        **_GUARDED,
                    },
                }
            },
            "/api/rooms/{room}": {
                "parameters": [_ROOM_PARAM],
                "get": {
                    "operationId": "getRoom",
                    "summary": "one room with its players and connections",
                    "responses": {
                        "200": _json(_ref("RoomDetail"), "the room"),
                        "404": _ERROR,
                        **_GUARDED,
                    },
                },
                "delete": {
                    "operationId": "closeRoom",
                    "parameters": [_ADMIN_HEADER],
                    "summary": "close the room: Kick{ROOM_CLOSED} to every connection in it",
                    "responses": {
                        "200": _object(
                            "closed", room="string", closed="boolean", kicked="integer"
                        ),
                        "404": _ERROR,
                        **_GUARDED,
                    },
                },
            },
            "/api/reload": {
                "post": {
                    "operationId": "reload",
                    "parameters": [_ADMIN_HEADER],
                    "summary": "what SIGHUP does: read the config file, the secret file and "
                    "the admin token file again and apply the reloadable settings (the "
                    "secret, the admin token, the limits, the log level); no connection "
                    "is dropped",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["reloaded", "changes", "restart_needed"],
                                "properties": {
                                    "reloaded": {"type": "boolean"},
                                    "changes": {"type": "array", "items": {"type": "string"}},
                                    "restart_needed": {
                                        "type": "array", "items": {"type": "string"},
                                    },
                                },
                            },
                            "reloaded: what changed (secrets only as changed), and the "
                            "settings that changed but need a restart",
                        ),
                        "400": _json(_ref("Error"), "the new configuration is refused: the "
                                     "running one is kept"),
                        "409": _json(_ref("Error"), "not started by tickcast serve: nothing "
                                     "to reload from"),
                        **_GUARDED,
                    },
                },
            },
            "/api/rooms/{room}/players/{player_id}/kick": {
                "parameters": [_ROOM_PARAM, _PLAYER_PARAM],
                "post": {
                    "operationId": "kickPlayer",
                    "parameters": [_ADMIN_HEADER],
                    "summary": "disconnect a player (Kick{UNSPECIFIED}, 'kicked by an "
                    "operator'); its slot follows the reconnect grace",
                    "responses": {
                        "200": _object(
                            "kicked", room="string", player_id="string", kicked="boolean"
                        ),
                        "404": _ERROR,
                        **_GUARDED,
                    },
                },
            },
        },
    }
