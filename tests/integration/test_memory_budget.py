"""Issue 15 item 6: the memory budget is true.

A room's in-memory history is bounded by bytes (`--history-bytes`) as well as
seconds; a resume or a late join that needs ticks no longer kept in memory is
served from the tick log when recording is on (without it: RESUME_UNAVAILABLE,
tests/unit/test_room_history.py).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
from support import RawClient, hello_frame, input_frame, running_server, wait_for
from support import test_config as make_config
from ws_support import http_server

from tickcast import budget, wire
from tickcast.store import open_recorder

PAYLOAD = 3000  # x 50 ticks a second: 150 KB/s, under the default receive rate


async def test_resume_and_late_join_past_the_byte_bound_come_from_the_tick_log(
    tmp_path: Path,
) -> None:
    overrides = {"history_bytes": 65536, "data_dir": str(tmp_path)}
    recorder = open_recorder(make_config(**overrides))
    async with running_server([recorder], **overrides) as server:
        ada, _ = await RawClient.join(server.port, "ada")
        room = server.relay.rooms["r"]
        seq = 0
        seen: dict[int, bytes] = {}
        while room.last_sent() < 150:
            seq += 1
            ada.send_input(seq, bytes([seq % 256]) * PAYLOAD)
            for t in await ada.ticks_until(room.last_sent()):
                seen[t.number] = t.SerializeToString()
        assert room.history.bytes <= 65536
        assert room.history.first(room.next) > 100  # tick 11 is on disk only
        # a late joiner from tick 1, and ada resuming after tick 10 on a new connection
        lee, welcome = await RawClient.join(server.port, "lee", full_history=True)
        assert welcome.first_tick == 1
        again, welcome = await RawClient.join(server.port, "ada", resume_after=10)
        assert welcome.first_tick == 11 and welcome.last_seq == seq
        last = max(seen)
        for client, first in ((lee, 1), (again, 11)):
            ticks = await client.ticks_until(last, timeout=20)
            assert [t.number for t in ticks[: last - first + 1]] == list(range(first, last + 1))
            for t in ticks:
                if t.number in seen:
                    assert t.SerializeToString() == seen[t.number]
        await wait_for(lambda: room.history.bytes <= 65536)
        for c in (ada, lee, again):
            await c.close()


async def test_the_history_metrics() -> None:
    async with http_server(history_bytes=65536) as (server, http):
        ada, _ = await RawClient.join(server.port, "ada")
        room = server.relay.rooms["r"]
        for seq in range(1, 61):  # 60 ticks of 3 KB: 180 KB, ~21 of them fit
            ada.send_input(seq, bytes(PAYLOAD))
            await ada.ticks_until(room.last_sent() + 1)
        async with aiohttp.ClientSession() as s, s.get(http.address + "/metrics") as resp:
            text = await resp.text()
        values = {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines() if line.startswith("tickcast_history")
        }  # fmt: skip
        assert 0 < values["tickcast_history_bytes"] <= 65536
        assert values["tickcast_history_let_go_total"] >= 30
        await ada.close()


# ---------------------------------------------------------------- the budget, filled

FILL = {
    "max_connections": 48, "max_rooms": 4, "max_players": 6, "queue_limit_bytes": 32768,
    "send_buffer_bytes": 16384, "history_bytes": 65536, "input_bytes_per_tick": 2048,
    "input_burst": 8, "max_frame": 4096, "max_http_connections": 8,
    "max_dashboard_viewers": 2, "handshake_timeout": 30.0,
}  # fmt: skip


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


async def small_window(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose kernel receive buffer is small, so that a client that does
    not read fills the server's queue (not megabytes of its own kernel buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


async def player(port: int, room: str, name: str, reads: bool, stop: asyncio.Event) -> None:
    """Sends the most its per-tick byte budget allows (one 2,000-byte input a tick at
    50 Hz, 100 KB/s); reads its ticks, or never reads (a slow consumer)."""
    reader, writer = await small_window(port)
    writer.write(hello_frame(name, room))
    drain = asyncio.create_task(_discard(reader)) if reads else None
    seq = 0
    try:
        while not stop.is_set() and not writer.is_closing():
            seq += 1
            writer.write(input_frame(seq, bytes([seq % 256]) * 2000))
            await asyncio.sleep(0.02)
    finally:
        if drain is not None:
            drain.cancel()
        writer.close()


async def _discard(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def test_the_budget_filled_holds(tmp_path: Path) -> None:
    """Every row of the budget filled at once, with small limits so that it fits in a
    test: 4 full rooms of 6 players sending at their per-tick byte budget (histories
    at their byte bound, open ticks full), 2 players a room that never read (queues
    at their limit until evicted), 2 spectators a room catching up from the tick log
    that never read (a chunk and a frame each), 8 connections holding a partial
    frame of max_frame - 1 bytes, 2 dashboard feeds and 6 slow HTTP heads. Sampled
    every 20 ms: what the server holds (`budget.held`) stays within `worst_case`."""
    config = make_config(**FILL, data_dir=str(tmp_path))
    rows = {row.name: row for row in budget.worst_case(config)}
    bound = {name.removeprefix("per connection: ").removeprefix("per room: "): row.total
             for name, row in rows.items()}  # fmt: skip
    frame_bound = budget.max_tick_frame(config)
    each = budget.per_connection(config)["outbound queue"] + frame_bound
    recorder = open_recorder(config)
    rss0 = rss_mb()
    async with http_server(**FILL, data_dir=str(tmp_path), services=[recorder]) as (server, http):
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(player(server.port, f"room{r}", f"p{r}-{i}", i >= 2, stop))
            for r in range(4) for i in range(6)
        ]  # fmt: skip
        await wait_for(lambda: all(len(room.players) == 6 for room in server.relay.rooms.values())
                       and len(server.relay.rooms) == 4, 20)  # fmt: skip
        await wait_for(lambda: min(r.last_sent() for r in server.relay.rooms.values()) > 60, 20)
        held_open: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        for r in range(4):  # spectators from tick 1: from the log, past the ring
            for i in range(2):
                reader, writer = await small_window(server.port)
                writer.write(hello_frame(f"s{r}-{i}", f"room{r}", spectator=True,
                                         full_history=True))  # fmt: skip
                held_open.append((reader, writer))
        partial = wire.encode_varint(FILL["max_frame"]) + bytes(FILL["max_frame"] - 1)
        for _ in range(8):  # a frame of max_frame bytes, all but its last byte sent
            reader, writer = await small_window(server.port)
            writer.write(partial)
            held_open.append((reader, writer))
        port = int(http.address.rsplit(":", 1)[1])
        for _ in range(6):  # slow HTTP heads
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            held_open.append((reader, writer))
        async with aiohttp.ClientSession() as s:
            feeds = [await s.get(http.address + "/dashboard/events") for _ in range(2)]
            assert all(f.status == 200 for f in feeds)
            peak = dict.fromkeys(budget.held(server.relay), 0)
            peak_total = peak_one = 0
            rss_peak = rss_mb()
            loop = asyncio.get_running_loop()
            end = loop.time() + 4.0
            while loop.time() < end:
                await asyncio.sleep(0.02)
                held = budget.held(server.relay)
                for k, v in held.items():
                    peak[k] = max(peak[k], v)
                    assert v <= bound[k], (k, v, bound[k])
                peak_one = max([peak_one, *budget.per_connection_held(server.relay)])
                assert peak_one <= each
                peak_total = max(peak_total, sum(held.values()))
                assert http.connections.held <= FILL["max_http_connections"]
                rss_peak = max(rss_peak, rss_mb())
            for f in feeds:
                f.close()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, writer in held_open:
            writer.close()
    total = budget.process_total(budget.worst_case(config))
    # the fill is real: the histories at their bound, queues and partial frames near theirs
    assert peak["history"] >= 4 * 0.8 * FILL["history_bytes"]
    assert peak["outbound queue"] >= 8 * FILL["queue_limit_bytes"] / 2
    assert peak["partial input"] >= 8 * (FILL["max_frame"] - 16)
    assert peak["catch-up chunk from the tick log"] > 0
    assert peak["open tick"] > 0
    rows_held = ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in peak.items())
    print(f"\nFIGURE budget filled: held peak {peak_total / 2**20:.2f} MiB of a bound of "
          f"{total / 2**20:.2f} MiB ({rows_held}); "
          f"one connection at most {peak_one / 1024:.0f} KiB of {each / 1024:.0f} KiB; "
          f"RSS of server and clients {rss0:.0f} -> peak {rss_peak:.0f} MB")  # fmt: skip
