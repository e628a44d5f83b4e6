"""Logs (issue 2, point 8): one line per connection event (accepted, welcomed,
kicked with reason, closed), nothing per input at INFO."""

from __future__ import annotations

import logging
import re

import pytest
from support import RawClient, client_frame, expect_final_kick, running_server, wait_until

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
        peer = re.compile(rf"tcp:127\.0\.0\.1:{port}(\s|$)")
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

    for port, ending in ((first, "reason=REPLACED"), (second, "detail=left the room")):
        events = lines_of(port)
        assert [m.split()[0] for m in events] == ["accepted", "welcomed", "kicked", "closed"]
        assert "player=ada" in events[1] and ending in events[2], events
    # nothing per input: every INFO line is a connection, room or server event
    kinds = {r.getMessage().split()[0] for r in caplog.records if r.name.startswith("tickcast")}
    assert kinds <= {"listening", "accepted", "welcomed", "kicked", "closed", "room"}, kinds
    assert len(caplog.records) < 20, [r.getMessage() for r in caplog.records]
