"""The WebSocket transport: a full peer of TCP (relay, resume, mixed rooms),
its refusals, and the close codes that follow a Kick."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest
from support import RawClient
from websockets.exceptions import InvalidStatus
from ws_support import WsClient, hello, http_server, message, ticks_by_number

from tickcast import wire
from tickcast.proto import pb


async def test_ws_players_see_the_same_ticks() -> None:
    async with http_server() as (_, http):
        a, wa = await WsClient.join(http, "ada")
        b, wb = await WsClient.join(http, "bob")
        assert (wa.slot, wb.slot) == (1, 2)
        await a.send_input(1, b"left")
        await b.send_input(1, b"right")
        ta = await a.ticks_until(wb.first_tick + 3)
        tb = await b.ticks_until(wb.first_tick + 3)
        by_a = {t.number: t.SerializeToString() for t in ta}
        by_b = {t.number: t.SerializeToString() for t in tb}
        common = set(by_a) & set(by_b)
        assert len(common) >= 3
        assert all(by_a[n] == by_b[n] for n in common)
        payloads = [(i.slot, i.payload) for t in ta for i in t.inputs]
        assert (1, b"left") in payloads and (2, b"right") in payloads
        await a.close()
        await b.close()


async def test_ws_resume_gets_every_tick_after_n() -> None:
    async with http_server(reconnect_grace=30.0) as (_, http):
        a, _ = await WsClient.join(http, "ada")
        await a.send_input(1, b"one")
        seen = await a.ticks_until(3)
        n = seen[-1].number
        await a.close()  # dropped, not left: the slot waits for the grace
        await asyncio.sleep(0.1)  # let a few ticks pass while away
        b, wb = await WsClient.join(http, "ada", resume_after=n)
        assert wb.first_tick == n + 1
        assert wb.last_seq == 1
        after = await b.ticks_until(n + 5)
        assert [t.number for t in after] == list(range(n + 1, n + 6))
        await b.close()


async def test_mixed_tcp_and_ws_room_gets_byte_identical_ticks() -> None:
    async with http_server() as (server, http):
        t, wt = await RawClient.join(server.port, "tcp-player")
        w, ww = await WsClient.join(http, "ws-player")
        t.send_input(1, b"from tcp")
        await w.send_input(1, b"from ws")
        first = max(wt.first_tick, ww.first_tick)
        await t.ticks_until(first + 4)
        await w.ticks_until(first + 4)
        tcp_ticks = ticks_by_number(t.raw)
        ws_ticks = ticks_by_number(w.raw)
        common = set(tcp_ticks) & set(ws_ticks)
        assert len(common) >= 4
        for n in common:
            assert tcp_ticks[n] == ws_ticks[n], f"tick {n} differs between transports"
        payloads = {
            i.payload for n in common for i in pb.ServerMessage.FromString(ws_ticks[n]).tick.inputs
        }
        assert {b"from tcp", b"from ws"} <= payloads
        await t.close()
        await w.close()


@pytest.mark.parametrize(
    ("setting", "joined", "sent", "reason", "code"),
    [
        # a text message: PROTOCOL_ERROR, 1003 unsupported data
        ({}, True, "hello as text", pb.REASON_PROTOCOL_ERROR, 1003),
        # bytes that are no ClientMessage: PROTOCOL_ERROR, 1002
        ({}, False, b"\xff\xff\xff", pb.REASON_PROTOCOL_ERROR, 1002),
        # over max_frame, joined or still in the handshake: FRAME_TOO_LARGE, 1009
        (
            {"max_frame": 1024},
            True,
            message(input=pb.Input(seq=1, payload=b"x" * 2000)),
            pb.REASON_FRAME_TOO_LARGE,
            1009,
        ),
        (
            {"max_frame": 256},
            False,
            hello("ada", token="t" * 400),
            pb.REASON_FRAME_TOO_LARGE,
            1009,
        ),
    ],
    ids=["text", "garbage", "too-large", "too-large-hello"],
)
async def test_refusals(
    setting: dict[str, int], joined: bool, sent: str | bytes, reason: int, code: int
) -> None:
    async with http_server(**setting) as (_, http):
        if joined:
            c, _ = await WsClient.join(http, "ada")
        else:
            c = await WsClient.connect(http)
        await c.ws.send(sent)
        kick, close_code = await c.expect_kick()
        assert kick.reason == reason
        assert close_code == code


async def test_compression_is_never_negotiated() -> None:
    async with http_server() as (_, http):
        c = await WsClient.connect(http, compression="deflate")
        assert c.ws.protocol.extensions == []
        assert "Sec-WebSocket-Extensions" not in c.ws.response.headers
        await c.close()


async def test_a_message_of_exactly_max_frame_bytes_is_accepted_as_over_tcp() -> None:
    async with http_server(max_frame=1024) as (server, http):
        def sized(seq: int, size: int) -> bytes:
            """An Input message of exactly `size` bytes."""
            for k in range(size, 0, -1):
                body = message(input=pb.Input(seq=seq, payload=b"x" * k))
                if len(body) == size:
                    return body
            raise AssertionError(size)

        tcp, _ = await RawClient.join(server.port, "tcp")
        tcp.send(wire.frame(sized(1, 1024)))
        c, _ = await WsClient.join(http, "ws")
        await c.ws.send(sized(1, 1024))
        got: set[str] = set()
        while got != {"tcp", "ws"}:
            tick = await c.next_tick()
            got |= {("tcp" if i.slot == 1 else "ws") for i in tick.inputs if len(i.payload) > 1000}
        await c.ws.send(sized(2, 1025))
        kick, code = await c.expect_kick()
        assert kick.reason == pb.REASON_FRAME_TOO_LARGE and code == 1009
        await tcp.close()


async def test_a_compressed_frame_is_refused() -> None:
    """A frame with RSV1 (permessage-deflate's "compressed" bit) although no
    extension was negotiated: a protocol error, never inflated."""
    async with http_server() as (_, http):
        c = await WsClient.connect(http)
        body = hello("ada")
        assert len(body) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(body))
        # FIN + RSV1 + binary opcode; MASK + 7-bit length (RFC 6455 5.2)
        c.ws.transport.write(bytes((0x80 | 0x40 | 0x2, 0x80 | len(body))) + mask + masked)
        kick, code = await c.expect_kick()
        assert kick.reason == pb.REASON_PROTOCOL_ERROR
        assert code == 1002


async def test_limits_apply_over_ws() -> None:
    async with http_server(max_players=1, input_rate=5.0, input_burst=5) as (_, http):
        ada, _ = await WsClient.join(http, "ada")
        full = await WsClient.connect(http)
        await full.ws.send(hello("bob"))
        kick, code = await full.expect_kick()
        assert kick.reason == pb.REASON_ROOM_FULL and code == 1013
        for seq in range(1, 41):  # 40 inputs at once: far over a burst of 5
            await ada.send_input(seq, b"x")
        kick, code = await ada.expect_kick()
        assert kick.reason == pb.REASON_RATE_LIMITED and code == 1008


async def test_origin_restriction() -> None:
    async with http_server(ws_allowed_origins="https://game.example, https://b.example/") as (
        _,
        http,
    ):
        with pytest.raises(InvalidStatus) as refused:
            await WsClient.connect(http, origin="https://evil.example")
        assert refused.value.response.status_code == 403
        ok = await WsClient.connect(http, origin="https://b.example")
        await ok.ws.send(hello("ada"))
        assert (await ok.next_message()).HasField("welcome")
        await ok.close()
        no_origin = await WsClient.connect(http)  # not a browser: no Origin header
        await no_origin.close()


async def test_replaced_connection_gets_kick_and_policy_close() -> None:
    async with http_server() as (_, http):
        old, _ = await WsClient.join(http, "ada")
        new, _ = await WsClient.join(http, "ada")
        kick, code = await old.expect_kick()
        assert kick.reason == pb.REASON_REPLACED
        assert code == 1008
        await new.close()


async def test_leave_closes_normally() -> None:
    async with http_server() as (_, http):
        c, _ = await WsClient.join(http, "ada")
        await c.ws.send(message(leave=pb.Leave()))
        kick, code = await c.expect_kick()
        assert kick.reason == pb.REASON_UNSPECIFIED
        assert code == 1000


async def test_shutdown_kicks_ws_clients_with_going_away() -> None:
    async with http_server() as (server, http):
        c, _ = await WsClient.join(http, "ada")
        await c.next_tick()
        server.close()
        kick, code = await c.expect_kick()
        assert kick.reason == pb.REASON_SERVER_SHUTDOWN
        assert code == 1001


async def test_full_history_catch_up_over_ws() -> None:
    async with http_server(history_seconds=10.0) as (_, http):
        a, _ = await WsClient.join(http, "ada")
        for seq in range(1, 40):
            await a.send_input(seq, b"p" * 200)
        await a.ticks_until(20)
        late, wl = await WsClient.join(http, "late", full_history=True)
        assert wl.first_tick == 1
        ticks = await late.ticks_until(25)
        assert [t.number for t in ticks] == list(range(1, ticks[-1].number + 1))
        got = [i.seq for t in ticks for i in t.inputs if i.slot == 1]
        assert got == list(range(1, 40))
        await a.close()
        await late.close()


async def test_ws_slow_consumer_is_cut_and_the_room_goes_on() -> None:
    import socket

    from websockets.asyncio.client import connect

    async with http_server(queue_limit_bytes=16384, max_frame=65536) as (server, http):
        fast, _ = await RawClient.join(server.port, "fast")
        # a reader with a tiny receive buffer that stops reading after its Welcome
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(http.address.rsplit(":", 1)[1])))
        sock.setblocking(False)
        slow = await connect(
            http.address.replace("http", "ws") + "/ws", sock=sock, compression=None, max_queue=1
        )
        await slow.send(hello("slow"))
        assert pb.ServerMessage.FromString(await slow.recv()).HasField("welcome")
        for seq in range(1, 200):  # 30 KB a tick: far more than 16 KiB + kernel buffers
            fast.send_input(seq, b"z" * 30000)
            await fast.next_tick()
            if server.relay.kicks[pb.REASON_SLOW_CONSUMER]:
                break
        assert server.relay.kicks[pb.REASON_SLOW_CONSUMER] == 1
        # the room goes on for the fast player
        before = (await fast.next_tick()).number
        assert (await fast.next_tick()).number == before + 1
        await fast.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(slow.close(), 2)


async def test_handshake_and_idle_timeouts_over_ws() -> None:
    async with http_server(handshake_timeout=0.3, idle_timeout=0.5) as (_, http):
        silent = await WsClient.connect(http)
        idle, _ = await WsClient.join(http, "idle")
        kick, code = await silent.expect_kick(timeout=10)
        assert kick.reason == pb.REASON_HANDSHAKE_TIMEOUT and code == 1008
        kick, code = await idle.expect_kick(timeout=10)
        assert kick.reason == pb.REASON_IDLE_TIMEOUT and code == 1008


async def test_ws_spectator_watches_and_may_not_send_inputs() -> None:
    async with http_server() as (server, http):
        player, _ = await RawClient.join(server.port, "ada")
        watcher, welcome = await WsClient.join(http, "eve", spectator=True)
        assert welcome.slot == 0
        player.send_input(1, b"move")
        ticks = [await watcher.next_tick()]
        while not any(i.payload == b"move" for i in ticks[-1].inputs):
            ticks.append(await watcher.next_tick())
        assert ticks[0].number == welcome.first_tick
        assert all(m.player_id != "eve" for t in ticks for m in t.joined)
        await watcher.send_input(1, b"cheat")
        kick, code = await watcher.expect_kick()
        assert kick.reason == pb.REASON_PROTOCOL_ERROR and code == 1002
        await player.close()
