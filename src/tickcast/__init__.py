"""tickcast: a real-time multiplayer input relay server (lockstep relay netcode).

Server side: `Server` and `Config`. Client side: see `tickcast.client`.

`import tickcast` loads the client SDK only (its dependencies are protobuf and
websockets, what `pip install tickcast` installs); `tickcast.Server` is imported
on first use, and needs the server extra (`pip install 'tickcast[server]'`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from tickcast.server import Server


def __getattr__(name: str) -> Any:
    """`tickcast.Server`, imported when first asked for (PEP 562): the SDK alone
    never loads the server's modules."""
    if name == "Server":
        from tickcast.server import Server

        return Server
    raise AttributeError(f"module 'tickcast' has no attribute {name!r}")

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
