"""Connection limits count WebSocket connections too (issue 6: connections in total
and per source address, refused before any session exists)."""

from __future__ import annotations

import pytest
from support import RawClient, wait_for
from ws_support import WsClient, http_server

from tickcast.proto import pb


@pytest.mark.parametrize(
    ("limit", "detail"),
    [("max_connections_per_host", "address"), ("max_connections", "connection limit")],
)
async def test_websocket_connections_count_against_the_connection_limits(
    limit: str, detail: str
) -> None:
    async with http_server(**{limit: 3}) as (server, http):
        server.admission.exempt_loopback = False  # the test's peers are all loopback
        tcp = await RawClient.connect(server.port)
        held = [tcp, *[await WsClient.connect(http) for _ in range(2)]]
        await wait_for(lambda: server.admission.total == 3)
        sessions = len(server.relay.sessions)
        ws_kick, close_code = await (await WsClient.connect(http)).expect_kick()
        tcp_kick = await (await RawClient.connect(server.port)).expect_kick()
        for kick in (ws_kick, tcp_kick):
            assert kick.reason == pb.REASON_RATE_LIMITED and detail in kick.detail
        assert close_code == 1008  # policy violation, as for every RATE_LIMITED
        assert len(server.relay.sessions) == sessions  # no session for the refused ones
        assert server.admission.refused == 2
        for c in held:
            await c.close()
        await wait_for(lambda: server.admission.total == 0)
        ok, w = await WsClient.join(http, "after")  # places come back
        assert w.slot == 1
        await ok.close()
