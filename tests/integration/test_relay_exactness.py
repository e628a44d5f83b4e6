"""What goes in comes out: pipelining, byte splits, every byte value, identical fan-out."""

from __future__ import annotations

import asyncio

from support import RawClient, hello_frame, input_frame, running_server, tick_number

from tickcast.proto import pb
from tickcast.session import Session

N_INPUTS = 50


def _payload(seq: int) -> bytes:
    # varied lengths, including empty ones and one whose length prefix takes two bytes
    length = 130 if seq == 25 else (seq * 13) % 40
    return bytes((seq * 7 + i) % 256 for i in range(length))


async def _collect_inputs(c: RawClient, slot: int, count: int) -> list[pb.RelayedInput]:
    got: list[pb.RelayedInput] = []
    while len(got) < count:
        tick = await c.next_tick()
        got.extend(i for i in tick.inputs if i.slot == slot)
    return got


async def _check_relayed(stream: bytes, dribble: bool) -> list[int]:
    """Send `stream` (Hello + inputs) and check the 50 inputs; the server's read sizes."""
    reads: list[int] = []
    original = Session.data_received

    def counting(self: Session, data: bytes, now: float) -> None:
        if self.player_id != "watcher":
            reads.append(len(data))
        original(self, data, now)

    Session.data_received = counting  # type: ignore[method-assign]
    try:
        await _relay(stream, dribble, reads)
    finally:
        Session.data_received = original  # type: ignore[method-assign]
    return reads


async def _relay(stream: bytes, dribble: bool, reads: list[int]) -> None:
    async with running_server() as server:
        watcher, _ = await RawClient.join(server.port, "watcher")
        reads.clear()  # from here on, only the piper's connection sends
        c = await RawClient.connect(server.port)
        if dribble:
            for i in range(len(stream)):
                c.send(stream[i : i + 1])
                await c.writer.drain()
                await asyncio.sleep(0)  # let the server read: many reads of a byte or so
        else:
            c.send(stream)
        msg = await c.next_message()
        assert msg.HasField("welcome"), msg
        slot = msg.welcome.slot
        for receiver in (c, watcher):
            got = await _collect_inputs(receiver, slot, N_INPUTS)
            assert [i.seq for i in got] == list(range(1, N_INPUTS + 1))
            assert [i.payload for i in got] == [_payload(s) for s in range(1, N_INPUTS + 1)]
        await c.close()
        await watcher.close()


def _hello_and_inputs() -> bytes:
    return hello_frame("piper") + b"".join(
        input_frame(s, _payload(s)) for s in range(1, N_INPUTS + 1)
    )


async def test_hello_and_50_inputs_in_one_write() -> None:
    stream = _hello_and_inputs()
    reads = await _check_relayed(stream, dribble=False)
    assert reads[0] == len(stream)  # one read: the framer had to split it


async def test_hello_and_50_inputs_one_byte_at_a_time() -> None:
    stream = _hello_and_inputs()
    reads = await _check_relayed(stream, dribble=True)
    assert sum(reads) == len(stream)
    assert len(reads) > len(stream) // 4  # the server really saw it in small pieces


async def test_every_byte_value_relayed_exactly() -> None:
    every_byte = bytes(range(256))
    # also payloads that look like frame prefixes and varints
    tricky = [every_byte, every_byte[::-1], b"\x00", b"\xff" * 10, b"\x80\x80\x80\x80\x80\x01"]
    async with running_server() as server:
        a, wa = await RawClient.join(server.port, "ada")
        b, _ = await RawClient.join(server.port, "bob")
        for seq, p in enumerate(tricky, 1):
            a.send_input(seq, p)
        for receiver in (a, b):
            got = await _collect_inputs(receiver, wa.slot, len(tricky))
            assert [i.payload for i in got] == tricky
        # and the raw frame holds the payload bytes verbatim
        assert any(every_byte in body for body in b.raw)
        await a.close()
        await b.close()


async def test_three_clients_receive_byte_identical_ticks() -> None:
    async with running_server() as server:
        clients = [(await RawClient.join(server.port, name))[0] for name in ("ada", "bob", "cyd")]
        # every client's first tick, then inputs from all of them over several ticks
        firsts = [(await c.next_tick()).number for c in clients]
        for seq in range(1, 21):
            for i, c in enumerate(clients):
                c.send_input(seq, f"{i}:{seq}".encode() * (seq % 5))
            await asyncio.sleep(0.005)
        end = max(firsts) + 30
        per_client: list[dict[int, bytes]] = []
        for c in clients:
            ticks = await c.ticks_until(end)
            assert sum(len(t.inputs) for t in ticks) >= 20
            bodies = {tick_number(b): b for b in c.raw if tick_number(b)}
            per_client.append(bodies)
        common = set.intersection(*(set(d) for d in per_client))
        assert set(range(max(firsts), end + 1)) <= common
        for n in sorted(common):
            assert per_client[0][n] == per_client[1][n] == per_client[2][n], n
        # all 60 inputs arrived, in the same order for everyone
        orders = [
            [(i.slot, i.seq) for n in sorted(d) for i in pb_tick(d[n]).inputs] for d in per_client
        ]
        assert orders[0] == orders[1] == orders[2]
        assert len(orders[0]) == 60
        for c in clients:
            await c.close()


def pb_tick(body: bytes) -> pb.Tick:
    return pb.ServerMessage.FromString(body).tick
