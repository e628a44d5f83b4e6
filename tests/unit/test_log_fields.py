"""Log lines (issue 19; issue 15 item 4): one helper for their fields, quoted so
that a client-chosen string cannot fake a field or a line, in text and JSON."""

from __future__ import annotations

import json
import logging
import shlex
import sys

import pytest

from tickcast.logs import Fields, JsonFormatter, TextFormatter, escape_controls, fields, quote

FAKE = "admin room=lobby reason=SERVER_SHUTDOWN"


def record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = sys.exc_info() if exc else None
    return logging.LogRecord("tickcast.session", logging.INFO, __file__, 1, msg, args, info)


def logfmt(line: str) -> dict[str, str]:
    """The key=value pairs of a text line, read as a shell reads words (quotes, \\")."""
    return dict(word.split("=", 1) for word in shlex.split(line) if "=" in word)


def test_plain_values_are_bare_and_the_others_quoted() -> None:
    assert quote("ada") == "ada" and quote(7) == "7" and quote(None) == "-"
    assert quote(True) == "true" and quote(0.000123456789) == "0.000123457"
    assert quote("") == '""'
    assert quote("two words") == '"two words"'
    assert quote("a=b") == '"a=b"'
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote("back\\slash") == '"back\\\\slash"'


def test_a_name_with_spaces_and_equals_signs_stays_one_field() -> None:
    line = f"kicked {fields(conn='tcp:1.2.3.4:5', player=FAKE, room='r', reason='REPLACED')}"
    assert line == (
        'kicked conn=tcp:1.2.3.4:5 player="admin room=lobby reason=SERVER_SHUTDOWN" room=r '
        "reason=REPLACED"
    )
    parsed = logfmt(line)
    assert parsed == {"conn": "tcp:1.2.3.4:5", "player": FAKE, "room": "r", "reason": "REPLACED"}
    # a quote in the name cannot close the quoted value early either
    tricky = 'x" room=lobby reason="SERVER_SHUTDOWN'
    parsed = logfmt(f"kicked {fields(player=tricky, room='r')}")
    assert parsed == {"player": tricky, "room": "r"}


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("line\nbreak", "line\\nbreak"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("csi\x9b2J", "csi\\x9b2J"),  # a C1 control: an escape to a terminal too
        ("sep\u2028arator", "sep\\u2028arator"),
        ("rtl\u202eoverride", "rtl\\u202eoverride"),
        ("nb\u00a0space", "nb\\xa0space"),  # looks like a space, would split a field
        ("tag\U000e0041", "tag\\U000e0041"),
        ("caf\u00e9 \u5927", "caf\u00e9 \u5927"),  # printable text stays as it is
    ],
)
def test_control_and_invisible_characters_are_escaped(text: str, escaped: str) -> None:
    assert escape_controls(text) == escaped
    value = quote(text)
    assert value.isprintable() and escaped in value


def test_the_text_format_escapes_the_whole_message() -> None:
    fmt = TextFormatter()
    out = fmt.format(record("refused %s: %s", "peer", "evil\r\nINFO forged line"))
    assert "\n" not in out and "evil\\r\\nINFO forged line" in out
    out = fmt.format(record("kicked %s", fields(player=FAKE, detail="left the room")))
    assert out.endswith(
        'INFO tickcast.session: kicked player="admin room=lobby reason=SERVER_SHUTDOWN" '
        'detail="left the room"'
    )


def test_the_json_format_has_the_same_fields_as_keys() -> None:
    fmt = JsonFormatter()
    line = fmt.format(record("kicked %s", fields(player=FAKE, slot=3, spectator=False,
                                                 detail="a\x1b]8;;http://evil\x07")))
    assert "\n" not in line and line.isprintable()
    obj = json.loads(line)
    assert obj == {
        "time": obj["time"], "level": "INFO", "logger": "tickcast.session",
        "message": "kicked", "player": FAKE, "slot": 3, "spectator": False,
        "detail": "a\x1b]8;;http://evil\x07",
    }
    assert obj["time"].endswith("Z") and "T" in obj["time"]
    # C1 controls and separators, which json leaves raw, are escaped as well
    obj_line = fmt.format(record("x %s", fields(name="a\x9bb\u2028c\U000e0041")))
    assert obj_line.isprintable()
    assert json.loads(obj_line)["name"] == "a\x9bb\u2028c\U000e0041"


def test_the_json_format_keeps_reserved_keys_and_messages_without_fields() -> None:
    fmt = JsonFormatter()
    obj = json.loads(fmt.format(record("room %s %s", fields(level="x", message="y"), "z")))
    assert obj["level"] == "INFO" and obj["field_level"] == "x" and obj["field_message"] == "y"
    assert obj["message"] == "room z"
    plain = json.loads(fmt.format(record("a library's line: %d", 5)))
    assert plain["message"] == "a library's line: 5"
    try:
        raise ValueError("boom")
    except ValueError:
        obj = json.loads(fmt.format(record("failed %s", fields(room="r"), exc=True)))
    assert obj["message"] == "failed" and "ValueError: boom" in obj["exception"]


def test_fields_are_not_a_mapping_so_logging_keeps_them_as_an_argument() -> None:
    rec = record("opened %s", fields(room="r"))
    assert isinstance(rec.args, tuple) and isinstance(rec.args[0], Fields)
    assert rec.getMessage() == "opened room=r"


def test_every_log_call_of_tickcast_gives_its_values_as_fields() -> None:
    """One helper for structured fields, used everywhere: a log call of tickcast's own
    has a constant message and, if anything varies, one `fields(...)` as its last
    argument (its `%s` in the message), so no value reaches a line unquoted."""
    import ast
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "tickcast"
    levels = {"debug", "info", "warning", "error", "exception", "critical", "log"}
    checked, bad = 0, []
    for path in sorted(src.rglob("*.py")):
        if path.name == "tickcast_pb2.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            is_logger = (isinstance(owner, ast.Name) and owner.id in ("log", "conn_log")) or (
                isinstance(owner, ast.Call) and getattr(owner.func, "attr", "") == "getLogger")
            if node.func.attr not in levels or not is_logger:
                continue
            args = node.args[1:] if node.func.attr == "log" else node.args
            checked += 1
            where = f"{path.relative_to(src)}:{node.lineno}"
            message, rest = args[0], args[1:]
            one_fields = len(rest) == 1 and isinstance(rest[0], ast.Call) and getattr(
                rest[0].func, "id", "") == "fields"
            if isinstance(message, ast.Name) and one_fields:
                continue  # a message chosen among constants (descriptors.check), its fields
            if not (isinstance(message, ast.Constant) and isinstance(message.value, str)):
                bad.append(f"{where}: the message is not a constant string")
                continue
            if rest and not (one_fields and message.value.endswith("%s")):
                bad.append(f"{where}: values not given as one fields(...) at the end")
            elif not rest and "%" in message.value:
                bad.append(f"{where}: a % placeholder without a value")
    assert checked > 40, checked  # the walk found tickcast's log calls
    assert not bad, bad
