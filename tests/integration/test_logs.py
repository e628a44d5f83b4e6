"""Logs (issue 2, point 8): one line per connection event (accepted, welcomed,
kicked with reason, closed), nothing per input at INFO."""

from __future__ import annotations

import json
import logging
import re
import shlex
import signal

import pytest
from support import (
    RawClient,
    ServerProcess,
    client_frame,
    expect_final_kick,
    running_server,
    wait_until,
)

from tickcast.proto import pb

INPUTS = 200


def local_port(c: RawClient) -> int:
    return int(c.writer.get_extra_info("sockname")[1])


async def test_one_line_per_connection_event_and_none_per_input(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tickcast")

    def lines_of(port: int) -> list[str]:
        """This connection's log lines (its peer address ends the field)."""
        peer = re.compile(rf"conn=tcp:127\.0\.0\.1:{port}(\s|$)")
        return [r.getMessage() for r in caplog.records if peer.search(r.getMessage())]

    async with running_server() as server:
        ada, _ = await RawClient.join(server.port, "ada")
        first = local_port(ada)
        for seq in range(1, INPUTS + 1):
            ada.send_input(seq, b"x")
        while True:  # every input relayed back
            t = await ada.next_tick()
            if any(i.seq == INPUTS for i in t.inputs):
                break
        again, _ = await RawClient.join(server.port, "ada")  # replaces the first
        assert (await expect_final_kick(ada)).reason == pb.REASON_REPLACED
        await ada.close()
        await wait_until(lambda: len(lines_of(first)) == 4, 10, "the first connection's close")
        second = local_port(again)
        again.send(client_frame(leave=pb.Leave()))
        await expect_final_kick(again)
        await again.close()
        await wait_until(lambda: len(lines_of(second)) == 4, 10, "the second connection's close")

    for port, ending in ((first, "reason=REPLACED"), (second, 'detail="left the room"')):
        events = lines_of(port)
        assert [m.split()[0] for m in events] == ["accepted", "welcomed", "kicked", "closed"]
        assert "player=ada" in events[1] and ending in events[2], events
    # nothing per input: every INFO line is a connection, room or server event
    kinds = {r.getMessage().split()[0] for r in caplog.records if r.name.startswith("tickcast")}
    assert kinds <= {"listening", "accepted", "welcomed", "kicked", "closed", "room"}, kinds
    assert len(caplog.records) < 20, [r.getMessage() for r in caplog.records]


FAKE = "admin room=lobby reason=SERVER_SHUTDOWN"
"""A player id that, written bare, would fake three fields (issue 15, item 4)."""


def logfmt(text: str) -> dict[str, str]:
    """The key=value fields of a text log line's message (quotes read as a shell does)."""
    message = text.split(": ", 1)[1]
    return dict(w.split("=", 1) for w in shlex.split(message) if "=" in w)


async def one_session(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """A server's log lines for: a player named FAKE joins "a b", leaves, SIGTERM."""
    server = await ServerProcess.start("--no-http", *args, env=env)
    try:
        c, _ = await RawClient.join(server.port, FAKE, room="a b")
        c.send(client_frame(leave=pb.Leave()))
        await expect_final_kick(c)
        await c.close()
        await wait_until(lambda: server.logged("closed"), 10, "the close line")
        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
    finally:
        await server.kill()
    return server.stderr_lines


async def test_a_name_with_spaces_cannot_fake_fields_in_the_text_log() -> None:
    lines = await one_session()
    [kicked] = [line for line in lines if "tickcast.connection: kicked " in line]
    assert f'player="{FAKE}" room="a b" reason=UNSPECIFIED' in kicked, kicked
    assert logfmt(kicked)["player"] == FAKE and logfmt(kicked)["room"] == "a b"
    assert logfmt(kicked)["reason"] == "UNSPECIFIED"
    [opened] = [line for line in lines if "room opened" in line]
    assert logfmt(opened) == {"room": "a b"}


async def test_json_logs_are_one_object_per_line_with_the_text_lines_fields() -> None:
    text = await one_session()
    objects = [json.loads(line) for line in await one_session("--log-format", "json")]
    for obj in objects:
        assert {"time", "level", "logger", "message"} <= set(obj), obj
    assert [o["message"] for o in objects if o["logger"].startswith("tickcast")] == [
        re.sub(r" \w+=.*$", "", line.split(": ", 1)[1])
        for line in text if " tickcast." in line
    ]
    for line, obj in zip([t for t in text if " tickcast." in t],
                         [o for o in objects if o["logger"].startswith("tickcast")], strict=True):
        fields = {k: v for k, v in obj.items() if k not in ("time", "level", "logger", "message")}
        expected = logfmt(line) if "=" in line.split(": ", 1)[1] else {}
        assert set(fields) == set(expected), (line, obj)
        for key, value in fields.items():
            if key not in ("conn", "address"):  # the port differs between the two runs
                shown = "-" if value is None else str(value).lower()
                assert shown == expected[key].lower() or (
                    isinstance(value, float) and float(expected[key]) == pytest.approx(value)
                ), (key, line, obj)
    [kicked] = [o for o in objects if o["message"] == "kicked"]
    assert kicked["player"] == FAKE and kicked["room"] == "a b" and kicked["level"] == "INFO"


async def test_per_connection_lines_are_left_out_unless_asked_for() -> None:
    quiet = await one_session(env={"TICKCAST_LOG_CONNECTIONS": "0"})
    assert not [line for line in quiet if "tickcast.connection" in line], quiet
    assert any("room opened" in line for line in quiet)  # rooms and the server still log
    debug = await one_session("--log-level", "DEBUG", env={"TICKCAST_LOG_CONNECTIONS": "0"})
    events = [line.split(": ", 1)[1].split()[0] for line in debug if "tickcast.connection" in line]
    assert events == ["accepted", "welcomed", "kicked", "closed"], debug
