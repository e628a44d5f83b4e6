"""The arena for humans: a pygame window (optional; `pip install 'tickcast[game]'`).

    tickcast serve &                                   # a server
    python examples/arena/play.py --players 2 --ticks 100000 &   # some bots to play with
    python examples/arena/window.py --name you         # arrow keys move, Esc quits

The window is just another client: it joins with `full_history=True`, sends
one input per key press, and applies ticks with the same `Arena` as the bots,
so it sees exactly what they see. pygame's frame loop runs inside asyncio:
each frame takes what `ticks_nowait()` has received, then yields to the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pygame  # noqa: E402
from arena import HEIGHT, WIDTH, Arena  # noqa: E402

import tickcast  # noqa: E402

CELL = 32
KEYS = {pygame.K_UP: b"U", pygame.K_DOWN: b"D", pygame.K_LEFT: b"L", pygame.K_RIGHT: b"R"}
COLORS = [(230, 80, 80), (80, 160, 230), (90, 200, 120), (230, 200, 70), (180, 110, 220)]


def draw(screen: pygame.Surface, font: pygame.font.Font, arena: Arena, me: int) -> None:
    screen.fill((20, 20, 28))
    for x, y in arena.coins:
        pygame.draw.circle(screen, (250, 210, 60), (x * CELL + CELL // 2, y * CELL + CELL // 2), 6)
    for slot, p in sorted(arena.players.items()):
        rect = pygame.Rect(p.x * CELL + 3, p.y * CELL + 3, CELL - 6, CELL - 6)
        pygame.draw.rect(screen, COLORS[slot % len(COLORS)], rect, 0 if slot == me else 2)
    scores = "  ".join(f"{s}:{p.score}" for s, p in sorted(arena.players.items()))
    screen.blit(
        font.render(f"tick {arena.tick}   {scores}", True, (220, 220, 220)), (4, HEIGHT * CELL + 4)
    )
    pygame.display.flip()


async def run(host: str, port: int, name: str, room: str, max_frames: int = 0) -> Arena:
    """Play until the window is closed (or `max_frames` frames, for a smoke test)."""
    pygame.init()
    screen = pygame.display.set_mode((WIDTH * CELL, HEIGHT * CELL + 28))
    pygame.display.set_caption(f"tickcast arena: {name} in {room}")
    font = pygame.font.Font(None, 24)
    arena = Arena()
    frames = 0
    async with tickcast.connect(host, port, player_id=name, room=room, full_history=True) as c:
        running = True
        while running:
            for event in pygame.event.get():
                if event.type == pygame.QUIT or (
                    event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
                ):
                    running = False
                elif event.type == pygame.KEYDOWN and event.key in KEYS:
                    c.send(KEYS[event.key])
            for tick in c.ticks_nowait():
                arena.apply(tick)
            draw(screen, font, arena, c.slot)
            frames += 1
            if max_frames and frames >= max_frames:
                break
            await asyncio.sleep(1 / 60)
    pygame.quit()
    return arena


def main() -> int:
    p = argparse.ArgumentParser(description="The tickcast arena in a window.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7777)
    p.add_argument("--name", default="human")
    p.add_argument("--room", default="arena")
    args = p.parse_args()
    asyncio.run(run(args.host, args.port, args.name, args.room))
    return 0


if __name__ == "__main__":
    sys.exit(main())
