"""The `tickcast` command line.

    tickcast serve [--host H] [--port P] [--tick-rate N] ...

Every subcommand is listed in `subcommands()`, in `--help` order: its name,
the function that adds its arguments, and the one that runs it. `serve` flags
are generated from `Config`'s fields, one flag per field, and each can also
come from `TICKCAST_<FIELD>` in the environment (a flag wins). A bad flag or
value prints a clear message and exits 2.

This is the outermost layer: it may import every other part (the server, the
store, the cluster, the HTTP side); nothing of the core imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from tickcast import __version__
from tickcast.config import Config, parse_value
from tickcast.errors import ConfigError

if TYPE_CHECKING:
    from tickcast.cluster import ClusterService
    from tickcast.http import HttpService
    from tickcast.server import Service

Command = Callable[[argparse.Namespace], int]
T = TypeVar("T")


class Subcommand(NamedTuple):
    """One `tickcast` subcommand: `setup` adds its arguments, `run` runs it (its
    docstring's first line is the `--help` line)."""

    name: str
    setup: Callable[[argparse.ArgumentParser], None]
    run: Command


def subcommands() -> list[Subcommand]:
    """Every subcommand of `tickcast`, in `--help` order."""
    from tickcast import bots
    from tickcast.cluster import commands as cluster
    from tickcast.store import commands as store

    return [
        Subcommand("serve", add_config_flags, cmd_serve),
        Subcommand("bots", bots.setup, bots.cmd_bots),
        Subcommand("token", token_args, cmd_token),
        Subcommand("matches", store.matches_args, store.cmd_matches),
        Subcommand("export", store.export_args, store.cmd_export),
        Subcommand("verify", store.match_args, store.cmd_verify),
        Subcommand("replay", store.replay_args, store.cmd_replay),
        Subcommand("migrate", store.migrate_args, store.cmd_migrate),
        Subcommand("drain", cluster.drain_args, cluster.cmd_drain),
    ]


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop where it is installed, else on plain asyncio."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# ---------------------------------------------------------------- serve


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per Config field; values are parsed (and validated) later."""
    for f in dataclasses.fields(Config):
        flag = "--" + f.name.replace("_", "-")
        env = "TICKCAST_" + f.name.upper()
        help_text = f"{f.metadata.get('help', '')} [env {env}; default {f.default!r}]"
        if f.type == "bool":
            # --skip-empty-ticks / --no-skip-empty-ticks; None = not given (env or default)
            p.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            p.add_argument(flag, dest=f.name, metavar=f.name.upper(), help=help_text)


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Config:
    overrides: dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        raw = getattr(args, f.name, None)
        if isinstance(raw, bool):
            overrides[f.name] = raw
        elif raw is not None:
            overrides[f.name] = parse_value(f, raw)
    return Config.from_env(dict(os.environ) if environ is None else environ, **overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the relay server."""
    config: Config = args.config
    setup_logging(config.log_level)
    return run_async(serve(config))


def services_for(config: Config) -> tuple[list[Service], ClusterService | None, HttpService | None]:
    """The services `serve` runs beside the TCP listener: the tick log (a cluster
    node's write-behind archive, started by its cluster service), the cluster, the
    HTTP side. Raises StoreError for a data dir that cannot be used."""
    from tickcast.store import MatchArchive, Recorder, open_archive, open_recorder

    services: list[Service] = []
    http: HttpService | None = None
    if config.http:
        from tickcast.http import HttpService

        http = HttpService()
    cluster: ClusterService | None = None
    if config.cluster:
        # the room streams in Redis are the tick log of a cluster node
        from tickcast.cluster import ClusterService

        archive: MatchArchive | None = open_archive(config) if config.record else None
        # it starts and closes the archive; WebSocket clients are sent to http's port
        cluster = ClusterService(config, archive=archive, http=http)
        services.append(cluster)
    elif config.record:
        recorder: Recorder = open_recorder(config)
        services.append(recorder)
    if http is not None:
        services.append(http)
    return services, cluster, http


async def serve(config: Config) -> int:
    from tickcast import descriptors
    from tickcast.server import Server
    from tickcast.store import StoreError

    descriptors.prepare(config)  # the soft RLIMIT_NOFILE up to the hard one, and a check
    try:
        services, cluster, http = services_for(config)
    except StoreError as exc:
        print(f"tickcast: {exc}", file=sys.stderr)
        return 1
    try:
        server = Server(config, services)
    except ConfigError as exc:  # e.g. open mode on a public address
        print(f"tickcast serve: error: {exc}", file=sys.stderr)
        return 2
    try:
        await server.start()
    except (OSError, ConfigError) as exc:
        print(f"tickcast: cannot listen: {exc}", file=sys.stderr)
        server.close()
        await server.wait_closed()
        return 1
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_sigint() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            print("tickcast: second interrupt, exiting now", file=sys.stderr, flush=True)
            os._exit(130)
        server.close()

    # handlers first: a script that waits for the lines below may signal at once
    loop.add_signal_handler(signal.SIGINT, on_sigint)
    if cluster is not None:
        loop.add_signal_handler(signal.SIGTERM, cluster.drain_then_close(server))
    else:
        loop.add_signal_handler(signal.SIGTERM, server.close)
    print(f"tickcast listening on {server.address} ({server.relay.auth.describe()})", flush=True)
    if http is not None:
        print(f"tickcast http on {http.address}", flush=True)
        # browser branch: tell a newcomer what to open
        print(
            f"open {http.address}/ for the dashboard, {http.address}/demo to play the demo",
            flush=True,
        )
    await server.serve_forever()
    return 0


# ---------------------------------------------------------------- token


def token_args(p: argparse.ArgumentParser) -> None:
    from tickcast.auth import SECRET_ENV, parse_ttl

    p.add_argument("--player", required=True, help="player id (the token's sub)")
    p.add_argument("--room", default=None, help="room the token is limited to (optional)")
    p.add_argument("--ttl", type=parse_ttl, default=3600.0, help="lifetime, e.g. 90s, 15m, 1h")
    p.add_argument(
        "--secret-file",
        default=os.environ.get("TICKCAST_SECRET_FILE", ""),
        help=f"secret file (the first secret signs); else {SECRET_ENV} from the environment",
    )


def cmd_token(args: argparse.Namespace) -> int:
    """Mint a signed token for development and tests."""
    from tickcast.auth import SECRET_ENV, load_secrets, mint

    try:
        secrets = load_secrets(Config(secret_file=args.secret_file, port=0))
    except ConfigError as exc:
        print(f"tickcast token: error: {exc}", file=sys.stderr)
        return 2
    if not secrets:
        print(
            f"tickcast token: error: no secret: pass --secret-file or set {SECRET_ENV}",
            file=sys.stderr,
        )
        return 2
    print(mint(secrets[0], args.player, args.room, args.ttl))
    return 0


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tickcast", description="tickcast: a real-time multiplayer input relay server"
    )
    parser.add_argument("--version", action="version", version=f"tickcast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, setup, fn in subcommands():
        doc = (fn.__doc__ or "").strip().splitlines()
        p = sub.add_parser(name, help=doc[0] if doc else None, description=fn.__doc__)
        setup(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            args.config = config_from_args(args)
        except ConfigError as exc:
            parser.exit(2, f"tickcast serve: error: {exc}\n")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
