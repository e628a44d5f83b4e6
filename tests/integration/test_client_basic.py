"""The client SDK against a real server: joining, inputs, presence, kicks, spectating."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from support import running_server

import tickcast
import tickcast.client
from tickcast import testing, wire
from tickcast.client import Client, Tick
from tickcast.proto import pb


async def take_until(client: Client, predicate, timeout: float = 10.0) -> list[Tick]:  # type: ignore[no-untyped-def]
    """Ticks from `client` up to and including the first that satisfies `predicate`."""
    out: list[Tick] = []

    async def run() -> None:
        async for tick in client.ticks():
            out.append(tick)
            if predicate(tick):
                return
        raise AssertionError("the tick stream ended")

    await asyncio.wait_for(run(), timeout)
    return out


async def test_two_players_exchange_typed_inputs_and_presence() -> None:
    async with running_server() as server:
        async with tickcast.connect("127.0.0.1", server.port, player_id="ada", room="r1") as ada:
            assert (ada.slot, ada.room, ada.tick_rate) == (1, "r1", 50)
            await take_until(ada, lambda t: bool(t.joined))  # ada's join took effect
            async with tickcast.connect(
                "127.0.0.1", server.port, player_id="bob", room="r1"
            ) as bob:
                assert bob.slot == 2
                assert set(bob.members) == {1}  # ada, before bob's join takes effect
                seq = ada.send(b"left")
                assert seq == 1
                assert bob.send(b"right") == 1
                got = await take_until(bob, lambda t: any(i.payload == b"left" for i in t.inputs))
                inputs = [i for t in got for i in t.inputs]
                assert any(i.player_id == "ada" and i.seq == 1 and i.slot == 1 for i in inputs)
                assert got[0].number == bob.first_tick
                assert [t.number for t in got] == list(range(got[0].number, got[-1].number + 1))
                assert {m.player_id for m in bob.members.values()} == {"ada", "bob"}
            # bob left with Leave: ada sees it in the next ticks
            left = await take_until(ada, lambda t: bool(t.left))
            assert left[-1].left[0].player_id == "bob"
            assert set(ada.members) == {1}


async def test_rtt_is_measured_by_pings() -> None:
    async with running_server() as server:
        async with tickcast.connect(
            "127.0.0.1", server.port, player_id="ada", ping_interval=0.05
        ) as ada:
            await take_until(ada, lambda t: ada.rtt is not None)
            assert ada.rtt is not None and ada.rtt >= 0
            assert ada.server_tick >= 1


async def test_spectator_and_full_history_see_the_same_ticks() -> None:
    async with running_server() as server:
        async with tickcast.connect("127.0.0.1", server.port, player_id="ada") as ada:
            for i in range(5):
                ada.send(bytes([i]))
            mine = await take_until(ada, lambda t: any(i.seq == 5 for i in t.inputs))
            async with tickcast.connect(
                "127.0.0.1", server.port, player_id="eve", spectator=True, full_history=True
            ) as eve:
                assert eve.slot == 0
                with pytest.raises(tickcast.TickcastError):
                    eve.send(b"x")
                theirs = await take_until(eve, lambda t: t.number == mine[-1].number)
                assert theirs[0].number == 1
                assert theirs[-len(mine) :] == mine
                assert {m.player_id for m in eve.members.values()} == {"ada"}


async def test_room_full_ends_the_stream_with_kicked() -> None:
    async with running_server(max_players=1) as server:
        async with tickcast.connect("127.0.0.1", server.port, player_id="ada"):
            with pytest.raises(tickcast.Kicked) as info:
                await tickcast.connect("127.0.0.1", server.port, player_id="bob").start()
            assert info.value.reason_name == "ROOM_FULL"


async def test_replaced_connection_ends_with_kicked() -> None:
    async with running_server() as server:
        first = await tickcast.connect("127.0.0.1", server.port, player_id="ada")
        async with tickcast.connect("127.0.0.1", server.port, player_id="ada"):
            with pytest.raises(tickcast.Kicked) as info:
                await asyncio.wait_for(take_until(first, lambda t: False), 10)
            assert info.value.reason_name == "REPLACED"
        await first.close()


async def test_server_restart_within_history_is_resumed_or_reported() -> None:
    """A shut-down server ends in ResumeUnavailable or a give-up, never a silent gap."""
    async with running_server() as server:
        port = server.port
        ada = await tickcast.connect(
            "127.0.0.1", port, player_id="ada", backoff_max=0.1, max_attempts=3
        )
        await take_until(ada, lambda t: t.number >= 3)
    with pytest.raises((tickcast.ConnectionClosedError, tickcast.ResumeUnavailable)):
        await asyncio.wait_for(take_until(ada, lambda t: False), 15)
    assert any(k.reason_name == "SERVER_SHUTDOWN" for k in ada.kicks)
    await ada.close()


async def test_a_cut_connection_resumes_without_gap_or_lost_input() -> None:
    async with running_server() as server:
        async with tickcast.connect(
            "127.0.0.1", server.port, player_id="ada", backoff_initial=0.01
        ) as ada:
            first = await take_until(ada, lambda t: t.number >= 3)
            assert ada._conn is not None
            ada._conn.abort()  # a reset, as the network would do it
            assert ada.send(b"during") == 1  # queued while reconnecting
            rest = await take_until(ada, lambda t: any(i.payload == b"during" for i in t.inputs))
            numbers = [t.number for t in first + rest]
            assert numbers == list(range(numbers[0], numbers[-1] + 1))
            assert ada.reconnects == 1 and ada.pending_inputs == 0


async def test_resume_after_the_history_is_gone_raises_resume_unavailable() -> None:
    async with running_server(history_seconds=0.1) as server:
        async with tickcast.connect("127.0.0.1", server.port, player_id="bob") as bob:
            ada = await tickcast.connect(
                "127.0.0.1", server.port, player_id="ada", backoff_initial=2.0, backoff_max=2.0
            )
            await take_until(ada, lambda t: t.number >= 2)
            await take_until(bob, lambda t: t.number >= 2)
            assert ada._conn is not None
            ada._conn.abort()  # ada comes back after >= 1 s: the 0.1 s of history is gone
            with pytest.raises(tickcast.ResumeUnavailable):
                await take_until(ada, lambda t: False, timeout=15)
            await ada.close()


async def kicking_server(reason: int, detail: str, redirect: str = "") -> asyncio.Server:
    """A fake node that answers any Hello with one Kick and closes."""

    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(1024)
        w.write(wire.kick_frame(reason, detail, redirect))
        await w.drain()
        w.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def test_redirects_are_followed_a_few_times_in_a_row() -> None:
    async with running_server() as server:
        hop2 = await kicking_server(pb.REASON_REDIRECT, "not here", f"127.0.0.1:{server.port}")
        port2 = hop2.sockets[0].getsockname()[1]
        hop1 = await kicking_server(pb.REASON_REDIRECT, "not here", f"127.0.0.1:{port2}")
        port1 = hop1.sockets[0].getsockname()[1]
        async with tickcast.connect("127.0.0.1", port1, player_id="ada") as ada:
            assert ada.port == server.port and ada.slot == 1
        with pytest.raises(tickcast.Kicked) as info:
            await tickcast.connect("127.0.0.1", port1, player_id="bob", max_redirects=1).start()
        assert info.value.reason_name == "REDIRECT"
        hop1.close()
        hop2.close()


async def test_a_first_redirect_to_a_dead_node_goes_back_to_the_entry_point() -> None:
    # the entry node first names a node that has just died (placement chose it an
    # instant before), then the right one: the client must not give up at once
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    async with running_server() as server:
        answers = [f"127.0.0.1:{dead}", f"127.0.0.1:{server.port}"]

        async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.read(1024)
            w.write(wire.kick_frame(pb.REASON_REDIRECT, "not here", answers.pop(0)))
            await w.drain()
            w.close()

        entry = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = entry.sockets[0].getsockname()[1]
        async with tickcast.connect(
            "127.0.0.1", port, player_id="ada", backoff_initial=0.01
        ) as ada:
            assert ada.port == server.port and ada.slot == 1
        assert answers == []  # it asked the entry point twice
        entry.close()
        # but a first connection to an entry point that is not there fails at once
        with pytest.raises(OSError):
            await tickcast.connect("127.0.0.1", dead, player_id="bob").start()


async def test_a_refused_token_raises_auth_failed_with_the_detail() -> None:
    node = await kicking_server(pb.REASON_AUTH_FAILED, "token expired")
    port = node.sockets[0].getsockname()[1]
    with pytest.raises(tickcast.AuthFailed) as info:
        await tickcast.connect("127.0.0.1", port, player_id="ada", token="t").start()
    assert info.value.detail == "token expired" and isinstance(info.value, tickcast.Kicked)
    node.close()


async def test_skipped_empty_ticks_reach_the_application_as_empty_ticks() -> None:
    async with running_server(skip_empty_ticks=True) as server:
        async with tickcast.connect(
            "127.0.0.1", server.port, player_id="ada", skip_empty_ticks=True
        ) as ada:
            await take_until(ada, lambda t: bool(t.joined))
            await asyncio.sleep(0.2)  # about 10 empty ticks the server does not send
            ada.send(b"late")
            got = await take_until(ada, lambda t: bool(t.inputs))
            assert len(got) > 3
            assert [t.number for t in got] == list(range(got[0].number, got[-1].number + 1))
            assert all(t.empty for t in got[:-1]) and got[-1].inputs[0].payload == b"late"


async def test_connected_clients_helper_joins_players_in_slot_order() -> None:
    async with testing.running_server(tick_rate=50) as server:
        async with testing.connected_clients(server.port, 3, room="t") as clients:
            assert [c.slot for c in clients] == [1, 2, 3]
            assert [c.player_id for c in clients] == ["player1", "player2", "player3"]
            clients[2].send(b"hi")
            got = await take_until(clients[0], lambda t: bool(t.inputs))
            assert got[-1].inputs[0].player_id == "player3"
        assert all(c.closed for c in clients)


async def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll `condition` until it holds (a loaded machine may need a while)."""

    async def run() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(run(), timeout)


async def test_on_tick_pushes_every_tick_once_in_order_across_a_cut() -> None:
    pushed: list[Tick] = []
    async with running_server() as server:
        async with tickcast.connect(
            "127.0.0.1", server.port, player_id="ada", backoff_initial=0.01, on_tick=pushed.append
        ) as ada:
            await wait_for(lambda: len(pushed) >= 3)
            assert ada._conn is not None
            ada._conn.abort()
            ada.send(b"during")
            await wait_for(lambda: any(i.payload == b"during" for t in pushed for i in t.inputs))
            numbers = [t.number for t in pushed]
            assert numbers == list(range(ada.first_tick, numbers[-1] + 1))
            assert ada.last_tick == numbers[-1]
            assert ada.ticks_nowait() == []  # pushed ticks are not queued as well
            assert 1 in ada.members  # presence is applied as ticks are pushed
        # ticks() only waits for the end of the stream
        assert [t async for t in ada.ticks()] == []


async def test_an_exception_in_on_tick_ends_the_stream_with_it() -> None:
    def explode(tick: Tick) -> None:
        raise ValueError(f"bad tick {tick.number}")

    async with running_server() as server:
        ada = await tickcast.connect("127.0.0.1", server.port, player_id="ada", on_tick=explode)
        with pytest.raises(ValueError, match="bad tick"):
            await asyncio.wait_for(take_until(ada, lambda t: False), 10)
        assert ada.closed and ada.reconnects == 0
        await ada.close()


async def test_reconnects_back_off_exponentially_with_jitter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each wait is drawn from [d/2, d] (jitter), d doubling from backoff_initial up to
    backoff_max; after max_attempts the stream ends with ConnectionClosedError."""
    windows: list[tuple[float, float]] = []

    def shortest(low: float, high: float) -> float:
        windows.append((low, high))
        return low

    monkeypatch.setattr(tickcast.client, "random", SimpleNamespace(uniform=shortest))
    async with running_server() as server:
        ada = await tickcast.connect(
            "127.0.0.1",
            server.port,
            player_id="ada",
            backoff_initial=0.01,
            backoff_max=0.05,
            max_attempts=6,
        )
        await take_until(ada, lambda t: t.number >= 2)
    # the server is gone: its SERVER_SHUTDOWN is retried, then every attempt is refused
    with pytest.raises(tickcast.ConnectionClosedError, match="gave up after 6 reconnect attempts"):
        await asyncio.wait_for(take_until(ada, lambda t: False), 15)
    expected = [(0.005, 0.01), (0.01, 0.02), (0.02, 0.04)] + [(0.025, 0.05)] * 3
    assert [x for w in windows for x in w] == pytest.approx([x for w in expected for x in w])
    assert [k.reason_name for k in ada.kicks] == ["SERVER_SHUTDOWN"]
    await ada.close()
