"""`tickcast bots`: simulated players that load a server and check what it sends.

    tickcast bots --host 127.0.0.1 --port 7777 --rooms 8 --per-room 8 --duration 20

Every bot is a `tickcast.Client` on one event loop. Players send inputs at
`--input-rate` per second whose first 8 bytes are a send timestamp, so a bot
measures the latency of its own inputs when they come back in a tick. Every
bot (spectators too) checks its application-level stream:

- gap / duplicate: tick numbers go up by exactly one;
- exactly once: its own inputs come back once each, in seq order, and all of them
  (from the seq of its first input: above `Welcome.last_seq`, which is not 0 when
  the player was in the room before, e.g. in a match the server restored);
- consistency: the ticks of each window of `WINDOW` ticks hash the same for
  every member of the room that saw the whole window;
- kicks: bots never misbehave, so any Kick is unexpected (also one that refuses a
  bot's first connection, e.g. AUTH_FAILED without a token).

Any of those makes the command exit 1, so it doubles as a smoke test in CI.
It is a functional tool first: figures against the Go reference relay come from
the bench driver described in docs/benchmarks.md (bench/bots.py runs this
command in the shape of its scenarios).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from tickcast.cli import run_async
from tickcast.client import Client, Tick
from tickcast.errors import Kicked, TickGap
from tickcast.stats import percentile

WINDOW = 32
"""Ticks per consistency window."""
DRIVE_STEP = 0.01
"""Seconds between two rounds of sends (at most)."""
CONNECT_SECONDS = 120.0
"""How long workers wait for each other to connect their bots."""
SETTLE_SECONDS = 5.0
"""After the run, how long bots wait for their last inputs to come back."""
_STAMP = struct.Struct("<q")
_unpack_stamp = _STAMP.unpack_from
_now_ns = time.perf_counter_ns


@dataclass
class BotOptions:
    host: str = "127.0.0.1"
    port: int = 7777
    rooms: int = 1
    per_room: int = 4
    input_rate: float = 10.0
    payload_bytes: int = 16
    duration: float = 10.0
    spectators: int = 0
    room_prefix: str = "bots"
    token: str = ""
    jwt_secret: str = ""
    live: bool = True
    websocket_path: str | None = None
    workers: int = 1
    """Processes that share the rooms (see `run_workers`)."""
    worker: int = 0
    """This process's share: rooms worker, worker + workers, ..."""


class RoomCheck:
    """The window digests of one room, to compare every member's stream."""

    __slots__ = ("windows", "compared", "inconsistencies")

    def __init__(self) -> None:
        self.windows: dict[int, bytes] = {}
        self.compared = 0
        self.inconsistencies = 0

    def report(self, window: int, digest: bytes) -> None:
        seen = self.windows.setdefault(window, digest)
        if seen is not digest:
            self.compared += 1
            if seen != digest:
                self.inconsistencies += 1


class Bot:
    """One simulated player or spectator and its checks."""

    __slots__ = (
        "client",
        "check",
        "spectator",
        "last",
        "ticks",
        "deliveries",
        "gaps",
        "duplicates",
        "sent",
        "own_seen",
        "own_last_seq",
        "misordered",
        "latencies",
        "error",
        "_window",
        "_hash",
        "_slot",
    )

    def __init__(self, client: Client | None, check: RoomCheck, spectator: bool) -> None:
        # None while BotRun builds the client, which needs `on_tick` of its bot
        self.client: Client = client  # type: ignore[assignment]
        self.check = check
        self.spectator = spectator
        self.last = 0
        self.ticks = 0
        self.deliveries = 0
        self.gaps = 0
        self.duplicates = 0
        self.sent = 0
        self.own_seen = 0
        self.own_last_seq = 0
        self.misordered = 0
        self.latencies: list[float] = []
        self.error: BaseException | None = None
        self._window = -1  # the window being hashed; -1 until one starts at its first tick
        self._hash: Any = None
        self._slot = -1  # the client's slot, looked up at the first tick (after the Welcome)

    def send(self, padding: bytes) -> None:
        seq = self.client.send(_STAMP.pack(_now_ns()) + padding)
        if not self.sent:
            # the SDK numbers the first input above Welcome.last_seq: expect that one
            self.own_last_seq = seq - 1
        self.sent += 1

    def take_error(self) -> None:
        """Record why the client's stream ended, if it failed (a gap, a kick, ...)."""
        exc = self.client.error
        if exc is not None and self.error is None:
            self.error = exc
            if isinstance(exc, TickGap):
                self.gaps += 1

    def on_tick(self, tick: Tick) -> None:
        """Check one tick; the client calls it as soon as the tick is read."""
        n = tick.number
        last = self.last
        if last and n != last + 1:
            if n <= last:
                self.duplicates += 1
                return
            self.gaps += 1
        self.last = n
        self.ticks += 1
        inputs = tick.inputs
        if inputs:
            self.deliveries += len(inputs)
            slot = self._slot
            if slot < 0:
                slot = self._slot = self.client.slot  # stable: resumes keep the slot
            if slot:
                now = _now_ns()
                for inp in inputs:
                    if inp.slot == slot:
                        if inp.seq != self.own_last_seq + 1:
                            self.misordered += 1
                        self.own_last_seq = inp.seq
                        self.own_seen += 1
                        sent_at = _unpack_stamp(inp.payload)[0]
                        self.latencies.append((now - sent_at) / 1e6)
        # consistency: hash whole windows of ticks
        w = (n - 1) // WINDOW
        if w != self._window:
            self._window = w if (n - 1) % WINDOW == 0 else -1
            self._hash = hashlib.blake2b(digest_size=16) if self._window >= 0 else None
        h = self._hash
        if h is not None:
            h.update(tick.raw)
            if n % WINDOW == 0:
                self.check.report(w, h.digest())


@dataclass
class Summary:
    """What `tickcast bots` reports (and writes with --json)."""

    options: dict[str, Any]
    bots: int = 0
    connected: int = 0
    connect_errors: int = 0
    duration: float = 0.0
    started_at: float = 0.0
    """Unix time when the bots began to send (after all had connected)."""
    inputs_sent: int = 0
    inputs_confirmed: int = 0
    inputs_lost: int = 0
    misordered: int = 0
    ticks: int = 0
    deliveries: int = 0
    inputs_per_second: float = 0.0
    deliveries_per_second: float = 0.0
    latency_ms_p50: float = 0.0
    latency_ms_p99: float = 0.0
    latency_ms_max: float = 0.0
    reconnects: int = 0
    kicks: int = 0
    kick_reasons: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    duplicates: int = 0
    inconsistencies: int = 0
    windows_compared: int = 0
    errors: list[str] = field(default_factory=list)

    def derive(self, sorted_latencies: list[float]) -> None:
        """Fill in the rates and the latency percentiles."""
        elapsed = self.duration
        self.inputs_per_second = round(self.inputs_sent / elapsed, 1) if elapsed else 0.0
        self.deliveries_per_second = round(self.deliveries / elapsed, 1) if elapsed else 0.0
        lat = sorted_latencies
        self.latency_ms_p50 = round(percentile(lat, 50), 2)
        self.latency_ms_p99 = round(percentile(lat, 99), 2)
        self.latency_ms_max = round(lat[-1], 2) if lat else 0.0

    @property
    def ok(self) -> bool:
        return not (
            self.connect_errors
            or self.inputs_lost
            or self.misordered
            or self.kicks
            or self.gaps
            or self.duplicates
            or self.inconsistencies
            or self.errors
        )


def _token(opts: BotOptions, player_id: str, room: str) -> str:
    if not opts.jwt_secret:
        return opts.token
    import jwt  # PyJWT: only needed against a server with auth on

    claims = {"sub": player_id, "room": room, "exp": int(time.time()) + 3600}
    return str(jwt.encode(claims, opts.jwt_secret, algorithm="HS256"))


class BotRun:
    """All bots of one `tickcast bots` run, on the running loop."""

    def __init__(self, opts: BotOptions) -> None:
        self.opts = opts
        self.bots: list[Bot] = []
        self.checks: list[RoomCheck] = []
        self.connect_errors: list[str] = []
        self.refused: list[Kicked] = []
        """The kicks of the bots whose first connection failed (they are not in `bots`)."""
        self.started = 0.0
        self.started_at = 0.0
        self._shown_at = 0.0
        self._shown: tuple[int, int, int] = (0, 0, 0)

    async def connect_all(self) -> None:
        opts = self.opts
        limit = asyncio.Semaphore(64)  # do not open hundreds of handshakes at once

        async def one(room: str, player_id: str, spectator: bool, check: RoomCheck) -> None:
            # the bot checks each tick as its client reads it, from the first one:
            # no task per bot, and nothing queues up while the others connect
            bot = Bot(None, check, spectator)
            client = bot.client = Client(
                opts.host,
                opts.port,
                player_id=player_id,
                room=room,
                token=_token(opts, player_id, room),
                spectator=spectator,
                websocket_path=opts.websocket_path,
                on_tick=bot.on_tick,
            )
            async with limit:
                try:
                    await client.start()
                except Exception as exc:
                    self.connect_errors.append(f"{room}/{player_id}: {exc!r}")
                    self.refused.extend(client.kicks)  # e.g. AUTH_FAILED: a kick all the same
                    return
            self.bots.append(bot)

        jobs = []
        for r in range(opts.worker, opts.rooms, max(1, opts.workers)):
            room = f"{opts.room_prefix}-{r + 1}"
            check = RoomCheck()
            self.checks.append(check)
            for p in range(opts.per_room):
                jobs.append(one(room, f"bot-{r + 1}-{p + 1}", False, check))
            for s in range(opts.spectators):
                jobs.append(one(room, f"watcher-{r + 1}-{s + 1}", True, check))
        await asyncio.gather(*jobs)

    async def drive(self, stop_at: float) -> None:
        """Send every player's inputs at the input rate until `stop_at` (loop time).

        One timer for all bots. The sends are spread evenly over time, round
        robin over the players, rather than one burst of every player's input
        per period: a burst of hundreds of writes keeps the loop from reading
        ticks meanwhile, and makes the server read them all at once too.
        """
        loop = asyncio.get_running_loop()
        players = [b for b in self.bots if not b.spectator]
        padding = b"\x00" * max(0, self.opts.payload_bytes - _STAMP.size)
        rate = self.opts.input_rate * len(players)  # sends per second, all players
        if rate <= 0:
            await asyncio.sleep(max(0.0, stop_at - loop.time()))
            return
        # not 1 / rate: hundreds of players would make that a busy loop of timers
        step = min(DRIVE_STEP, 1.0 / self.opts.input_rate)
        turn = 0  # the next player to send, round robin
        credit = 0.0
        last = loop.time()
        while True:
            now = loop.time()
            if now >= stop_at:
                return
            credit += (now - last) * rate
            last = now
            due = int(credit)
            credit -= due
            for _ in range(due):
                bot = players[turn]
                turn = turn + 1 if turn + 1 < len(players) else 0
                if not bot.client.closed:
                    bot.send(padding)
            await asyncio.sleep(step)

    async def settle(self) -> None:
        """Wait (bounded) until every player's inputs have come back."""
        loop = asyncio.get_running_loop()
        end = loop.time() + SETTLE_SECONDS
        while loop.time() < end:
            if all(b.own_seen >= b.sent or b.client.closed for b in self.bots if not b.spectator):
                return
            await asyncio.sleep(0.05)

    def totals(self) -> tuple[int, int, int]:
        sent = sum(b.sent for b in self.bots)
        deliveries = sum(b.deliveries for b in self.bots)
        ticks = sum(b.ticks for b in self.bots)
        return sent, deliveries, ticks

    def live_table(self) -> Any:
        """The live display: rates over the last refresh interval."""
        from rich.table import Table

        now = time.monotonic()
        sent, deliveries, ticks = self.totals()
        dt = max(1e-6, now - self._shown_at) if self._shown_at else 0.0
        p_sent, p_del, p_ticks = self._shown
        rates = [
            (x - y) / dt if dt else 0.0
            for x, y in ((sent, p_sent), (deliveries, p_del), (ticks, p_ticks))
        ]
        self._shown_at, self._shown = now, (sent, deliveries, ticks)
        recent: list[float] = []
        for b in self.bots:
            recent.extend(b.latencies[-20:])
        recent.sort()
        t = Table(title=f"tickcast bots: {time.monotonic() - self.started:5.1f} s")
        for col in (
            "connected",
            "inputs/s",
            "deliveries/s",
            "ticks/s",
            "p50 ms",
            "p99 ms",
            "reconnects",
            "kicks",
            "gaps",
            "dups",
        ):
            t.add_column(col, justify="right")
        t.add_row(
            f"{sum(b.client.connected for b in self.bots)}/{len(self.bots)}",
            f"{rates[0]:.0f}",
            f"{rates[1]:.0f}",
            f"{rates[2]:.0f}",
            f"{percentile(recent, 50):.1f}",
            f"{percentile(recent, 99):.1f}",
            str(sum(b.client.reconnects for b in self.bots)),
            str(len(self.refused) + sum(len(b.client.kicks) for b in self.bots)),
            str(sum(b.gaps for b in self.bots)),
            str(sum(b.duplicates for b in self.bots)),
        )
        return t

    def summary(self, elapsed: float) -> Summary:
        opts = self.opts
        bots = self.bots
        s = Summary(options=asdict(opts))
        s.options.pop("jwt_secret", None)
        s.bots = len(bots) + len(self.connect_errors)
        s.connected = len(bots)
        s.connect_errors = len(self.connect_errors)
        s.duration = round(elapsed, 3)
        s.started_at = round(self.started_at, 3)
        s.inputs_sent = sum(b.sent for b in bots)
        s.inputs_confirmed = sum(b.own_seen for b in bots)
        s.inputs_lost = sum(max(0, b.sent - b.own_seen) for b in bots)
        s.misordered = sum(b.misordered for b in bots)
        s.ticks = sum(b.ticks for b in bots)
        s.deliveries = sum(b.deliveries for b in bots)
        s.reconnects = sum(b.client.reconnects for b in bots)
        for k in [*self.refused, *(k for b in bots for k in b.client.kicks)]:
            s.kicks += 1
            s.kick_reasons[k.reason_name] = s.kick_reasons.get(k.reason_name, 0) + 1
        s.gaps = sum(b.gaps for b in bots)
        s.duplicates = sum(b.duplicates for b in bots)
        s.inconsistencies = sum(c.inconsistencies for c in self.checks)
        s.windows_compared = sum(c.compared for c in self.checks)
        s.errors = list(self.connect_errors)
        for b in bots:
            if b.error is not None and not isinstance(b.error, (TickGap, Kicked)):
                s.errors.append(f"{b.client.room}/{b.client.player_id}: {b.error!r}")
            elif isinstance(b.error, Kicked) and b.error not in b.client.kicks:
                s.kicks += 1
        s.derive(self.latencies())
        return s

    def latencies(self) -> list[float]:
        """Every latency measured, sorted."""
        return sorted(x for b in self.bots for x in b.latencies)


async def run_bots(opts: BotOptions) -> Summary:
    """Connect the bots, run them for `opts.duration` seconds, check, and summarise."""
    if opts.workers > 1 and opts.rooms > 1:
        return await run_workers(opts)
    summary, _ = await run_share(opts)
    return summary


async def run_share(
    opts: BotOptions, all_connected: Callable[[], None] | None = None
) -> tuple[Summary, list[float]]:
    """Run this process's rooms: (summary, sorted latencies). `all_connected`
    blocks until every worker has connected (it runs in a thread meanwhile, so
    this loop keeps reading ticks)."""
    run = BotRun(opts)
    loop = asyncio.get_running_loop()
    run.started = time.monotonic()
    await run.connect_all()
    if all_connected is not None:
        await loop.run_in_executor(None, all_connected)
    # Hundreds of clients are long-lived objects: without this, every full
    # collection walks all of them again while ticks pour in.
    gc.freeze()
    t0 = loop.time()
    run.started_at = time.time()
    live = None
    if opts.live:
        from rich.live import Live

        live = Live(run.live_table(), auto_refresh=False, transient=True)
        live.start()
    try:
        driver = asyncio.create_task(run.drive(t0 + opts.duration))
        while not driver.done():
            await asyncio.wait([driver], timeout=0.5)
            if live is not None:
                live.update(run.live_table(), refresh=True)
        await driver
        elapsed = loop.time() - t0
        await run.settle()
    finally:
        if live is not None:
            live.stop()
    for b in run.bots:
        b.take_error()
    summary = run.summary(elapsed)
    latencies = run.latencies() if all_connected is not None else []
    await asyncio.gather(*(b.client.close() for b in run.bots), return_exceptions=True)
    gc.unfreeze()
    return summary, latencies


def _worker_main(opts: BotOptions, barrier: Any, results: Any) -> None:
    """A worker process: run its share of the rooms, send back (summary, latencies)."""
    try:
        results.send(run_async(run_share(opts, barrier.wait)))
    except BaseException as exc:  # reported by the parent as an error of this worker
        results.send(exc)
        raise
    finally:
        results.close()


async def run_workers(opts: BotOptions) -> Summary:
    """Run the rooms in `opts.workers` processes and merge what they report.

    One Python process checks every tick of every bot on one core, and under
    CPU contention it gets one thread's share of the machine: with many
    hundreds of bots that can be too little, and then the latency it measures
    is its own backlog. Rooms are independent (the consistency check is per
    room), so each worker takes whole rooms; they start sending together once
    all have connected. Workers cost CPU of their own (an interpreter each,
    and fewer ticks per loop wake-up), which the server under test then lacks
    on a small machine: one process is the default.
    """
    import multiprocessing

    workers = min(opts.workers, opts.rooms)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with a loop
    barrier = ctx.Barrier(workers, timeout=CONNECT_SECONDS)
    procs, pipes = [], []
    for w in range(workers):
        receive, send = ctx.Pipe(duplex=False)
        share = replace(opts, worker=w, workers=workers, live=False)
        proc = ctx.Process(target=_worker_main, args=(share, barrier, send), daemon=True)
        proc.start()
        send.close()
        procs.append(proc)
        pipes.append(receive)
    loop = asyncio.get_running_loop()

    def collect(w: int) -> Any:
        try:
            return pipes[w].recv()
        except EOFError:
            barrier.abort()  # the others must not wait for this one to connect
            return RuntimeError(f"bots worker {w} exited with code {procs[w].exitcode}")

    parts = await asyncio.gather(*(loop.run_in_executor(None, collect, w) for w in range(workers)))
    for proc in procs:
        proc.join(5)
    return merge_summaries(opts, parts)


_SUMMED = (
    "bots",
    "connected",
    "connect_errors",
    "inputs_sent",
    "inputs_confirmed",
    "inputs_lost",
    "misordered",
    "ticks",
    "deliveries",
    "reconnects",
    "kicks",
    "gaps",
    "duplicates",
    "inconsistencies",
    "windows_compared",
)


def merge_summaries(opts: BotOptions, parts: list[Any]) -> Summary:
    """One summary of the workers' (summary, sorted latencies), or their exceptions."""
    s = Summary(options=asdict(opts))
    s.options.pop("jwt_secret", None)
    latencies: list[float] = []
    for part in parts:
        if isinstance(part, BaseException):
            s.errors.append(f"worker: {part!r}")
            continue
        summary, lat = part
        for name in _SUMMED:
            setattr(s, name, getattr(s, name) + getattr(summary, name))
        for reason, count in summary.kick_reasons.items():
            s.kick_reasons[reason] = s.kick_reasons.get(reason, 0) + count
        s.errors.extend(summary.errors)
        s.duration = max(s.duration, summary.duration)
        s.started_at = max(s.started_at, summary.started_at)
        latencies.extend(lat)
    latencies.sort()
    s.derive(latencies)
    return s


def summary_table(s: Summary) -> Any:
    from rich.table import Table
    from rich.text import Text

    t = Table(title="tickcast bots: summary", show_header=True)
    t.add_column("metric")
    t.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("bots connected", f"{s.connected}/{s.bots}"),
        ("duration s", f"{s.duration:.1f}"),
        ("inputs sent", str(s.inputs_sent)),
        ("inputs confirmed", str(s.inputs_confirmed)),
        ("inputs lost", str(s.inputs_lost)),
        ("inputs misordered", str(s.misordered)),
        ("inputs/s", f"{s.inputs_per_second:.0f}"),
        ("ticks received", str(s.ticks)),
        ("deliveries/s", f"{s.deliveries_per_second:.0f}"),
        ("latency p50 ms", f"{s.latency_ms_p50:.1f}"),
        ("latency p99 ms", f"{s.latency_ms_p99:.1f}"),
        ("latency max ms", f"{s.latency_ms_max:.1f}"),
        ("reconnects", str(s.reconnects)),
        ("kicks", str(s.kicks) + (f" {s.kick_reasons}" if s.kick_reasons else "")),
        ("gaps", str(s.gaps)),
        ("duplicates", str(s.duplicates)),
        ("inconsistencies", f"{s.inconsistencies} ({s.windows_compared} windows compared)"),
        ("result", "OK" if s.ok else "FAILED"),
    ]
    for k, v in rows:
        t.add_row(k, Text(v))  # kick reasons come from the server: never markup
    return t


def setup(p: argparse.ArgumentParser) -> None:
    d = BotOptions()
    p.add_argument("--host", default=d.host, help="server address [%(default)s]")
    p.add_argument("--port", type=int, default=d.port, help="server TCP port [%(default)s]")
    p.add_argument("--rooms", type=int, default=d.rooms, help="rooms [%(default)s]")
    p.add_argument(
        "--per-room", type=int, default=d.per_room, help="players per room [%(default)s]"
    )
    p.add_argument(
        "--input-rate",
        type=float,
        default=d.input_rate,
        help="inputs per second per player [%(default)s]",
    )
    p.add_argument(
        "--payload-bytes",
        type=int,
        default=d.payload_bytes,
        help="bytes per input, at least 8 (a timestamp) [%(default)s]",
    )
    p.add_argument("--duration", type=float, default=d.duration, help="seconds [%(default)s]")
    p.add_argument(
        "--spectators", type=int, default=d.spectators, help="spectators per room [%(default)s]"
    )
    p.add_argument("--room-prefix", default=d.room_prefix, help="room names [%(default)s]")
    p.add_argument("--token", default="", help="token sent by every bot")
    p.add_argument(
        "--jwt-secret", default="", help="sign an HS256 JWT per bot with this secret (needs PyJWT)"
    )
    p.add_argument(
        "--websocket",
        metavar="PATH",
        help="connect over WebSocket to ws://HOST:PORT/PATH (PORT = the server's HTTP port, "
        "PATH usually /ws) instead of TCP",
    )
    p.add_argument("--json", metavar="FILE", help="write the summary as JSON to FILE")
    p.add_argument("--no-live", action="store_true", help="no live display while running")
    p.add_argument(
        "--workers",
        type=int,
        default=d.workers,
        help="processes that share the rooms (more than one: no live display) [%(default)s]",
    )


def cmd_bots(args: argparse.Namespace) -> int:
    """Simulate players against a server and check every tick they receive.

    Exits 1 on a gap, a duplicate, an inconsistency between room members, a
    lost input or an unexpected kick."""
    if args.payload_bytes < _STAMP.size:
        print("tickcast bots: --payload-bytes must be at least 8", file=sys.stderr)
        return 2
    if (
        args.rooms < 1
        or args.per_room < 0
        or args.spectators < 0
        or args.duration <= 0
        or args.workers < 1
    ):
        msg = "--rooms must be >= 1, --duration > 0, --workers >= 1"
        print(f"tickcast bots: {msg}", file=sys.stderr)
        return 2
    opts = BotOptions(
        host=args.host,
        port=args.port,
        rooms=args.rooms,
        per_room=args.per_room,
        input_rate=args.input_rate,
        payload_bytes=args.payload_bytes,
        duration=args.duration,
        spectators=args.spectators,
        room_prefix=args.room_prefix,
        token=args.token,
        jwt_secret=args.jwt_secret,
        live=not args.no_live and sys.stdout.isatty(),
        websocket_path=args.websocket,
        workers=args.workers,
    )
    return run_async(_main(opts, args.json))


async def _main(opts: BotOptions, json_file: str | None) -> int:
    """Run, print the summary table, write the JSON; the exit status."""
    from rich.console import Console

    summary = await run_bots(opts)
    Console().print(summary_table(summary))
    for err in summary.errors[:10]:
        print(f"error: {err}", file=sys.stderr)
    if json_file:
        with open(json_file, "w") as f:
            json.dump(asdict(summary) | {"ok": summary.ok}, f, indent=2)
    return 0 if summary.ok else 1
