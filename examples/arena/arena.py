"""A deterministic grid arena: the simulation, pure and I/O-free.

Players walk on a WIDTH x HEIGHT grid and collect coins; a coin taken
respawns elsewhere. Everything that changes the state comes from the tick
stream (joins, inputs in sequencing order, leaves), and the only randomness is
an integer LCG kept in the state, so every client that applies the same ticks
reaches the same state, bit for bit, and hence the same `state_hash()`.

Inputs are one byte: one of MOVES ("U", "D", "L", "R"); anything else is ignored
(a client must never crash on a peer's input).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from tickcast.client import Tick

WIDTH = 16
HEIGHT = 12
COINS = 5
MOVES = {b"U": (0, -1), b"D": (0, 1), b"L": (-1, 0), b"R": (1, 0)}


@dataclass
class Player:
    x: int
    y: int
    score: int = 0


@dataclass
class Arena:
    """The whole game state. `apply(tick)` is the only way it changes."""

    tick: int = 0
    rng: int = 0x2545F491  # LCG state, part of the game state
    players: dict[int, Player] = field(default_factory=dict)  # by slot
    coins: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.coins:
            self.coins = [self._random_cell() for _ in range(COINS)]

    def _random(self) -> int:
        self.rng = (self.rng * 1103515245 + 12345) & 0x7FFFFFFF
        return self.rng >> 8

    def _random_cell(self) -> tuple[int, int]:
        return self._random() % WIDTH, self._random() % HEIGHT

    def apply(self, tick: Tick) -> None:
        """Advance by one tick: joins spawn, inputs move in order, leaves vanish."""
        self.tick = tick.number
        for m in tick.joined:
            x, y = self._random_cell()
            self.players[m.slot] = Player(x, y)
        for inp in tick.inputs:
            player = self.players.get(inp.slot)
            move = MOVES.get(inp.payload)
            if player is None or move is None:
                continue
            player.x = min(WIDTH - 1, max(0, player.x + move[0]))
            player.y = min(HEIGHT - 1, max(0, player.y + move[1]))
            cell = (player.x, player.y)
            if cell in self.coins:
                player.score += 1
                self.coins[self.coins.index(cell)] = self._random_cell()
        for m in tick.left:
            self.players.pop(m.slot, None)

    def state_hash(self) -> bytes:
        """BLAKE2b-128 of a canonical encoding of the state (sorted, fixed-width)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(struct.pack("<QI", self.tick, self.rng))
        for slot in sorted(self.players):
            p = self.players[slot]
            h.update(struct.pack("<IhhI", slot, p.x, p.y, p.score))
        for x, y in self.coins:
            h.update(struct.pack("<hh", x, y))
        return h.digest()

    def render(self) -> str:
        """The grid as text: digits are players (slot mod 10), o are coins."""
        rows = [["." for _ in range(WIDTH)] for _ in range(HEIGHT)]
        for x, y in self.coins:
            rows[y][x] = "o"
        for slot, p in self.players.items():
            rows[p.y][p.x] = str(slot % 10)
        return "\n".join("".join(r) for r in rows)
