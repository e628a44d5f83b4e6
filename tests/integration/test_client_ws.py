"""The SDK client over WebSocket (`websocket_path="/ws"`): the same ticks as a
TCP client, and seamless resume when a proxy keeps cutting its connections."""

from __future__ import annotations

import asyncio
import random

from support import RESILIENT_CLIENT
from test_client_resume import collect, wait_for  # the TCP version of this test
from ws_support import http_server

import tickcast
from tickcast.client import Client, Tick
from tickcast.testing import ChaosProxy

CHAOS_SECONDS = 3.0


async def test_ws_clients_resume_through_cuts_and_match_a_tcp_reference() -> None:
    async with http_server(tick_rate=50, idle_timeout=0) as (server, http):
        reference_ticks: list[Tick] = []
        reference = await tickcast.connect(
            "127.0.0.1", server.port, player_id="ref", room="mix", spectator=True
        )
        ref_task = asyncio.create_task(collect(reference, reference_ticks))
        async with ChaosProxy(http.port, seed=11, min_life=0.1, max_life=0.8) as proxy:
            players = [
                Client(
                    "127.0.0.1",
                    proxy.port,
                    player_id=f"ws{i}",
                    room="mix",
                    websocket_path="/ws",
                    **RESILIENT_CLIENT,
                )
                for i in range(2)
            ]
            for p in players:
                await p.start()
            streams: list[list[Tick]] = [[] for _ in players]
            consumers = [
                asyncio.create_task(collect(p, s)) for p, s in zip(players, streams, strict=True)
            ]
            sent: list[list[int]] = [[] for _ in players]
            rnd = random.Random(3)
            loop = asyncio.get_running_loop()
            end = loop.time() + CHAOS_SECONDS
            while loop.time() < end:
                for p, s in zip(players, sent, strict=True):
                    s.append(p.send(f"{p.player_id}:{len(s)}".encode()))
                await asyncio.sleep(rnd.uniform(0.005, 0.03))
            proxy.cutting = False
            await wait_for(lambda: all(p.pending_inputs == 0 for p in players), 30, "inputs")
            target = max(s[-1].number for s in streams if s)
            await wait_for(lambda: reference_ticks[-1].number >= target, 30, "the reference")
            assert proxy.cuts > 0 and sum(p.reconnects for p in players) > 0
            by_number = {t.number: t for t in reference_ticks}
            for p, stream in zip(players, streams, strict=True):
                assert not p.closed, p.error
                numbers = [t.number for t in stream]
                assert numbers == list(range(numbers[0], numbers[-1] + 1)), "a gap or repeat"
                for t in stream:
                    assert t == by_number[t.number]
            for p, seqs in zip(players, sent, strict=True):
                relayed = [
                    i.seq for t in reference_ticks for i in t.inputs if i.slot == p.slot
                ]
                assert relayed == seqs  # every input exactly once, in order
            for c in consumers:
                c.cancel()
            for p in players:
                await p.close()
        ref_task.cancel()
        await reference.close()


async def test_writes_after_the_websocket_began_closing_are_dropped() -> None:
    # the client's ping timer may fire between the server's close frame and the
    # end of the connection: that write must be dropped, as on a closing TCP transport
    async with http_server() as (_, http):
        client = Client("127.0.0.1", http.port, player_id="ada", websocket_path="/ws")
        await client.start()
        conn = client._conn
        assert conn is not None
        conn.ws.send_close()  # type: ignore[attr-defined]  # now CLOSING
        conn.write(b"\x02\x1a\x00")  # a framed Ping: must not raise
        await client.close(leave=False)
