"""Behaviours that docs/protocol.md tells client authors to rely on, checked
against a real server (the ones the spec leaves implicit)."""

from __future__ import annotations

import hashlib

from support import RawClient, client_frame, running_server, tick_content

from tickcast import wire
from tickcast.proto import pb


async def server_tick(client: RawClient, nonce: int) -> int:
    """The room's newest tick number, from a Ping (skipping ticks in between)."""
    client.send(client_frame(ping=pb.Ping(nonce=nonce)))
    while True:
        msg = await client.next_message()
        if msg.HasField("pong") and msg.pong.nonce == nonce:
            return msg.pong.tick


async def test_chain_runs_through_skipped_empty_ticks() -> None:
    """'The content of a skipped tick N is Tick{number = N}': a client can
    verify the chain across the gap."""
    async with running_server(skip_empty_ticks=True) as server:
        ada, _ = await RawClient.join(server.port, "ada", "arena")
        first = await ada.next_tick()
        nonce = 0
        while await server_tick(ada, nonce) < first.number + 3:  # some empty ticks pass
            nonce += 1
        ada.send_input(1, b"L")
        later = await ada.next_tick()
        assert later.number > first.number + 1, "expected skipped ticks in between"
        chain = first.chain
        for n in range(first.number + 1, later.number):
            skipped = b"\x08" + wire.encode_varint(n)
            chain = hashlib.blake2b(chain + skipped, digest_size=32).digest()
        assert later.chain == hashlib.blake2b(chain + tick_content(later), digest_size=32).digest()
        await ada.close()


async def test_joiner_sees_itself_joined_and_leaver_gets_a_final_kick() -> None:
    async with running_server() as server:
        ada, wa = await RawClient.join(server.port, "ada", "arena")
        await ada.next_tick()  # ada's join has taken effect: she is in the room before bob
        bob, wb = await RawClient.join(server.port, "bob", "arena")
        assert [(m.slot, m.player_id) for m in wb.members] == [(wa.slot, "ada")]
        first = await bob.next_tick()
        assert first.number == wb.first_tick
        assert (wb.slot, "bob") in [(m.slot, m.player_id) for m in first.joined]
        bob.send(client_frame(leave=pb.Leave()))
        kick = await bob.expect_kick()
        assert kick.reason == pb.REASON_UNSPECIFIED and kick.detail == "left the room"
        while True:
            tick = await ada.next_tick()
            if wb.slot in tick.left:
                break
        await ada.close()
