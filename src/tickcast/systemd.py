"""systemd's service notifications, for a unit with `Type=notify` (sd_notify(3)).

systemd gives the service a socket in `$NOTIFY_SOCKET`: a path, or an abstract
socket when it starts with `@`. Each notification is one datagram of
newline-separated `NAME=value` lines:

- `READY=1` once every listener accepts connections (systemd then counts the
  service as started, and units ordered after it start);
- `RELOADING=1` with `MONOTONIC_USEC=` when a reload begins, `READY=1` when it
  is over (what `Type=notify-reload` also expects);
- `STOPPING=1` when the shutdown begins;
- `WATCHDOG=1` every half of `$WATCHDOG_USEC`, from the event loop, so a loop
  that hangs misses its pings and systemd restarts the service (`WatchdogSec=`);
- `STATUS=` with each of them: a line `systemctl status` shows.

The protocol is this small on purpose (systemd's docs ask services to speak it
themselves rather than link libsystemd), so it is written here instead of
depending on a package (`sdnotify`, the pure-Python one, has not been released
since 2017 and drops errors silently). Without `$NOTIFY_SOCKET` every call does
nothing. A notification that cannot be sent is logged once and never stops the
server.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

from tickcast.logs import fields

log = logging.getLogger("tickcast.systemd")


def socket_address(value: str) -> str | bytes | None:
    """`$NOTIFY_SOCKET` as an address for `sendto` (None when unset or unusable)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()  # abstract namespace (Linux)
    if value.startswith("/"):
        return value
    return None  # e.g. vsock:... (systemd in a VM): not for a service like this one


class Notifier:
    """Sends notifications to systemd, if it asked for them."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = socket_address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if self.address is not None and usec.isdigit() and int(usec) > 0:
            if not pid or pid == str(os.getpid()):  # the pings are for this process
                self.watchdog_interval = int(usec) / 2e6
        self._sock: socket.socket | None = None
        self._failed = False
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send one notification of `lines` (`READY=1`, `STATUS=...`); False if not sent."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)  # a full socket drops a ping, never blocks the loop
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning("systemd: cannot notify %s", fields(error=exc))
            return False
        self.sent += 1
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")

    def stopping(self, status: str = "shutting down") -> bool:
        return self.notify("STOPPING=1", f"STATUS={status}")

    def watchdog(self, status: str) -> bool:
        return self.notify("WATCHDOG=1", f"STATUS={status}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
