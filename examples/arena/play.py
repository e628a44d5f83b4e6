"""Headless arena: several bot players on one tick stream, comparing state hashes.

    python examples/arena/play.py --port 7777 --players 4 --ticks 300
    python examples/arena/play.py --serve --players 4 --broken 2   # player 2 diverges

Every player joins with `full_history=True` (the simulation must start from the
room's first tick), walks at random (its own seeded RNG: inputs are free to be
random, only the simulation must be deterministic), applies every tick to its
`Arena`, and every `--hash-every` ticks prints its state hash and sends it as
`StateHash`. The server compares the hashes and reports a minority in
`Tick.desyncs`, which every player prints. `--broken K` makes player K cheat
(one extra point at tick 30), so its state diverges and it is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arena import MOVES, Arena  # noqa: E402

import tickcast  # noqa: E402

BROKEN_AT = 30


@dataclass
class PlayerLog:
    """What one player saw: its hashes by tick, and the desync reports."""

    name: str
    slot: int = 0
    hashes: dict[int, bytes] = field(default_factory=dict)
    desyncs: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    final: Arena | None = None


async def play(
    host: str,
    port: int,
    name: str,
    room: str,
    until: int,
    hash_every: int,
    broken: bool,
    seed: int,
    verbose: bool,
) -> PlayerLog:
    log = PlayerLog(name)
    arena = Arena()
    rnd = random.Random(seed)
    moves = list(MOVES)
    async with tickcast.connect(host, port, player_id=name, room=room, full_history=True) as c:
        log.slot = c.slot
        async for tick in c.ticks():
            arena.apply(tick)
            if broken and tick.number == BROKEN_AT and c.slot in arena.players:
                arena.players[c.slot].score += 1  # the bug: a point from nowhere
            for d in tick.desyncs:
                log.desyncs.append((d.tick, d.slots))
                if verbose:
                    print(f"{name}: server reports desync at tick {d.tick}: slots {d.slots}")
            if tick.number % hash_every == 0:
                digest = arena.state_hash()
                log.hashes[tick.number] = digest
                c.send_state_hash(tick.number, digest)
                if verbose:
                    print(f"{name} slot {c.slot} tick {tick.number} hash {digest.hex()}")
            if tick.number >= until:
                break
            if rnd.random() < 0.5:
                c.send(rnd.choice(moves))
    log.final = arena
    return log


async def run_game(
    host: str,
    port: int,
    players: int = 4,
    ticks: int = 300,
    hash_every: int = 10,
    broken: int = 0,
    room: str = "arena",
    verbose: bool = False,
) -> list[PlayerLog]:
    """Run `players` bots in one room until tick `ticks`; player `broken` (1-based) diverges.

    Players join one after another (each after the previous one's Welcome), so
    slots follow player numbers."""
    tasks = []
    for i in range(1, players + 1):
        tasks.append(
            asyncio.create_task(
                play(host, port, f"player{i}", room, ticks, hash_every, i == broken, i, verbose)
            )
        )
        await asyncio.sleep(0.05)
    return list(await asyncio.gather(*tasks))


def agreement(logs: list[PlayerLog]) -> dict[int, set[bytes]]:
    """Distinct hashes per tick over all players (one each means they agree)."""
    by_tick: dict[int, set[bytes]] = {}
    for log in logs:
        for t, h in log.hashes.items():
            by_tick.setdefault(t, set()).add(h)
    return by_tick


async def main_async(args: argparse.Namespace) -> int:
    if args.serve:
        from tickcast.testing import running_server

        async with running_server(tick_rate=args.tick_rate) as server:
            logs = await run_game(
                "127.0.0.1",
                server.port,
                args.players,
                args.ticks,
                args.hash_every,
                args.broken,
                verbose=True,
            )
    else:
        logs = await run_game(
            args.host,
            args.port,
            args.players,
            args.ticks,
            args.hash_every,
            args.broken,
            verbose=True,
        )
    split = {t: hs for t, hs in agreement(logs).items() if len(hs) > 1}
    reported = sorted({s for log in logs for _, slots in log.desyncs for s in slots})
    print(logs[0].final.render() if logs[0].final else "")
    for log in logs:
        score = (
            log.final.players[log.slot].score if log.final and log.slot in log.final.players else 0
        )
        print(f"{log.name} (slot {log.slot}): score {score}")
    if split:
        print(
            f"hashes disagree at {len(split)} ticks (first {min(split)}); "
            f"server reported slots {reported}"
        )
        return 1
    print(f"all {len(logs)} players agree at every hashed tick")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7777)
    p.add_argument("--serve", action="store_true", help="start a server in this process")
    p.add_argument("--tick-rate", type=int, default=30, help="with --serve")
    p.add_argument("--players", type=int, default=4)
    p.add_argument("--ticks", type=int, default=300, help="play until this tick")
    p.add_argument("--hash-every", type=int, default=10)
    p.add_argument("--broken", type=int, default=0, help="player number that diverges")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
