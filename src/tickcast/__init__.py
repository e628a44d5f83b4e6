"""tickcast: a real-time multiplayer input relay server (lockstep relay netcode).

Server side: `Server` and `Config`. Client side: see `tickcast.client`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from tickcast.client import Client, Desync, Input, Member, Tick, connect
from tickcast.config import Config
from tickcast.errors import (
    AuthFailed,
    ConfigError,
    ConnectionClosedError,
    FrameTooLarge,
    Kicked,
    RemoteProtocolError,
    ResumeUnavailable,
    TickcastError,
    TickGap,
    UsageError,
)
from tickcast.server import Server

__all__ = [
    "Config",
    "ConfigError",
    "ConnectionClosedError",
    "FrameTooLarge",
    "RemoteProtocolError",
    "Server",
    "TickcastError",
    "UsageError",
    "__version__",
    # client SDK
    "AuthFailed",
    "Client",
    "Desync",
    "Input",
    "Kicked",
    "Member",
    "ResumeUnavailable",
    "Tick",
    "TickGap",
    "connect",
]
