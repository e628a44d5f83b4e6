"""Issue 15 item 6: the memory budget is true.

A room's in-memory history is bounded by bytes (`--history-bytes`) as well as
seconds; a resume or a late join that needs ticks no longer kept in memory is
served from the tick log when recording is on (without it: RESUME_UNAVAILABLE,
tests/unit/test_room_history.py).
"""

from __future__ import annotations

from pathlib import Path

from support import RawClient, running_server, wait_for
from support import test_config as make_config

from tickcast.store import open_recorder

PAYLOAD = 3000  # x 50 ticks a second: 150 KB/s, under the default receive rate


async def test_resume_and_late_join_past_the_byte_bound_come_from_the_tick_log(
    tmp_path: Path,
) -> None:
    overrides = {"history_bytes": 65536, "data_dir": str(tmp_path)}
    recorder = open_recorder(make_config(**overrides))
    async with running_server([recorder], **overrides) as server:
        ada, _ = await RawClient.join(server.port, "ada")
        room = server.relay.rooms["r"]
        seq = 0
        seen: dict[int, bytes] = {}
        while room.last_sent() < 150:
            seq += 1
            ada.send_input(seq, bytes([seq % 256]) * PAYLOAD)
            for t in await ada.ticks_until(room.last_sent()):
                seen[t.number] = t.SerializeToString()
        assert room.history.bytes <= 65536
        assert room.history.first(room.next) > 100  # tick 11 is on disk only
        # a late joiner from tick 1, and ada resuming after tick 10 on a new connection
        lee, welcome = await RawClient.join(server.port, "lee", full_history=True)
        assert welcome.first_tick == 1
        again, welcome = await RawClient.join(server.port, "ada", resume_after=10)
        assert welcome.first_tick == 11 and welcome.last_seq == seq
        last = max(seen)
        for client, first in ((lee, 1), (again, 11)):
            ticks = await client.ticks_until(last, timeout=20)
            assert [t.number for t in ticks[: last - first + 1]] == list(range(first, last + 1))
            for t in ticks:
                if t.number in seen:
                    assert t.SerializeToString() == seen[t.number]
        await wait_for(lambda: room.history.bytes <= 65536)
        for c in (ada, lee, again):
            await c.close()
