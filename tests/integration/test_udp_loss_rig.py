"""The loss rig of tests/netns_support.py does what the UDP tests and benchmarks
rely on: inside its namespace, 127.0.0.1 works, and the nftables rule drops
the asked share of UDP datagrams at random (TCP segments alike; TCP hides it).

Needs root, iproute2 and nftables (`.ci/run` installs them); without them the
test fails and says what is missing."""

from __future__ import annotations

import sys

from netns_support import LossyNamespace, require_loss_rig

COUNT = 4000

# Sends COUNT datagrams to itself on 127.0.0.1 and prints how many arrived.
ECHO = f"""
import socket
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
got = 0
def drain(wait):
    global got
    rx.settimeout(wait)
    try:
        while True:
            rx.recv(2048)
            got += 1
            rx.settimeout(wait)
    except (BlockingIOError, TimeoutError):
        pass
for i in range({COUNT}):
    tx.sendto(b"x" * 100, rx.getsockname())
    if i % 100 == 99:
        drain(0)  # as we go: a full receive buffer must not count as loss
drain(0.5)  # the last ones
print(got)
"""


def received(ns: LossyNamespace) -> int:
    done = ns.run([sys.executable, "-c", ECHO], timeout=60, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_the_rig_drops_the_share_it_is_asked_to() -> None:
    require_loss_rig()
    with LossyNamespace(loss_percent=0) as ns:
        assert received(ns) == COUNT
        ns.set_loss(20)
        got = received(ns)
        # 20 % of 4000: 800 lost on average, sd 25; a 6-sd band never fails by chance
        assert 650 <= COUNT - got <= 950, got
        ns.set_loss(0)
        assert received(ns) == COUNT
    lost = 100 * (COUNT - got) / COUNT
    print(f"FIGURE loss rig: 20 % asked, {lost:.1f} % of {COUNT} datagrams lost")
