"""Every Kick reason of the core, over real TCP sockets.

Each test checks the reason, that the Kick is the last frame, and that the
server then closes the socket (`expect_final_kick` requires EOF after it).
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from support import (
    RawClient,
    SocketClient,
    client_frame,
    expect_final_kick,
    hello_frame,
    input_frame,
    join_two_and_drop_one,
    running_server,
    wait_until,
)

from tickcast import wire
from tickcast.proto import pb


@pytest.mark.parametrize(
    "first_bytes",
    [
        pytest.param(b"\x05\xff\xff\xff\xff\xff", id="undecodable-body"),
        pytest.param(b"\x80\x80\x80\x80\x80\x01", id="varint-over-5-bytes"),
        pytest.param(input_frame(1, b"x"), id="input-before-hello"),
        pytest.param(client_frame(ping=pb.Ping(nonce=7)), id="ping-before-hello"),
        pytest.param(wire.frame(b""), id="empty-message"),
    ],
)
async def test_protocol_error_before_hello(first_bytes: bytes) -> None:
    async with running_server() as server:
        c = await RawClient.connect(server.port)
        c.send(first_bytes)
        kick = await expect_final_kick(c)
        assert kick.reason == pb.REASON_PROTOCOL_ERROR
        assert kick.detail
        assert len(c.raw) == 1  # the Kick and nothing before it
        await c.close()


async def test_protocol_error_after_welcome() -> None:
    """A second Hello, or garbage, from a joined player ends it with PROTOCOL_ERROR."""
    async with running_server() as server:
        a, _ = await RawClient.join(server.port, "ada")
        a.send(hello_frame("ada"))
        assert (await expect_final_kick(a)).reason == pb.REASON_PROTOCOL_ERROR
        b, _ = await RawClient.join(server.port, "bob")
        b.send(b"\x03\xff\xff\xff")
        assert (await expect_final_kick(b)).reason == pb.REASON_PROTOCOL_ERROR
        s, _ = await RawClient.join(server.port, "eve", spectator=True)
        s.send_input(1, b"spectators send no inputs")
        assert (await expect_final_kick(s)).reason == pb.REASON_PROTOCOL_ERROR
        for c in (a, b, s):
            await c.close()


async def test_handshake_timeout() -> None:
    async with running_server(handshake_timeout=0.2) as server:
        silent = await RawClient.connect(server.port)
        # half a Hello is not a Hello either
        partial = await RawClient.connect(server.port)
        partial.send(hello_frame("ada")[:4])
        for c in (silent, partial):
            kick = await expect_final_kick(c)
            assert kick.reason == pb.REASON_HANDSHAKE_TIMEOUT
            assert len(c.raw) == 1
            await c.close()
        # a client that says Hello in time is not affected by the timer afterwards
        ok, welcome = await RawClient.join(server.port, "bob")
        await ok.ticks_until(welcome.first_tick + 20)
        await ok.close()


async def test_version_mismatch() -> None:
    async with running_server() as server:
        for version in (0, 2):
            c = await RawClient.connect(server.port)
            c.send(hello_frame("ada", protocol_version=version))
            kick = await expect_final_kick(c)
            assert kick.reason == pb.REASON_VERSION_MISMATCH
            assert len(c.raw) == 1
            await c.close()


async def test_replaced() -> None:
    async with running_server() as server:
        first, w1 = await RawClient.join(server.port, "ada")
        second, w2 = await RawClient.join(server.port, "ada")
        kick = await expect_final_kick(first)
        assert kick.reason == pb.REASON_REPLACED
        assert w2.slot == w1.slot
        # the newer connection goes on
        await second.ticks_until(w2.first_tick + 2)
        await second.close()
        await first.close()


async def test_frame_too_large_refused_on_the_prefix() -> None:
    """Only the length prefix is sent: the server must refuse without waiting for the body."""
    async with running_server(max_frame=1024) as server:
        c = await RawClient.connect(server.port)
        c.send(wire.encode_varint(1025))
        kick = await expect_final_kick(c)
        assert kick.reason == pb.REASON_FRAME_TOO_LARGE
        await c.close()
        # also once joined
        j, _ = await RawClient.join(server.port, "ada")
        j.send(wire.encode_varint(1 << 20))
        assert (await expect_final_kick(j)).reason == pb.REASON_FRAME_TOO_LARGE
        await j.close()
        # a frame of exactly max_frame is fine
        k, welcome = await RawClient.join(server.port, "bob")
        body = pb.ClientMessage(input=pb.Input(seq=1, payload=b"p" * 1000)).SerializeToString()
        body = pb.ClientMessage(
            input=pb.Input(seq=1, payload=b"p" * (1000 + 1024 - len(body)))
        ).SerializeToString()
        assert len(body) == 1024
        k.send(wire.frame(body))
        while not (tick := await k.next_tick()).inputs:
            pass
        assert [i.seq for i in tick.inputs] == [1]
        await k.close()


async def test_room_full() -> None:
    async with running_server(max_players=2) as server:
        a, _ = await RawClient.join(server.port, "ada")
        b, _ = await RawClient.join(server.port, "bob")
        c = await RawClient.connect(server.port)
        c.send(hello_frame("cyd"))
        kick = await expect_final_kick(c)
        assert kick.reason == pb.REASON_ROOM_FULL
        assert len(c.raw) == 1
        # spectators hold no slot, another room is another count, a member may reconnect
        s, _ = await RawClient.join(server.port, "sam", spectator=True)
        o, _ = await RawClient.join(server.port, "cyd", room="other")
        a2, wa2 = await RawClient.join(server.port, "ada")
        assert wa2.slot == 1
        assert (await expect_final_kick(a)).reason == pb.REASON_REPLACED
        for x in (a, a2, b, c, s, o):
            await x.close()


async def test_resume_unavailable() -> None:
    # history_seconds=0.1 at 50 Hz keeps 6 ticks
    async with running_server(history_seconds=0.1) as server:
        a, wa = await RawClient.join(server.port, "ada")
        await a.ticks_until(wa.first_tick + 2)

        # a tick that was never sent
        c = await RawClient.connect(server.port)
        c.send(hello_frame("bob", resume_after=10**9))
        assert (await expect_final_kick(c)).reason == pb.REASON_RESUME_UNAVAILABLE
        assert len(c.raw) == 1
        await c.close()

        # ticks no longer kept
        b, wb = await RawClient.join(server.port, "bob")
        first = (await b.next_tick()).number
        await b.close()
        await a.ticks_until(first + 30)
        c = await RawClient.connect(server.port)
        c.send(hello_frame("bob", resume_after=first))
        kick = await expect_final_kick(c)
        assert kick.reason == pb.REASON_RESUME_UNAVAILABLE
        assert "no longer kept" in kick.detail
        await c.close()

        # a late join that wants the whole history, which is gone
        c = await RawClient.connect(server.port)
        c.send(hello_frame("cyd", full_history=True))
        assert (await expect_final_kick(c)).reason == pb.REASON_RESUME_UNAVAILABLE
        await c.close()
        await a.close()


async def test_resume_unavailable_after_the_grace() -> None:
    async with running_server(reconnect_grace=0.05) as server:
        a, _, wb, last = await join_two_and_drop_one(server.port)
        # wait until ada sees bob leave (the grace ran out)
        while True:
            t = await a.next_tick()
            if wb.slot in t.left:
                break
        c = await RawClient.connect(server.port)
        c.send(hello_frame("bob", resume_after=last))
        kick = await expect_final_kick(c)
        assert kick.reason == pb.REASON_RESUME_UNAVAILABLE
        await a.close()
        await c.close()


async def test_server_shutdown_reaches_every_connection() -> None:
    async with running_server() as server:
        player, _ = await RawClient.join(server.port, "ada")
        spectator, _ = await RawClient.join(server.port, "sam", spectator=True)
        in_handshake = await RawClient.connect(server.port)
        half_hello = await RawClient.connect(server.port)
        await wait_until(lambda: server.connection_count == 4, what="4 connections")
        # Bytes still unread by the server when it closes (a player streaming
        # inputs, a Hello on its way) must not turn its close into a reset that
        # destroys the Kick: written in the same loop step as close(), they are
        # in the server's socket buffer, unread, when the server closes.
        player.send_input(1, b"in flight")
        half_hello.send(hello_frame("bob")[:3])
        server.close()
        for c in (player, spectator, in_handshake, half_hello):
            kick = await expect_final_kick(c)
            assert kick.reason == pb.REASON_SERVER_SHUTDOWN
            await c.close()
        assert len(in_handshake.raw) == 1
        await server.wait_closed()
        assert server.connection_count == 0


async def test_idle_timeout() -> None:
    async with running_server(idle_timeout=0.3) as server:
        idle, _ = await RawClient.join(server.port, "ada")
        busy, wb = await RawClient.join(server.port, "bob")
        kicked = asyncio.ensure_future(expect_final_kick(idle, timeout=10))
        seen = 0
        # bob keeps pinging; ada sends nothing and is kicked
        while not kicked.done():
            busy.send(client_frame(ping=pb.Ping(nonce=seen)))
            msg = await busy.next_message()
            assert not msg.HasField("kick"), msg
            seen += 1
            await asyncio.sleep(0.05)
        assert kicked.result().reason == pb.REASON_IDLE_TIMEOUT
        # and bob is still there
        busy.send(client_frame(ping=pb.Ping(nonce=424242)))
        while True:
            msg = await busy.next_message()
            assert not msg.HasField("kick"), msg
            if msg.HasField("pong") and msg.pong.nonce == 424242:
                break
        await idle.close()
        await busy.close()


async def test_slow_consumer_kick(caplog: pytest.LogCaptureFixture) -> None:
    """A member that stops reading is evicted with SLOW_CONSUMER (logged by the server).

    The Kick frame itself is best effort (the spec's words): an evicted
    connection has a full buffer, so the frame is usually dropped and the
    socket reset. What the client must see: its stream ends, and if a Kick is
    in it, it is SLOW_CONSUMER and last.
    """
    caplog.set_level(logging.INFO, logger="tickcast")
    async with running_server(queue_limit_bytes=64 * 1024, send_buffer_bytes=16 * 1024) as server:
        stalled = await SocketClient.connect(server.port, rcvbuf=4096)
        await stalled.send(hello_frame("slow"))
        sender, _ = await RawClient.join(server.port, "fast")
        reader = asyncio.ensure_future(_drain(sender))
        seq = 0

        def stalled_gone() -> bool:
            return not any(s.player_id == "slow" for s in server.relay.sessions)

        loop = asyncio.get_running_loop()
        end = loop.time() + 15
        while not stalled_gone():
            assert loop.time() < end, "the stalled client was never evicted"
            seq += 1
            sender.send_input(seq, bytes(2000))
            await asyncio.sleep(0.005)
        reader.cancel()
        assert "reason=SLOW_CONSUMER" in caplog.text
        frames: list[pb.ServerMessage] = []
        with pytest.raises((EOFError, ConnectionError)):
            while True:
                frames.append(await stalled.next_message(timeout=5))
        assert frames[0].HasField("welcome")
        kicks = [i for i, f in enumerate(frames) if f.HasField("kick")]
        if kicks:
            assert kicks == [len(frames) - 1]
            assert frames[-1].kick.reason == pb.REASON_SLOW_CONSUMER
        stalled.close()
        await sender.close()


async def _drain(c: RawClient) -> None:
    while True:
        await c.next_body(timeout=30)


async def test_a_kicked_client_that_never_closes_is_let_go() -> None:
    """The server lingers after a Kick (it reads until the peer's FIN, so unread
    input cannot turn its close into a reset), but only for `shutdown_timeout`."""
    async with running_server(shutdown_timeout=0.3) as server:
        c = await RawClient.connect(server.port)
        c.send(hello_frame("ada", protocol_version=9))
        assert (await expect_final_kick(c)).reason == pb.REASON_VERSION_MISMATCH
        # the client keeps its socket open and even writes more: still let go
        c.send(b"\x01\x02\x03")
        await wait_until(lambda: server.connection_count == 0, what="the server to let go")
        await c.close()
