"""An idle server schedules nothing: no ticker, no housekeeping, so no wakeups.

Checked through the server's timer handles (deterministic), not by timing.
"""

from __future__ import annotations

import asyncio

from support import RawClient, client_frame, running_server, wait_until

from tickcast.proto import pb


async def test_no_timers_once_the_last_client_has_gone() -> None:
    async with running_server(reconnect_grace=0.0) as server:
        assert server._tick_handle is None and server._housekeeping is None
        client, _ = await RawClient.join(server.port, "ada")
        assert server._tick_handle is not None
        client.send(client_frame(leave=pb.Leave()))
        await client.expect_kick()
        await client.close()
        await wait_until(
            lambda: server.connection_count == 0
            and server._tick_handle is None
            and server._housekeeping is None
        )
        assert server.relay.rooms == {}
        wakeups = server.wakeups
        await asyncio.sleep(0.3)  # a tick interval is 20 ms: several would have fired
        assert server.wakeups == wakeups
