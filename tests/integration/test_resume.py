"""Resume exactness over many random disconnects.

A steady player and a watcher stay connected the whole time; a flaky player
keeps sending numbered inputs and is cut at random moments (during its
handshake, while reading, in the middle of writing a frame; by FIN or by
reset). Each time it reconnects with `resume_after` = the last tick it
received and resends its inputs with `seq > Welcome.last_seq`. At the end its
tick stream must have no gap, duplicate or reordering, be byte-identical to
the steady player's, and hold every input of both players exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

from support import (
    RawClient,
    assert_gap_free,
    hello_frame,
    input_frame,
    running_server,
    wait_until,
)

from tickcast.proto import pb

SEED = 0x7C1C
CUTS = 50

TickLog = list[tuple[int, bytes]]  # (tick number, raw ServerMessage body), in arrival order


async def read_ticks(c: RawClient, out: TickLog, others: list[pb.ServerMessage]) -> None:
    """Append every Tick the client receives to `out` (other frames to `others`).

    Cancellation can only land on the socket read, so a chunk's frames are
    recorded all or none: `out` is exactly what the client has processed."""
    # frames that came in the same read as the Welcome
    bodies, c._pending = c._pending, []
    while True:
        for body in bodies:
            msg = pb.ServerMessage.FromString(body)
            if msg.HasField("tick"):
                out.append((msg.tick.number, body))
            else:
                others.append(msg)
        data = await c.reader.read(65536)
        if not data:
            return
        bodies = c.framer.feed(data)


def inputs_of(log: TickLog) -> list[tuple[int, int, bytes]]:
    out = []
    for _, body in log:
        for i in pb.ServerMessage.FromString(body).tick.inputs:
            out.append((i.slot, i.seq, i.payload))
    return out


async def send_steadily(c: RawClient, rng: random.Random, sent: dict[int, bytes]) -> None:
    seq = 0
    while True:
        seq += 1
        sent[seq] = f"steady {seq}".encode()
        c.send_input(seq, sent[seq])
        await asyncio.sleep(rng.uniform(0.002, 0.03))


async def test_resume_is_exact_over_50_random_disconnects() -> None:
    rng = random.Random(SEED)
    async with running_server(tick_rate=50) as server:
        port = server.port
        steady, ws = await RawClient.join(port, "steady")
        steady_log: TickLog = []
        steady_other: list[pb.ServerMessage] = []
        steady_reader = asyncio.ensure_future(read_ticks(steady, steady_log, steady_other))
        steady_sent: dict[int, bytes] = {}
        steady_sender = asyncio.ensure_future(
            send_steadily(steady, random.Random(SEED + 1), steady_sent)
        )

        flaky_log: TickLog = []
        flaky_sent: dict[int, bytes] = {}  # every input the flaky player ever (tried to) send
        next_seq = 1
        cut_kinds: dict[str, int] = {}
        flaky_slot = 0
        c: RawClient | None = None
        flaky_other: list[pb.ServerMessage] = []
        resent = 0

        def new_input() -> bytes:
            nonlocal next_seq
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
            flaky_sent[next_seq] = payload
            frame = input_frame(next_seq, payload)
            next_seq += 1
            return frame

        for round_no in range(CUTS + 1):
            final = round_no == CUTS
            c = await RawClient.connect(port)
            last = flaky_log[-1][0] if flaky_log else 0
            c.send(hello_frame("flaky", resume_after=last))
            if not final and last and rng.random() < 0.12:
                kind = "handshake"
            else:
                msg = await c.next_message(timeout=10)
                assert msg.HasField("welcome"), msg
                w = msg.welcome
                if last:
                    assert w.first_tick == last + 1
                    assert list(w.members) == []
                    assert w.slot == flaky_slot
                flaky_slot = w.slot
                # resend what the server did not sequence
                for seq in range(w.last_seq + 1, next_seq):
                    c.send_input(seq, flaky_sent[seq])
                    resent += 1
                reader = asyncio.ensure_future(read_ticks(c, flaky_log, flaky_other))
                if final:
                    break
                # live for a random while, sending new inputs now and then
                # (counts come from the seeded RNG, not the clock: the run is reproducible)
                for _ in range(rng.randrange(0, 12)):
                    c.send(new_input())
                    await asyncio.sleep(rng.uniform(0.0, 0.03))
                await asyncio.sleep(rng.uniform(0.0, 0.05))
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                kind = "live"
            if rng.random() < 0.4:
                frame = new_input()
                c.send(frame[: rng.randrange(1, len(frame))])
                kind += "+partial frame"
            if rng.random() < 0.5:
                c.writer.transport.abort()
                kind += "+reset"
            await c.close()
            cut_kinds[kind] = cut_kinds.get(kind, 0) + 1

        assert c is not None
        # the run is over: let the sequencer take the last inputs of both
        steady_sender.cancel()
        flaky_last, steady_last = next_seq - 1, max(steady_sent)

        def all_sequenced() -> bool:
            seen = {(slot, seq) for slot, seq, _ in inputs_of(steady_log)}
            return (flaky_slot, flaky_last) in seen and (ws.slot, steady_last) in seen

        await wait_until(all_sequenced, timeout=15, what="every input in the steady stream")
        end = steady_log[-1][0]
        await wait_until(
            lambda: bool(flaky_log) and flaky_log[-1][0] >= end, 15, "the flaky player catch up"
        )
        reader.cancel()
        steady_reader.cancel()

        # no gap, no duplicate, no reorder, for both
        flaky_numbers = [n for n, _ in flaky_log]
        assert_gap_free(flaky_numbers)
        assert_gap_free([n for n, _ in steady_log])
        # byte-identical to the never-disconnected player's stream
        steady_by_number = dict(steady_log)
        assert flaky_numbers[0] >= steady_log[0][0]
        for n, body in flaky_log:
            if n <= end:
                assert body == steady_by_number[n], f"tick {n} differs"
        # every input exactly once, in seq order per player, byte-exact
        relayed = inputs_of(steady_log)
        flaky_in = [(seq, p) for slot, seq, p in relayed if slot == flaky_slot]
        steady_in = [(seq, p) for slot, seq, p in relayed if slot == ws.slot]
        assert flaky_in == sorted(flaky_sent.items())
        assert steady_in == sorted(steady_sent.items())
        # nothing but ticks after the Welcomes (no Kick)
        assert steady_other == [] and flaky_other == []
        # the seeded run cut in every way at least once
        assert sum(cut_kinds.values()) == CUTS
        kinds = " ".join(cut_kinds)
        assert all(k in kinds for k in ("handshake", "live", "partial frame", "reset")), cut_kinds
        # (every input cut mid-frame had to be resent)
        assert resent >= sum(n for k, n in cut_kinds.items() if "partial" in k)
        print(
            f"\n{CUTS} cuts: {cut_kinds}; {len(flaky_log)} ticks, "
            f"{len(flaky_in)} flaky inputs, {resent} resent"
        )
        await c.close()
        await steady.close()
