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
import contextlib
import dataclasses
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from tickcast import __version__
from tickcast.config import Config, parse_value
from tickcast.errors import ConfigError, ListenError
from tickcast.logs import fields, setup_logging

if TYPE_CHECKING:
    from tickcast.cluster import ClusterService
    from tickcast.http import HttpService
    from tickcast.reload import Reloaded
    from tickcast.server import Server, Service
    from tickcast.systemd import Notifier

log = logging.getLogger("tickcast.cli")

Command = Callable[[argparse.Namespace], int]
T = TypeVar("T")


class Subcommand(NamedTuple):
    """One `tickcast` subcommand: `setup` adds its arguments, `run` runs it (its
    docstring's first line is the `--help` line); `extra` is the package extra it
    needs beyond the SDK (checked before it runs, see `EXTRAS`)."""

    name: str
    setup: Callable[[argparse.ArgumentParser], None]
    run: Command
    extra: str = "server"


EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("aiohttp", "prometheus_client", "rich", "jwt"),
    "cluster": ("aiohttp", "prometheus_client", "rich", "jwt", "redis"),
}
"""The modules each extra of pyproject.toml installs (`pip install tickcast` is the
SDK alone: protobuf and websockets). uvloop is in the server extra too, but the
server runs without it (plain asyncio), so it is not required here."""


def subcommands() -> list[Subcommand]:
    """Every subcommand of `tickcast`, in `--help` order. Importing these modules
    (to add their arguments) loads nothing of the extras: that happens when a
    command runs."""
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
        Subcommand("drain", cluster.drain_args, cluster.cmd_drain, extra="cluster"),
        Subcommand("reload", reload_args, cmd_reload, extra=""),
    ]


def missing_extra(extra: str) -> str | None:
    """The first module of `extra` that is not installed, or None ("": the SDK's own)."""
    for module in EXTRAS.get(extra, ()):
        if importlib.util.find_spec(module) is None:
            return module
    return None


def require_extra(command: str, extra: str) -> None:
    """Exit 1 with the pip command to run when `extra` is not installed."""
    module = missing_extra(extra)
    if module is not None:
        sys.exit(
            f"tickcast {command}: needs the {extra} part of tickcast, which is not installed "
            f"(no module {module!r}): pip install 'tickcast[{extra}]'"
        )


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop where it is installed, else on plain asyncio."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


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
    """The Config of `serve`'s flags over the environment over the config file."""
    overrides: dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        raw = getattr(args, f.name, None)
        if isinstance(raw, bool):
            overrides[f.name] = raw
        elif raw is not None:
            overrides[f.name] = parse_value(f, raw)
    return Config.from_sources(
        environ=dict(os.environ) if environ is None else environ, overrides=overrides
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the relay server."""
    config: Config = args.config
    setup_logging(config.log_level, config.log_format, config.log_connections)
    environ = dict(os.environ)  # a reload reads the files again, with the start's environment
    return run_async(serve(config, lambda: config_from_args(args, environ)))


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


async def serve(config: Config, source: Callable[[], Config] | None = None) -> int:
    """Run a server until SIGINT or SIGTERM. `source` builds the configuration again
    for a reload (SIGHUP, `tickcast reload`); without it there is nothing to reload."""
    from tickcast import descriptors
    from tickcast.server import Server
    from tickcast.store import StoreError
    from tickcast.systemd import Notifier

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
        server.close()
        await server.wait_closed()
        if isinstance(exc, ListenError | ConfigError):  # a setting: the address, a token file
            print(f"tickcast serve: error: {exc}", file=sys.stderr)
            return 2
        print(f"tickcast: cannot start: {exc}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    systemd = Notifier()
    interrupts = 0

    def stop(status: str) -> None:
        systemd.stopping(status)
        server.close()

    def on_sigint() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            print("tickcast: second interrupt, exiting now", file=sys.stderr, flush=True)
            os._exit(130)
        stop("shutting down (SIGINT)")

    # handlers first: a script that waits for the lines below may signal at once
    loop.add_signal_handler(signal.SIGINT, on_sigint)
    if cluster is not None:
        drain = cluster.drain_then_close(server)

        def on_sigterm() -> None:
            systemd.stopping("draining (SIGTERM)")
            drain()

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    else:
        loop.add_signal_handler(signal.SIGTERM, lambda: stop("shutting down (SIGTERM)"))

    def reload() -> Reloaded:
        """Build the configuration again and apply it (ConfigError: nothing changed)."""
        if source is None:
            raise ConfigError("nothing to reload from")
        return reload_and_log(server, source, systemd)

    def on_sighup() -> None:
        with contextlib.suppress(ConfigError):  # logged as an ERROR; the old one stays
            reload()

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    if http is not None:
        http.reloader = reload
    print(f"tickcast listening on {server.address} ({server.relay.auth.describe()})", flush=True)
    if http is not None:
        print(f"tickcast http on {http.address}", flush=True)
        # browser branch: tell a newcomer what to open
        print(
            f"open {http.address}/ for the dashboard, {http.address}/demo to play the demo",
            flush=True,
        )
    systemd.ready(status_line(server))
    stop_pings = None
    if systemd.watchdog_interval is not None:
        stop_pings = watchdog(server, systemd, systemd.watchdog_interval)
    try:
        await server.serve_forever()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        if stop_pings is not None:
            stop_pings()
        systemd.close()
    return 0


def status_line(server: Server) -> str:
    """systemd's STATUS= line: what the server is doing now."""
    return (
        f"serving {server.connection_count} connections in {len(server.relay.rooms)} rooms "
        f"on {server.address}"
    )


def watchdog(server: Server, systemd: Notifier, interval: float) -> Callable[[], None]:
    """WATCHDOG=1 every `interval` seconds (half of systemd's WATCHDOG_USEC), from the
    loop itself: a loop that hangs stops the pings, and systemd restarts the service.
    Pings go on through the shutdown (it may take --shutdown-timeout); returns the
    function that stops them."""
    loop = asyncio.get_running_loop()
    handle: asyncio.TimerHandle | None = None

    def ping() -> None:
        nonlocal handle
        systemd.watchdog(status_line(server) if server.listening else "shutting down")
        handle = loop.call_later(interval, ping)

    def stop() -> None:
        if handle is not None:
            handle.cancel()

    handle = loop.call_later(interval, ping)
    return stop


def reload_and_log(server: Server, source: Callable[[], Config], systemd: Notifier) -> Reloaded:
    """One reload (SIGHUP or POST /api/reload): what changed is logged at INFO, one
    line per setting (a secret only as changed); a refusal is an ERROR, and the
    running configuration stays (the ConfigError is raised again)."""
    from tickcast.reload import reload_server

    systemd.reloading()
    try:
        done = reload_server(server, source())
    except ConfigError as exc:
        log.error("reload refused, the running configuration is kept %s", fields(error=exc))
        systemd.ready(status_line(server))
        raise
    for change in done.changes:
        log.info("reload: setting changed %s", fields(**change.fields()))
    if done.restart:
        log.warning(
            "reload: settings that need a restart changed; they keep their running values %s",
            fields(settings=",".join(done.restart)),
        )
    log.info("reloaded %s", fields(changes=len(done.changes), restart_needed=len(done.restart)))
    systemd.ready(status_line(server))
    return done


# ---------------------------------------------------------------- token


def _ttl(text: str) -> float:
    from tickcast.auth import parse_ttl  # PyJWT's module: the server extra, checked first

    return parse_ttl(text)


def token_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--player", required=True, help="player id (the token's sub)")
    p.add_argument("--room", default=None, help="room the token is limited to (optional)")
    p.add_argument("--ttl", type=_ttl, default=3600.0, help="lifetime, e.g. 90s, 15m, 1h")
    p.add_argument(
        "--secret-file",
        default=os.environ.get("TICKCAST_SECRET_FILE", ""),
        help="secret file (the first secret signs); else TICKCAST_SECRET from the environment",
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


# ---------------------------------------------------------------- reload


def reload_args(p: argparse.ArgumentParser) -> None:
    default = next(f.default for f in dataclasses.fields(Config) if f.name == "http_port")
    port = os.environ.get("TICKCAST_HTTP_PORT") or str(default)
    p.add_argument(
        "--http",
        default=f"http://127.0.0.1:{port}",
        help="the server's HTTP listener [default http://127.0.0.1:$TICKCAST_HTTP_PORT, or :8080]",
    )
    p.add_argument(
        "--admin-token-file",
        default=os.environ.get("TICKCAST_ADMIN_TOKEN_FILE", ""),
        help="file whose first line is the admin token; else TICKCAST_ADMIN_TOKEN "
        "(none: the server must be on this machine)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer")


def cmd_reload(args: argparse.Namespace) -> int:
    """Make a running server read its config, secret and admin token files again
    (what SIGHUP does; through the admin API, so it says what changed)."""
    import json
    import urllib.error
    import urllib.request

    token = os.environ.get("TICKCAST_ADMIN_TOKEN", "")
    if args.admin_token_file:
        try:
            with open(args.admin_token_file, encoding="utf-8") as f:
                token = f.readline().strip()
        except OSError as exc:
            print(f"tickcast reload: error: --admin-token-file: {exc.strerror}", file=sys.stderr)
            return 2
    headers = {"X-Tickcast-Admin": "reload", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = args.http.rstrip("/") + "/api/reload"
    request = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            error = exc.reason
        print(f"tickcast reload: {url}: HTTP {exc.code}: {error}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"tickcast reload: cannot reach {url}: {reason}", file=sys.stderr)
        return 1
    for line in answer["changes"] or ["nothing changed"]:
        print(f"tickcast reload: {line}")
    if answer["restart_needed"]:
        print(
            "tickcast reload: changed but kept until a restart: "
            + ", ".join(answer["restart_needed"])
        )
    return 0


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """The `tickcast` parser."""
    return build_parsers(subcommands())[0]


def build_parsers(
    commands: Sequence[Subcommand],
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The `tickcast` parser, and each subcommand's own parser by name."""
    parser = argparse.ArgumentParser(
        prog="tickcast", description="tickcast: a real-time multiplayer input relay server"
    )
    parser.add_argument("--version", action="version", version=f"tickcast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parsers: dict[str, argparse.ArgumentParser] = {}
    for command in commands:
        doc = (command.run.__doc__ or "").strip().splitlines()
        p = sub.add_parser(
            command.name, help=doc[0] if doc else None, description=command.run.__doc__
        )
        command.setup(p)
        p.set_defaults(func=command.run)
        parsers[command.name] = p
    return parser, parsers


SIGPIPE_EXIT = 128 + signal.SIGPIPE
"""The status of `tickcast export ... | head -1` once head has gone: what the shell
reports for cat, git or seq, which the same SIGPIPE ends (141)."""


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    commands = subcommands()
    parser, parsers = build_parsers(commands)
    # the extra a command needs, before its arguments are parsed (a type= may import it)
    named = {c.name: c for c in commands}
    if args_in and args_in[0] in named and not {"-h", "--help"} & set(args_in[1:]):
        require_extra(args_in[0], named[args_in[0]].extra)
    args, unknown = parser.parse_known_args(args_in)
    if unknown:  # in the subcommand's words, with its usage (not the top-level one)
        parsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "serve":
        try:
            args.config = config_from_args(args)
        except ConfigError as exc:
            parsers["serve"].exit(2, f"tickcast serve: error: {exc}\n")
        if args.config.cluster:
            require_extra("serve --cluster", "cluster")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader of our stdout is gone (`| head`): end quietly, as cat does; what
        # is still buffered goes to /dev/null, so the flush at exit cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return SIGPIPE_EXIT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
