"""tickcast: a real-time multiplayer input relay server (lockstep relay netcode).

Server side: `Server` and `Config`. Client side: see `tickcast.client`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from tickcast.config import Config
from tickcast.errors import (
    ConfigError,
    ConnectionClosedError,
    FrameTooLarge,
    RemoteProtocolError,
    TickcastError,
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
    "__version__",
]
