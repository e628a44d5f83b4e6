"""A server with --tick-phases: rooms in different phases all tick, gap-free, at the tick rate."""

from __future__ import annotations

import asyncio

from support import RawClient, room_names_in_distinct_phases, running_server


async def test_rooms_in_every_phase_tick_gap_free_at_the_rate() -> None:
    async with running_server(tick_rate=50, tick_phases=4) as server:
        joined = [
            await RawClient.join(server.port, f"p{i}", room=name)
            for i, name in enumerate(room_names_in_distinct_phases(4))
        ]
        loop = asyncio.get_running_loop()
        start = loop.time()
        streams = await asyncio.gather(
            *(c.ticks_until(w.first_tick + 49, timeout=20) for c, w in joined)
        )
        elapsed = loop.time() - start
        for (c, w), ticks in zip(joined, streams, strict=True):
            numbers = [t.number for t in ticks]
            assert numbers == list(range(w.first_tick, w.first_tick + 50))
            await c.close()
        # 49 intervals at 50 Hz take at least 0.98 s on absolute deadlines; a room ticked at
        # every phase instead of once per interval would be done in a quarter of that
        # (a slow machine can only make this longer, never shorter)
        assert elapsed > 0.9, elapsed


async def test_one_room_costs_one_firing_per_interval_not_one_per_phase() -> None:
    async with running_server(tick_rate=20, tick_phases=8) as server:
        c, w = await RawClient.join(server.port, "ada")
        await c.ticks_until(w.first_tick + 1, timeout=20)
        before = server.wakeups
        ticks = await c.ticks_until(w.first_tick + 21, timeout=20)
        fired = server.wakeups - before
        # 20 ticks of the one room, plus the housekeeping timer (once a second): with
        # every phase firing it was about 8 x 20
        assert len(ticks) == 20
        assert fired <= 20 + 5, fired
        await c.close()
