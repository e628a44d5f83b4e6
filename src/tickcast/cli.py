"""The `tickcast` command line.

    tickcast serve [--host H] [--port P] [--tick-rate N] ...

`serve` flags are generated from `Config`'s fields, one flag per field, and
each can also come from `TICKCAST_<FIELD>` in the environment (a flag wins).
A bad flag or value prints a clear message and exits 2.
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
from typing import Any, TypeVar

from tickcast import __version__
from tickcast.config import Config, parse_value
from tickcast.errors import ConfigError

Command = Callable[[argparse.Namespace], int]
T = TypeVar("T")
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Command]] = {}


def command(
    name: str, setup: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Command], Command]:
    """Register a subcommand: `setup` adds its arguments, the function runs it."""

    def deco(fn: Command) -> Command:
        _COMMANDS[name] = (setup, fn)
        return fn

    return deco


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


@command("serve", add_config_flags)
def cmd_serve(args: argparse.Namespace) -> int:
    config: Config = args.config
    setup_logging(config.log_level)
    return run_async(serve(config))


async def serve(config: Config) -> int:
    from tickcast.server import Server, Service

    services: list[Service] = []
    cluster = None
    recorder = None
    http = None
    if config.http:
        from tickcast.http import HttpService

        http = HttpService()
    if config.record:
        from tickcast.store import StoreError, open_archive, open_recorder

        try:  # a cluster node's is a write-behind archive: Redis is its tick log
            recorder = open_archive(config) if config.cluster else open_recorder(config)
        except StoreError as exc:
            print(f"tickcast: {exc}", file=sys.stderr)
            return 1
    if config.cluster:
        # the room streams in Redis are the tick log of a cluster node
        from tickcast.cluster import ClusterService
        from tickcast.store import MatchArchive

        assert recorder is None or isinstance(recorder, MatchArchive)
        # it starts and closes the archive; WebSocket clients are sent to http's port
        cluster = ClusterService(config, archive=recorder, http=http)
        services.append(cluster)
    elif recorder is not None:
        services.append(recorder)
    if http is not None:
        services.append(http)
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


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tickcast", description="tickcast: a real-time multiplayer input relay server"
    )
    parser.add_argument("--version", action="version", version=f"tickcast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (setup, fn) in _COMMANDS.items():
        doc = (fn.__doc__ or "").strip().splitlines()
        p = sub.add_parser(name, help=doc[0] if doc else None, description=fn.__doc__)
        setup(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _load_commands()
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


def _load_commands() -> None:
    """Import the modules that register further subcommands (bots, token, ...)."""
    import importlib

    for mod in (
        "tickcast.bots",  # tickcast bots
        "tickcast.auth",  # tickcast token
        "tickcast.store.commands",  # tickcast matches / replay / export / verify
        "tickcast.cluster.commands",  # tickcast drain
    ):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            # the module (or its package) is not there yet: that command is absent
            if exc.name is None or not (mod == exc.name or mod.startswith(exc.name + ".")):
                raise


cmd_serve.__doc__ = "Run the relay server."

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
