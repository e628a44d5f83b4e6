"""The server's worst-case memory, computed from its limits, and what it holds now.

Every byte a client can make the server keep is held by one of the structures
below, and each is bounded by a limit (docs/security.md, "Memory budget"):

- per connection: its unsent output (`--queue-limit-bytes`: a live reader past
  it is evicted at the next tick, a Pong past it at once; a catching-up reader
  holds at most a catch-up chunk), its partial input (one frame, `--max-frame`;
  aiohttp's WebSocket reader also queues at most 64 KiB of parsed messages
  before it stops reading), its share of its room's open tick (at most
  `--input-bytes-per-tick` a player), a catch-up chunk read from the tick log,
  and its objects;
- per room: its history (`--history-bytes`, plus the ring's slots and the
  chains of its empty ticks, `--history-seconds`) and its objects;
- one tick frame, at most `max_tick_frame` bytes, per catching-up connection:
  its pump stops once a chunk is unsent, but the last frame it wrote (and the
  chunk it came from) may be as large as a tick can be. A live reader never
  holds more than its budget between two callbacks: the frame that takes it
  past the budget evicts it in the same fan-out, and the eviction drops its
  queue. A frame is one bytes object shared by every member, the history and
  the tick log, so its bytes exist once however many hold it; the bound
  counts it per holder;
- the HTTP side: plain HTTP connections (`--max-http-connections`, at most a
  quarter of the descriptors) and dashboard viewers.

Kernel memory (socket buffers) is not the process's and is listed apart.

`worst_case(config)` is that table; `held(relay)` what a relay holds now in the
same terms, which the fill test (tests/integration/test_memory_budget.py)
keeps within the bound. Sans-I/O: it reads counters, never a socket.
`python -m tickcast.budget` prints the table for the `TICKCAST_*` settings of
the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tickcast.config import Config
from tickcast.history import CHAIN_BYTES
from tickcast.outbox import CATCHUP_CHUNK_BYTES

if TYPE_CHECKING:
    from tickcast.relay import Relay

KIB = 1024
CONNECTION_OBJECTS = 8 * KIB
"""A joined connection's objects (session, outbox, framer, membership, player,
transport): 8.7 KiB measured with tracemalloc, 400 connections in 100 rooms."""
ROOM_OBJECTS = 16 * KIB
"""A room's objects besides its history (measured likewise)."""
WS_QUEUE = 64 * KIB
"""aiohttp's queue of parsed WebSocket messages: it pauses reading past this."""
INPUT_OVERHEAD = 24
"""Bytes an input adds to a tick besides its payload (RelayedInput: slot, seq, tags)."""
PLAYER_TICK_OVERHEAD = 96
"""A player's presence and desync entries in one tick (a Member: slot, id of 64 bytes)."""
TICK_OVERHEAD = 64
"""A tick frame besides its entries: prefix, number, chain."""
HTTP_CONNECTION = 200 * KIB
"""A plain HTTP connection: a head and a body of 64 KiB each, aiohttp's read buffer."""
DASHBOARD_VIEWER = 64 * KIB
"""A dashboard feed: 31 to 38 KB measured, with room for larger samples."""
LINUX_SNDBUF_FACTOR = 2
"""Linux doubles the SO_SNDBUF it is given (socket(7)) for its own bookkeeping."""


SIZED_EXAMPLE = {
    "max_connections": 2000, "max_rooms": 500, "max_players": 16,
    "input_bytes_per_tick": 1024, "queue_limit_bytes": 256 * KIB,
}  # fmt: skip
"""docs/security.md's second table: a server sized for its game (16 players a room,
inputs of at most 1 KiB a tick, 2,000 connections)."""


def max_tick_frame(config: Config) -> int:
    """The largest tick a room can produce: every player of a full room at its
    per-tick byte budget, in as many inputs as its burst allows."""
    players = config.max_players
    if config.max_connections:
        players = min(players, config.max_connections)
    per_player = (
        config.input_bytes_per_tick + config.input_burst * INPUT_OVERHEAD + PLAYER_TICK_OVERHEAD
    )
    return players * per_player + TICK_OVERHEAD


def per_connection(config: Config) -> dict[str, int]:
    """What one connection may hold, by row (tick frames apart: `max_tick_frame`)."""
    return {
        "outbound queue": config.queue_limit_bytes + CATCHUP_CHUNK_BYTES,
        "partial input": 2 * config.max_frame + WS_QUEUE,
        "open tick": config.input_bytes_per_tick + config.input_burst * INPUT_OVERHEAD,
        "catch-up chunk from the tick log": CATCHUP_CHUNK_BYTES,
        "objects": CONNECTION_OBJECTS,
    }


def per_room(config: Config) -> dict[str, int]:
    return {
        "history": config.history_bytes + config.history_ticks * (8 + CHAIN_BYTES),
        "objects": ROOM_OBJECTS,
    }


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the budget: what holds memory, its bound per unit, and in total."""

    name: str
    each: int  # bytes per unit
    units: int  # how many (0 when the limit is off: no bound)
    unit: str  # of what
    kernel: bool = False

    @property
    def total(self) -> int:
        return self.each * self.units


def worst_case(config: Config, descriptors: int | None = None) -> list[Row]:
    """The table of docs/security.md for `config` (`descriptors`: the soft
    RLIMIT_NOFILE, which caps the HTTP side at a quarter of it)."""
    c, r = config.max_connections, config.max_rooms
    rows = [Row(f"per connection: {k}", v, c, "connections")
            for k, v in per_connection(config).items()]  # fmt: skip
    rows += [Row(f"per room: {k}", v, r, "rooms") for k, v in per_room(config).items()]
    rows.append(Row("per connection: the tick frame a catch-up sends past its chunk",
                    max_tick_frame(config), c, "connections"))  # fmt: skip
    http = config.max_http_connections
    if descriptors is not None:
        http = max(8, min(http, descriptors // 4))
    rows.append(Row("HTTP: plain connections", HTTP_CONNECTION, http, "HTTP connections"))
    rows.append(Row("HTTP: dashboard feeds", DASHBOARD_VIEWER, config.max_dashboard_viewers,
                    "viewers"))  # fmt: skip
    sndbuf = config.send_buffer_bytes * LINUX_SNDBUF_FACTOR
    rows.append(Row("kernel: send buffers", sndbuf, c, "connections", kernel=True))
    return rows


def process_total(rows: list[Row]) -> int:
    return sum(row.total for row in rows if not row.kernel)


def held(relay: Relay) -> dict[str, int]:
    """What `relay` holds now, in the terms of `per_connection` and `per_room`:
    bytes by row."""
    out = dict.fromkeys(
        ("outbound queue", "partial input", "open tick", "catch-up chunk from the tick log",
         "history"), 0,
    )  # fmt: skip
    for s in relay.sessions:
        stats = s.outbox.statistics()
        out["outbound queue"] += stats.buffered_bytes
        out["partial input"] += s.framer.buffered
        source = s.outbox.source
        chunk = getattr(source, "chunk_bytes", 0) if source is not None else 0
        out["catch-up chunk from the tick log"] += chunk
    for room in relay.rooms.values():
        out["open tick"] += room.open_bytes()
        h = room.history
        out["history"] += h.bytes + h.chain_bytes + 8 * h.size
    return out


def per_connection_held(relay: Relay) -> list[int]:
    """Each connection's unsent bytes (to check one connection against its bound)."""
    return [s.outbox.statistics().buffered_bytes for s in relay.sessions]


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n / KIB:,.1f} KiB"


def table(config: Config, descriptors: int | None = None) -> str:
    """The budget as a Markdown table (docs/security.md is made with it)."""
    rows = worst_case(config, descriptors)
    lines = ["| held by | each | times | total |", "| --- | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row.name} | {_mib(row.each)} | {row.units:,} {row.unit} | "
                     f"{_mib(row.total)} |")  # fmt: skip
    lines.append(f"| **process, in all** | | | **{_mib(process_total(rows))}** |")
    return "\n".join(lines)


def main() -> None:
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    print(table(Config.from_env(), None if soft == resource.RLIM_INFINITY else soft))


if __name__ == "__main__":
    main()
