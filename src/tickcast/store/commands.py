"""The recording commands: `tickcast matches`, `replay`, `export`, `verify`, `migrate`.

Each reads the tick log in `--data-dir` (default: $TICKCAST_DATA_DIR, else
./tickcast-data), in either format (the segment log in D/ticks/, else the
SQLite log D/ticks.sqlite3). They may run while a server records into the same
log (both formats let readers read beside the writer). `migrate` converts a
SQLite log into a segment log (store/migrate.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

from tickcast.cli import run_async
from tickcast.config import Config
from tickcast.errors import ConfigError
from tickcast.logs import setup_logging
from tickcast.store.log import MatchInfo, StoreError, TickLog
from tickcast.store.migrate import migrate_sqlite, open_for_reading
from tickcast.store.tools import export_ndjson, verify_match


def _data_dir_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        default=os.environ.get("TICKCAST_DATA_DIR") or "./tickcast-data",
        help="directory of the tick log [env TICKCAST_DATA_DIR; default ./tickcast-data]",
    )


def match_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("match", type=int, metavar="MATCH", help="match id (see `tickcast matches`)")
    _data_dir_flag(p)


def _open(args: argparse.Namespace) -> TickLog:
    return open_for_reading(args.data_dir)


def _find(log: TickLog, match_id: int) -> MatchInfo:
    match = log.match(match_id)
    if match is None:
        raise StoreError(f"no match {match_id} in {getattr(log, 'path', 'the tick log')}")
    return match


@contextlib.contextmanager
def _match_log(args: argparse.Namespace) -> Iterator[TickLog]:
    """The log, open, holding `args.match` (StoreError if not); closed afterwards."""
    log = _open(args)
    try:
        _find(log, args.match)
        yield log
    finally:
        log.close()


def _fail(exc: Exception) -> int:
    print(f"tickcast: {exc}", file=sys.stderr)
    return 1


def _when(t: float | None) -> str:
    if t is None:
        return "live"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------- matches


def matches_args(p: argparse.ArgumentParser) -> None:
    _data_dir_flag(p)
    p.add_argument("--json", action="store_true", help="one JSON array instead of a table")


def cmd_matches(args: argparse.Namespace) -> int:
    """List the recorded matches."""
    try:
        log = _open(args)
    except StoreError as exc:
        return _fail(exc)
    try:
        matches = log.matches()
    finally:
        log.close()
    if args.json:
        rows = [
            {
                "id": m.id,
                "room": m.room,
                "started_at": m.started_at,
                "ended_at": m.ended_at,
                "end_reason": m.end_reason,
                "tick_rate": m.tick_rate,
                "ticks": m.tick_count,
                "players": m.players,
                "server_id": m.server_id,
                "match_key": m.match_key,
                "first_tick": m.first_tick,
            }
            for m in matches
        ]
        print(json.dumps(rows, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("id", "room", "started (UTC)", "ended (UTC)", "ticks", "Hz", "players")
    for m in matches:
        table.add_row(
            str(m.id),
            Text(m.room),  # client-chosen names as plain text, never as rich markup
            _when(m.started_at),
            _when(m.ended_at),
            # a cluster node's part of a match: the ticks it sequenced
            f"{m.first_tick}..{m.tick_count}" if m.is_part else str(m.tick_count),
            str(m.tick_rate),
            Text(", ".join(m.players)),
        )
    Console(width=200).print(table)
    return 0


# ---------------------------------------------------------------- export / verify


def export_args(p: argparse.ArgumentParser) -> None:
    match_args(p)
    p.add_argument("--format", choices=["ndjson"], default="ndjson", help="output format")
    p.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")


def cmd_export(args: argparse.Namespace) -> int:
    """Write a match's ticks, one JSON object per line (payloads base64, chain hex)."""
    try:
        with _match_log(args) as log:
            out = sys.stdout if args.output == "-" else open(args.output, "w")  # noqa: SIM115
            try:
                for line in export_ndjson(log, args.match):
                    out.write(line)
            finally:
                if out is not sys.stdout:
                    out.close()
    except BrokenPipeError:
        raise  # `| head`: the CLI ends quietly (cli.main)
    except (StoreError, OSError) as exc:
        return _fail(exc)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a match's chain end to end; report the first bad tick (exit 1) if any."""
    try:
        with _match_log(args) as log:
            verdict = verify_match(log, args.match)
            match = _find(log, args.match)
    except StoreError as exc:
        return _fail(exc)
    if verdict.ok:
        part = ""
        if match.is_part:
            part = f", a part from tick {match.first_tick} (chain continued from tick " \
                f"{match.first_tick - 1})"
        if match.match_key:
            part += f", of cluster match {match.match_key}"
        print(
            f"match {args.match}: OK, {verdict.ticks} ticks ({verdict.chained} chained){part}"
        )
        return 0
    print(
        f"match {args.match}: BAD at tick {verdict.first_bad}: {verdict.problem} "
        f"({verdict.ticks} ticks before it are good)"
    )
    return 1


# ---------------------------------------------------------------- replay


def replay_args(p: argparse.ArgumentParser) -> None:
    match_args(p)
    p.add_argument("--speed", type=float, default=1.0, help="playback speed (2 = twice as fast)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=7777, help="TCP port (0 picks a free one)")


def cmd_replay(args: argparse.Namespace) -> int:
    """Serve a recorded match as a live, watch-only room (join it as a spectator)."""
    if args.speed <= 0:
        print("tickcast replay: --speed must be > 0", file=sys.stderr)
        return 2
    try:
        log = _open(args)
        match = _find(log, args.match)
        config = Config.from_env(
            host=args.host, port=args.port, tick_rate=match.tick_rate, record=False
        )
    except (StoreError, ConfigError) as exc:
        return _fail(exc)
    setup_logging(config.log_level, config.log_format, config.log_connections)
    try:
        return run_async(_replay(config, log, match, args.speed))
    finally:
        log.close()


async def _replay(config: Config, log: TickLog, match: MatchInfo, speed: float) -> int:
    import asyncio
    import signal

    from tickcast.server import Server
    from tickcast.store.replay import ReplayService

    replay = ReplayService(log, match, speed)
    server = Server(config, [replay])
    try:
        await server.start()
    except OSError as exc:
        return _fail(exc)
    print(
        f"replaying match {match.id} (room {match.room!r}, {match.tick_count} ticks at "
        f"{match.tick_rate} Hz x {speed:g}) on {server.address}; it starts when a "
        "spectator joins",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, server.close)
    loop.add_signal_handler(signal.SIGTERM, server.close)
    finished = loop.create_task(replay.finished.wait())
    closed = loop.create_task(server.serve_forever())
    await asyncio.wait([finished, closed], return_when=asyncio.FIRST_COMPLETED)
    server.close()
    await server.wait_closed()
    finished.cancel()
    return 0


# ---------------------------------------------------------------- migrate


def migrate_args(p: argparse.ArgumentParser) -> None:
    _data_dir_flag(p)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Convert the data dir's SQLite tick log (ticks.sqlite3) into the segment log."""
    try:
        done = migrate_sqlite(args.data_dir, progress=lambda line: print(line, flush=True))
    except StoreError as exc:
        return _fail(exc)
    print(
        f"converted {done.matches} matches ({done.ticks} ticks, {done.bytes} bytes of frames) "
        f"into {args.data_dir}/ticks/; the old log is kept as {done.kept_as} (delete it "
        "once the new log has served you)"
    )
    return 0
