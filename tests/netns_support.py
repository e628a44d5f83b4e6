"""The loss rig: a network namespace whose loopback drops a share of packets at random.

    with LossyNamespace(loss_percent=2) as ns:
        server = ns.popen([sys.executable, "-m", "tickcast", "serve", ...])
        bots = ns.run([sys.executable, "-m", "tickcast", "bots", ...], timeout=60)

Inside the namespace, 127.0.0.1 is the namespace's own loopback, and an
nftables rule on its input hook (`iifname "lo" numgen random mod 100 < N drop`)
drops N % of every packet arriving on it, TCP segments and UDP datagrams alike:
each packet on lo passes the input hook once, so N % is the loss per packet.
The input hook, not the output one: a packet dropped on output fails the
sender's `sendto` with EPERM, which no real network does; dropped on input, it
is lost silently, as on a real path. `tc netem` would be the usual tool, but
this kernel has no netem; nftables has `numgen random`.

Needs root (to make a namespace), `ip` (Debian package iproute2) and `nft`
(Debian package nftables); `require_loss_rig()` fails a test with exactly
that message when one is missing. Everything it makes is removed on exit: the
processes it started (by their own handles) and the namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from types import TracebackType
from typing import Any

import pytest

TABLE = "tickcast_lossrig"


def loss_rig_missing() -> str | None:
    """Why the rig cannot be made here, or None if it can."""
    if os.geteuid() != 0:
        return "the loss rig needs root (it makes a network namespace)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"the loss rig needs `{tool}`: apt-get install -y {package}"
    return None


def require_loss_rig() -> None:
    """Fail (never skip) the calling test if the rig cannot be made, saying what to install."""
    why = loss_rig_missing()
    if why is not None:
        pytest.fail(why, pytrace=False)


class LossyNamespace:
    """A namespace with loopback up and `loss_percent` of its packets dropped."""

    def __init__(self, loss_percent: int = 0, name: str | None = None) -> None:
        if not 0 <= loss_percent <= 100:
            raise ValueError("loss_percent is 0..100")
        self.name = name or f"tickcast-{uuid.uuid4().hex[:10]}"
        self.loss_percent = loss_percent
        self._procs: list[subprocess.Popen[Any]] = []
        self._made = False

    def __enter__(self) -> LossyNamespace:
        _ip("netns", "add", self.name)
        self._made = True
        try:
            self.exec_checked("ip", "link", "set", "lo", "up")
            self.set_loss(self.loss_percent)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def set_loss(self, percent: int) -> None:
        """Drop `percent` % of loopback packets from now on (0: none)."""
        drop = f'iifname "lo" numgen random mod 100 < {percent} drop' if percent else ""
        rules = (
            f"table inet {TABLE} {{\n"
            "  chain loss {\n"
            "    type filter hook input priority 0; policy accept;\n"
            f"    {drop}\n"
            "  }\n"
            "}\n"
        )
        # delete-and-recreate in one transaction: the rule set is replaced atomically
        script = f"add table inet {TABLE}\ndelete table inet {TABLE}\n" + rules
        self.exec_checked("nft", "-f", "-", input=script)
        self.loss_percent = percent

    def command(self, args: list[str]) -> list[str]:
        """`args` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def exec_checked(self, *args: str, input: str | None = None) -> None:
        subprocess.run(self.command(list(args)), input=input, text=True, check=True, timeout=30)

    def run(self, args: list[str], timeout: float, **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run a program inside the namespace to its end (bounded by `timeout`)."""
        return subprocess.run(self.command(args), timeout=timeout, **kw)

    def popen(self, args: list[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start a program inside the namespace; it is killed on exit if still running."""
        proc = subprocess.Popen(self.command(args), **kw)
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._procs.clear()
        if self._made:
            _ip("netns", "del", self.name)
            self._made = False


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=30, capture_output=True, text=True)
