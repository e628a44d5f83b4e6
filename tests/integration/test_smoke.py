"""The shortest end-to-end path: two players, inputs, identical ticks."""

from support import RawClient, running_server


async def test_two_players_see_the_same_ticks() -> None:
    async with running_server() as server:
        a, wa = await RawClient.join(server.port, "ada")
        b, wb = await RawClient.join(server.port, "bob")
        assert (wa.slot, wb.slot) == (1, 2)
        a.send_input(1, b"left")
        b.send_input(1, b"right")
        ta = await a.ticks_until(wb.first_tick + 3)
        tb = await b.ticks_until(wb.first_tick + 3)
        common = {t.number for t in ta} & {t.number for t in tb}
        assert len(common) >= 3
        by_a = {t.number: t.SerializeToString() for t in ta}
        by_b = {t.number: t.SerializeToString() for t in tb}
        assert all(by_a[n] == by_b[n] for n in common)
        payloads = [(i.slot, i.payload) for t in ta for i in t.inputs]
        assert (1, b"left") in payloads and (2, b"right") in payloads
        await a.close()
        await b.close()
