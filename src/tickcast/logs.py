"""Log lines: one helper for their fields, and the text and JSON formats.

Every variable part of a tickcast log line is a field, given with `fields()`
as the last argument of the message:

    log.info("room closed %s", fields(room=room.name, why=why))

    text: 2026-12-04 20:41:51,238 INFO tickcast.relay: room closed room=lobby why=empty
    json: {"time": "2026-12-04T20:41:51.238Z", "level": "INFO", "logger": "tickcast.relay",
           "message": "room closed", "room": "lobby", "why": "empty"}

A value is written bare when it is plain (printable, without a space, `=`,
`"` or `\\`), else quoted with its `"` and `\\` escaped, so a client-chosen
name never fakes a field: a player named `admin room=lobby reason=X` is
`player="admin room=lobby reason=X"`. Characters that are not printable
(newlines, terminal escapes, invisible and odd spaces) are written as
`\\n`, `\\x1b`, `\\u2028`, in both formats and in the whole text line too,
so nothing a client sends can start a line or move an operator's cursor.

The fields live in the message itself (a `Fields` object is rendered by `%s`),
so any handler and formatter a program that embeds tickcast configures shows
them; the JSON formatter takes them apart again into keys of their own.

Per-connection lines (accepted, welcomed, kicked, closed) go to the
`tickcast.connection` logger, which `setup_logging` quiets unless
`--log-connections` (or `--log-level DEBUG`) asks for them: at thousands of
connections they would drown every other line, and `/metrics` counts them.

No dependencies: the SDK's client logs through it too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

CONNECTIONS = "tickcast.connection"
"""The logger of per-connection lines (see `setup_logging`)."""

_PLAIN = re.compile(r'[^ "=\\]+')
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(c: str) -> str:
    short = _SHORT_ESCAPES.get(c)
    if short is not None:
        return short
    n = ord(c)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def escape_controls(text: str) -> str:
    """`text` with every character that is not printable written as an escape
    (`\\n`, `\\x1b`, `\\u2028`); the ASCII space and all printable text stay."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


def quote(value: object) -> str:
    """One field value as the text format writes it: bare when plain, else quoted."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else str(value)
    if text and _PLAIN.fullmatch(text) and text.isprintable():
        return text
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escape_controls(body)}"'


class Fields:
    """The key=value fields of one log line (`fields()` makes one). Not a mapping,
    so that `logging` takes it as a plain `%s` argument."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def __str__(self) -> str:
        return " ".join(f"{key}={quote(value)}" for key, value in self.values.items())

    def __repr__(self) -> str:
        return f"Fields({self.values!r})"


def fields(**values: object) -> Fields:
    """A log line's fields, in the order given: `log.info("room closed %s", fields(room=r))`."""
    return Fields(values)


# ---------------------------------------------------------------- formats


class TextFormatter(logging.Formatter):
    """`TIME LEVEL LOGGER: message key=value ...`, control characters escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _json_escape(text: str) -> str:
    """JSON text with every character that is not printable as a `\\u` escape (json
    leaves C1 controls, line separators and format characters raw)."""
    if text.isprintable():
        return text
    out = []
    for c in text:
        if c.isprintable():
            out.append(c)
            continue
        n = ord(c)
        if n >= 0x10000:  # a surrogate pair, as JSON spells characters beyond the BMP
            n -= 0x10000
            out.append(f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}")
        else:
            out.append(f"\\u{n:04x}")
    return "".join(out)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, then the
    line's fields as keys (a field named like one of the first four is prefixed
    with `field_`), and `exception` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        found: dict[str, object] = {}
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, Fields) for a in args):
            for a in args:
                if isinstance(a, Fields):
                    found.update(a.values)
            plain = tuple("" if isinstance(a, Fields) else a for a in args)
            message = " ".join((str(record.msg) % plain).split())  # where the fields stood
        else:
            message = record.getMessage()
        when = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, object] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, value in found.items():
            out[f"field_{key}" if key in out else key] = _json_value(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return _json_escape(json.dumps(out, ensure_ascii=False, default=str))


def setup_logging(level: str, fmt: str = "text", connections: bool = False) -> None:
    """The process's log to stderr, in `fmt` ("text" or "json") at `level`, with
    the per-connection lines when `connections` is set or `level` is DEBUG. Does
    nothing to a root logger that already has handlers (a program's own setup),
    except the levels."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.basicConfig(handlers=[handler])
    set_levels(level, connections)


def set_levels(level: str, connections: bool) -> None:
    """The root logger's level, and whether per-connection lines pass (also on reload)."""
    value = getattr(logging, level.upper(), logging.INFO)
    logging.getLogger().setLevel(value)
    shown = connections or value <= logging.DEBUG
    logging.getLogger(CONNECTIONS).setLevel(logging.NOTSET if shown else logging.WARNING)
