"""A reload's limits reach what is already running (tickcast/reload.py): the
players in rooms, the open connections, the admission counters; and a reload
that cannot load its secret changes nothing at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import RawClient, expect_final_kick, running_server

from tickcast.errors import ConfigError
from tickcast.proto import pb
from tickcast.reload import reload_server


async def test_reloaded_input_limits_reach_a_player_already_in_its_room() -> None:
    async with running_server() as server:
        ada, w = await RawClient.join(server.port, "ada")
        bob, _ = await RawClient.join(server.port, "bob")
        await ada.ticks_until(w.first_tick + 2)
        done = reload_server(server, server.config.replace(input_rate=1.0, input_burst=2))
        assert [c.line() for c in done.changes] == ["input_rate 120 -> 1", "input_burst 240 -> 2"]
        guard = server.relay.rooms["r"].players["ada"].guard
        assert guard is not None and guard.rate == 1.0 and guard.burst == 2.0
        for seq in range(1, 6):  # five at once: over a burst of 2 (240 before the reload)
            ada.send_input(seq, b"x")
        kick = await expect_final_kick(ada)
        assert kick.reason == pb.REASON_RATE_LIMITED
        # bob, who sent nothing, is still there and gets his ticks
        await bob.ticks_until(w.first_tick + 5)
        await bob.close()


async def test_reloaded_connection_limits_count_the_connections_already_open() -> None:
    async with running_server(max_connections_per_host=0) as server:
        server.admission.exempt_loopback = False  # so that 127.0.0.1 is counted per address
        a, _ = await RawClient.join(server.port, "a")
        b, _ = await RawClient.join(server.port, "b")
        reload_server(server, server.config.replace(max_connections_per_host=2))
        third = await RawClient.connect(server.port)
        kick = await expect_final_kick(third)  # 2 open from this address: a third is refused
        assert kick.reason == pb.REASON_RATE_LIMITED and "this address" in kick.detail
        await a.close()
        reload_server(server, server.config.replace(max_connections=1))
        fourth = await RawClient.connect(server.port)
        assert (await expect_final_kick(fourth)).reason == pb.REASON_RATE_LIMITED
        await b.close()


async def test_reloaded_receive_limit_applies_to_open_connections() -> None:
    async with running_server() as server:
        ada, w = await RawClient.join(server.port, "ada")
        # (the per-tick input budget out of the way, so that the receive limit is met)
        reload_server(server, server.config.replace(recv_bytes_per_second=1000,
                                                    input_bytes_per_tick=1 << 20))
        [session] = server.relay.sessions
        assert session.recv_guard is not None and session.recv_guard.bucket.rate == 1000
        for seq in (1, 2, 3):  # 180 KB at once: over the bucket (two maximum frames)
            ada.send_input(seq, b"y" * 60000)
        kick = await expect_final_kick(ada, timeout=10)
        assert kick.reason == pb.REASON_RATE_LIMITED and "1000 bytes per second" in kick.detail
        assert w.first_tick >= 1


async def test_a_reload_whose_secret_cannot_be_loaded_changes_nothing(tmp_path: Path) -> None:
    short = tmp_path / "secret"
    short.write_text("short\n")
    short.chmod(0o600)
    async with running_server() as server:
        before = server.config
        with pytest.raises(ConfigError, match="HS256 needs at least 32"):
            reload_server(server, before.replace(secret_file=str(short), max_rooms=1))
        assert server.config is before and server.relay.config is before
        assert server.relay.auth.open and server.admission.max_total == before.max_connections
