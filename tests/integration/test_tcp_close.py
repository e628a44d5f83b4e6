"""Shutdown must not fail on connections whose peer has already gone.

The lingering close (`write_eof` after the Kick) raised OSError (ENOTCONN)
when the peer had closed first: writing the Kick to it drew a reset at once
on loopback, and `Server.close()` then stopped half-way through its sessions.
"""

from __future__ import annotations

import asyncio
import socket

from support import running_server, wait_until


async def test_shutdown_after_the_peers_closed_first() -> None:
    async with running_server() as server:
        peers = [socket.create_connection(("127.0.0.1", server.port), 5) for _ in range(3)]
        await wait_until(lambda: server.connection_count == 3, 15.0, "3 connections")
        for p in peers:
            p.close()
        # no loop turn in between: the server has not seen the FINs yet
        server.close()
        await asyncio.wait_for(server.wait_closed(), 15)
        assert server.connection_count == 0
