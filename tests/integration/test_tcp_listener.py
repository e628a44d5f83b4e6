"""The TCP listener accepts every waiting connection in one callback.

libuv's own listener (uvloop's create_server) accepts one connection per loop
iteration, so under a long tick callback new clients waited seconds for their
Welcome. These tests run on the loop the suite uses (uvloop when installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from support import RawClient, hello_frame, running_server, wait_until

from tickcast.transports.tcp import TcpConnection, TcpListener


async def test_one_readiness_callback_accepts_every_waiting_connection() -> None:
    async with running_server() as server:
        listener = server._tcp
        assert isinstance(listener, TcpListener)
        n = 20
        with contextlib.ExitStack() as stack:
            # blocking connects finish the TCP handshake in the kernel without
            # giving the loop a turn: all n wait in the backlog
            for _ in range(n):
                stack.enter_context(socket.create_connection(("127.0.0.1", server.port), 5))
            listener._accept(listener.sockets[0])
            assert len(listener._pending) == n
            await wait_until(lambda: server.connection_count == n, 15.0)


async def test_clients_accepted_in_a_batch_are_served() -> None:
    async with running_server() as server:
        clients = await asyncio.gather(*(RawClient.connect(server.port) for _ in range(30)))
        for i, c in enumerate(clients):
            c.send(hello_frame(f"p{i}", room=f"r{i % 3}"))
        welcomes = [await c.next_message() for c in clients]
        assert all(w.HasField("welcome") for w in welcomes)
        assert sorted(w.welcome.slot for w in welcomes) == sorted(
            s for _ in range(3) for s in range(1, 11)
        )
        for c in clients:
            await c.close()


async def test_close_stops_accepting() -> None:
    async with running_server() as server:
        port = server.port
        listener = server._tcp
        assert listener is not None
        listener.close()
        with socket.socket() as s:
            s.settimeout(5)
            assert s.connect_ex(("127.0.0.1", port)) != 0


async def test_connections_are_protocols_with_nodelay_and_a_bounded_send_buffer() -> None:
    """Issue 2, point 4 (and 3: the send buffer is sized so a stalled reader is found)."""
    async with running_server(send_buffer_bytes=32768) as server:
        c, _ = await RawClient.join(server.port, "ada")
        (conn,) = server._connections
        assert isinstance(conn, asyncio.Protocol) and not isinstance(conn, asyncio.StreamReader)
        assert isinstance(conn, TcpConnection) and conn.transport is not None
        sock = conn.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        # Linux doubles the value set (bookkeeping); the OS default would be far larger
        assert 32768 <= sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * 32768
        await c.close()
