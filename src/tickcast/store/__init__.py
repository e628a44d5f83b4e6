"""Durable match recording: the tick log (SQLite by default), write before send,
recovery after a restart, catch-up from disk, retention. See docs/recording.md."""

from tickcast.store.log import (
    Cycle,
    MatchEnd,
    MatchInfo,
    MatchStart,
    MemoryTickLog,
    StoreError,
    TickLog,
)
from tickcast.store.recorder import MatchArchive, Recorder, open_archive, open_recorder
from tickcast.store.sqlite import SQLiteTickLog

__all__ = [
    "Cycle",
    "MatchEnd",
    "MatchArchive",
    "MatchInfo",
    "MatchStart",
    "MemoryTickLog",
    "Recorder",
    "SQLiteTickLog",
    "StoreError",
    "TickLog",
    "open_archive",
    "open_recorder",
]
