"""Limits and containment over real sockets: each limit answers with its Kick reason."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from support import (
    RawClient,
    client_frame,
    hello_frame,
    input_frame,
    running_server,
    wait_for,
)

from tickcast.proto import pb
from tickcast.room import Room


async def test_fifty_joins_racing_for_eight_places_never_exceed_them() -> None:
    async with running_server(max_players=8) as server:
        async def join(i: int) -> tuple[RawClient, pb.ServerMessage]:
            c = await RawClient.connect(server.port)
            c.send(hello_frame(f"p{i}", "race"))
            return c, await c.next_message()

        results = await asyncio.gather(*(join(i) for i in range(50)))
        welcomed = [m for _, m in results if m.HasField("welcome")]
        full = [m for _, m in results if m.HasField("kick")]
        assert len(welcomed) == 8
        assert len(full) == 42 and {m.kick.reason for m in full} == {pb.REASON_ROOM_FULL}
        assert sorted(m.welcome.slot for m in welcomed) == list(range(1, 9))
        assert server.relay.rooms["race"].members == 8
        print(f"\nFIGURE race: 50 joins for 8 places: welcomed={len(welcomed)} full={len(full)}")
        for c, _ in results:
            await c.close()


async def test_rooms_in_total_are_limited() -> None:
    async with running_server(max_rooms=2) as server:
        a, _ = await RawClient.join(server.port, "a", "one")
        b, _ = await RawClient.join(server.port, "b", "two")
        c = await RawClient.connect(server.port)
        c.send(hello_frame("c", "three"))
        kick = await c.expect_kick()
        assert kick.reason == pb.REASON_ROOM_FULL and "rooms" in kick.detail
        assert set(server.relay.rooms) == {"one", "two"}
        d, _ = await RawClient.join(server.port, "d", "one")  # existing rooms still open
        for x in (a, b, c, d):
            await x.close()


@pytest.mark.parametrize(
    ("limit", "detail"),
    [("max_connections_per_host", "address"), ("max_connections", "connection limit")],
)
async def test_connections_refused_before_a_session_exists(limit: str, detail: str) -> None:
    async with running_server(**{limit: 3}) as server:
        server.admission.exempt_loopback = False  # the test's peers are all loopback
        held = [await RawClient.connect(server.port) for _ in range(3)]
        await wait_for(lambda: server.admission.total == 3)
        extra = await RawClient.connect(server.port)
        kick = await extra.expect_kick()
        assert kick.reason == pb.REASON_RATE_LIMITED and detail in kick.detail
        assert len(server.relay.sessions) == 3  # no session was made for the refused one
        assert server.admission.refused == 1
        for c in held:
            await c.close()
        await wait_for(lambda: server.admission.total == 0)
        ok, _ = await RawClient.join(server.port, "after")  # places come back
        await ok.close()


async def test_per_tick_byte_budget_caps_one_players_inputs() -> None:
    async with running_server(input_bytes_per_tick=4096, tick_rate=5) as server:
        a, _ = await RawClient.join(server.port, "a")
        b, wb = await RawClient.join(server.port, "b")
        # three 2000-byte inputs in one write: the third passes the 4096-byte budget
        a.send(b"".join(input_frame(i, bytes(2000)) for i in (1, 2, 3)))
        kick = await a.expect_kick()
        assert kick.reason == pb.REASON_RATE_LIMITED and "4096" in kick.detail
        ticks = await b.ticks_until(wb.first_tick + 2, timeout=10)
        from_a = sum(len(i.payload) for t in ticks for i in t.inputs if i.slot == 1)
        assert from_a <= 4096
        print(f"\nFIGURE per-tick budget 4096 B: 6000 B sent in one tick, {from_a} B relayed")
        await b.close()


async def test_bytes_per_second_per_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with running_server(recv_bytes_per_second=65536, max_frame=1024) as server:
        a, _ = await RawClient.join(server.port, "a")
        ping = client_frame(ping=pb.Ping(nonce=1))
        a.send(ping * (200_000 // len(ping)))  # ~200 kB at once, the bucket holds 64 kB
        # the Kick is best effort: closing on unread bytes may reset the connection first
        with contextlib.suppress(ConnectionError, EOFError):
            kick = await a.expect_kick()
            assert kick.reason == pb.REASON_RATE_LIMITED and "bytes per second" in kick.detail
        await wait_for(lambda: not server.relay.sessions)
        assert any("reason=RATE_LIMITED" in r.getMessage() for r in caplog.records)


async def test_names_must_be_printable() -> None:
    async with running_server() as server:
        for pid, room in [("ev\nil", "r"), ("a\x1b[31m", "r"), (" pad", "r"), ("ok", "r\x00")]:
            c = await RawClient.connect(server.port)
            c.send(hello_frame(pid, room))
            kick = await c.expect_kick()
            assert kick.reason == pb.REASON_PROTOCOL_ERROR and "printable" in kick.detail
        c, w = await RawClient.join(server.port, "Zoë 2", "salle à manger")
        assert w.slot == 1
        await c.close()


async def test_name_length_is_a_flag() -> None:
    async with running_server(max_name_bytes=8) as server:
        for pid, room in [("ninechars", "r"), ("ok", "room-nine"), ("éééé", "r")]:  # 9, 9, 8 B
            c = await RawClient.connect(server.port)
            c.send(hello_frame(pid, room))
            if pid == "éééé":
                assert (await c.next_message()).HasField("welcome")
                await c.close()
                continue
            kick = await c.expect_kick()
            assert kick.reason == pb.REASON_PROTOCOL_ERROR and "longer than 8 bytes" in kick.detail
        assert set(server.relay.rooms) == {"r"}


async def test_a_failing_room_is_closed_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    real_produce = Room.produce

    def produce(self: Room, now: float) -> bytes | None:
        if self.name == "doomed":
            raise RuntimeError("simulated sequencer bug")
        return real_produce(self, now)

    async with running_server() as server:
        good, wg = await RawClient.join(server.port, "g", "fine")
        bad, _ = await RawClient.join(server.port, "b", "doomed")
        monkeypatch.setattr(Room, "produce", produce)
        kick = await bad.expect_kick()
        assert kick.reason == pb.REASON_ROOM_CLOSED and "internal error" in kick.detail
        ticks = await good.ticks_until(wg.first_tick + 10)
        numbers = [t.number for t in ticks]
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
        assert "doomed" not in server.relay.rooms
        assert any("failed to produce" in r.getMessage() for r in caplog.records)
        await good.close()


async def test_a_failing_session_is_kicked_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    real_submit = Room.submit

    def submit(self: Room, player: object, seq: int, payload: bytes) -> None:
        if payload == b"boom":
            raise ValueError("simulated handler bug")
        real_submit(self, player, seq, payload)  # type: ignore[arg-type]

    monkeypatch.setattr(Room, "submit", submit)
    async with running_server() as server:
        a, _ = await RawClient.join(server.port, "a")
        b, wb = await RawClient.join(server.port, "b")
        a.send_input(1, b"boom")
        kick = await a.expect_kick()
        assert kick.reason == pb.REASON_UNSPECIFIED and "internal" in kick.detail
        b.send_input(1, b"fine")
        ticks = await b.ticks_until(wb.first_tick + 5)
        assert any(i.payload == b"fine" for t in ticks for i in t.inputs)
        await b.close()
