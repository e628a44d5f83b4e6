"""The spec's Presence rules, seen by clients over sockets."""

from __future__ import annotations

from support import (
    RawClient,
    client_frame,
    expect_final_kick,
    join_two_and_drop_one,
    running_server,
)

from tickcast.proto import pb


def members(welcome: pb.Welcome) -> list[tuple[int, str]]:
    return [(m.slot, m.player_id) for m in welcome.members]


def joined(tick: pb.Tick) -> list[tuple[int, str]]:
    return [(m.slot, m.player_id) for m in tick.joined]


async def next_presence_tick(c: RawClient) -> pb.Tick:
    """The next Tick with a join or a leave in it."""
    while True:
        t = await c.next_tick()
        if t.joined or t.left:
            return t


async def test_presence_rules() -> None:
    async with running_server(reconnect_grace=0.2) as server:
        # the first member: nobody before it; its own join is in its first tick
        ada, wa = await RawClient.join(server.port, "ada")
        assert members(wa) == []
        t = await ada.next_tick()
        assert t.number == wa.first_tick
        assert joined(t) == [(wa.slot, "ada")]

        # a later joiner: Welcome.members lists who was there; everybody,
        # the joiner included, sees the join in the same tick
        bob, wb = await RawClient.join(server.port, "bob")
        assert members(wb) == [(wa.slot, "ada")]
        tb = await bob.next_tick()
        assert tb.number == wb.first_tick
        assert joined(tb) == [(wb.slot, "bob")]
        ta = await next_presence_tick(ada)
        assert ta.SerializeToString() == tb.SerializeToString()

        cyd, wc = await RawClient.join(server.port, "cyd")
        assert members(wc) == [(wa.slot, "ada"), (wb.slot, "bob")]
        assert len({wa.slot, wb.slot, wc.slot}) == 3
        tc = await cyd.next_tick()
        assert joined(tc) == [(wc.slot, "cyd")]
        for c in (ada, bob):
            assert (await next_presence_tick(c)).number == tc.number

        # Leave: the slot is in Tick.left for the others at once; the leaver is let go
        bob.send(_leave())
        with_leave = await next_presence_tick(ada)
        assert list(with_leave.left) == [wb.slot] and not with_leave.joined
        assert (await next_presence_tick(cyd)).SerializeToString() == with_leave.SerializeToString()
        kick = await expect_final_kick(bob)  # the server closes the leaver's connection
        assert kick.reason == pb.REASON_UNSPECIFIED
        await bob.close()

        # a drop without Leave: the slot stays for the grace, then it is left
        await cyd.close()
        after_drop = await next_presence_tick(ada)
        assert list(after_drop.left) == [wc.slot] and not after_drop.joined

        # a joiner now sees only who is still there, and gets a fresh slot
        dan, wd = await RawClient.join(server.port, "dan")
        assert members(wd) == [(wa.slot, "ada")]
        assert wd.slot not in (wa.slot, wb.slot, wc.slot)
        td = await dan.next_tick()
        assert joined(td) == [(wd.slot, "dan")]

        # a player who comes back keeps its slot for the room's lifetime
        bob2, wb2 = await RawClient.join(server.port, "bob")
        assert wb2.slot == wb.slot
        assert members(wb2) == [(wa.slot, "ada"), (wd.slot, "dan")]
        assert joined(await bob2.next_tick()) == [(wb.slot, "bob")]

        # spectators appear in no presence list
        sam, ws = await RawClient.join(server.port, "sam", spectator=True)
        assert ws.slot == 0
        assert (wb.slot, "bob") in members(ws)
        ticks = await sam.ticks_until(ws.first_tick + 5)
        assert all(not t.joined and not t.left for t in ticks)
        assert all("sam" not in [m.player_id for m in t.joined] for t in ticks)
        for c in (ada, dan, bob2, sam):
            await c.close()


async def test_reconnect_within_grace_is_no_leave() -> None:
    async with running_server(reconnect_grace=30) as server:
        ada, wa, wb, last = await join_two_and_drop_one(server.port)
        bob2, wb2 = await RawClient.join(server.port, "bob", resume_after=last)
        assert wb2.first_tick == last + 1 and wb2.slot == wb.slot
        assert members(wb2) == []  # resume: no member list
        ticks = await ada.ticks_until(wb2.first_tick + 10)
        assert all(not t.left for t in ticks)
        # one join each (bob's reconnect is not a second join), no leave
        assert sorted(j for t in ticks for j in joined(t)) == [(wa.slot, "ada"), (wb.slot, "bob")]
        await ada.close()
        await bob2.close()


def _leave() -> bytes:
    return client_frame(leave=pb.Leave())
