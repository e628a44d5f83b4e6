"""Issue 15 items 6 and 7 on the WebSocket transport: an unmasked client frame
fails the connection with close 1002 (RFC 6455 5.1), and every byte a client
sends, pings included, counts against --recv-bytes-per-second. Honest clients
on the same server lose nothing.

The hostile clients here speak WebSocket over a raw socket, so they can send
what no library sends: unmasked frames, a frame right behind the upgrade
request, a flood of pings.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from support import RawClient, wait_for
from websockets.frames import Close, Frame, Opcode
from ws_support import RawWs, WsClient, client_frame, hello, http_server, message

from tickcast.http import HttpService
from tickcast.http.wsguard import UNMASKED
from tickcast.proto import pb


def kick_and_code(frames: list[Frame]) -> tuple[pb.Kick, int]:
    """The last message before the close frame must be a Kick: it and the close code."""
    *messages, closing = frames
    last = pb.ServerMessage.FromString(messages[-1].data)
    assert last.HasField("kick"), messages
    return last.kick, Close.parse(closing.data).code


async def honest_player(server: Any, http: HttpService) -> tuple[WsClient, RawClient]:
    """A WebSocket player and a TCP player in one room, to show nothing is lost."""
    tcp, _ = await RawClient.join(server.port, "tcp-player", "honest")
    ws, _ = await WsClient.join(http, "ws-player", "honest")
    return ws, tcp


async def still_playing(ws: WsClient, tcp: RawClient, seq: int) -> None:
    """The honest WebSocket player's input reaches the TCP player, once."""
    await ws.send_input(seq, b"honest-%d" % seq)
    seen: list[bytes] = []
    while not seen:
        tick = await tcp.next_tick(10)
        seen = [i.payload for i in tick.inputs]
    assert seen == [b"honest-%d" % seq]


@pytest.mark.parametrize("when", ["hello", "after_welcome", "behind_the_upgrade"])
async def test_an_unmasked_client_frame_fails_the_connection_with_1002(
    when: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tickcast")
    async with http_server() as (server, http):
        ws, tcp = await honest_player(server, http)
        unmasked_hello = client_frame(Opcode.BINARY, hello("mallory", "honest"), mask=False)
        if when == "behind_the_upgrade":
            c = await RawWs.connect(http, then=unmasked_hello)
        else:
            c = await RawWs.connect(http)
            if when == "hello":
                c.send(unmasked_hello)
            else:
                c.send(client_frame(Opcode.BINARY, hello("mallory", "honest")))
                # an input in an unmasked frame, between two masked pings
                inp = message(input=pb.Input(seq=1, payload=b"forged"))
                c.send(
                    client_frame(Opcode.PING, b"a")
                    + client_frame(Opcode.BINARY, inp, mask=False)
                    + client_frame(Opcode.PING, b"b")
                )
        frames = await c.frames_until_close()
        kick, code = kick_and_code(frames)
        assert kick.reason == pb.REASON_PROTOCOL_ERROR and kick.detail == UNMASKED
        assert code == 1002
        welcomed = any(pb.ServerMessage.FromString(f.data).HasField("welcome")
                       for f in frames if f.opcode is Opcode.BINARY)  # fmt: skip
        assert welcomed == (when == "after_welcome")
        await c.close()
        await still_playing(ws, tcp, 1)  # and the forged input was never relayed
        assert server.relay.kicks[pb.REASON_PROTOCOL_ERROR] == 1
        lines = [r for r in caplog.records if UNMASKED in r.getMessage()]
        assert len(lines) == 1 and lines[0].levelname == "INFO"
        await ws.close()
        await tcp.close()


async def test_pings_count_against_the_receive_rate() -> None:
    """A client that sends nothing but pings (which aiohttp answers itself) is held
    to --recv-bytes-per-second like any other bytes: RATE_LIMITED, close 1008."""
    async with http_server(recv_bytes_per_second=4096, max_frame=1024) as (server, http):
        ws, tcp = await honest_player(server, http)
        c = await RawWs.connect(http)
        c.send(client_frame(Opcode.BINARY, hello("pinger", "pings")))
        ping = client_frame(Opcode.PING, b"p" * 125)  # 131 bytes on the wire
        for _ in range(60):  # 7.9 KB at once: over the bucket of one second (4 KiB)
            c.send(ping)
        frames = await c.frames_until_close()
        kick, code = kick_and_code(frames)
        assert kick.reason == pb.REASON_RATE_LIMITED and code == 1008
        assert "bytes per second" in kick.detail
        pongs = sum(f.opcode is Opcode.PONG for f in frames)
        assert pongs < 60  # the pings past the budget were not even answered
        await c.close()
        await still_playing(ws, tcp, 1)
        assert server.relay.kicks[pb.REASON_RATE_LIMITED] == 1
        await ws.close()
        await tcp.close()


async def test_every_byte_a_websocket_client_sends_is_counted() -> None:
    """bytes_received counts frame headers and control frames too (it counted only
    the messages' bodies), as TCP counts every byte."""
    async with http_server() as (server, http):
        c = await RawWs.connect(http)
        sent = client_frame(Opcode.BINARY, hello("counted", "c"))
        sent += client_frame(Opcode.PING, b"x" * 100) + client_frame(Opcode.PONG, b"y" * 50)
        c.send(sent)

        def received() -> int:
            ws = [s for s in server.relay.sessions if s.transport == "ws"]
            return ws[0].bytes_received if ws else 0

        await wait_for(lambda: received() >= len(sent))
        assert received() == len(sent)
        await c.close()
