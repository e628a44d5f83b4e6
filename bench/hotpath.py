"""A fixed, deterministic workload of the relay's hot paths, for instruction counts.

`bench/micro.py` times the same paths with a clock; on a shared machine its
figures move by several percent between runs. This runs a fixed workload that
callgrind counts exactly, so two versions of the core can be compared:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python bench/hotpath.py --ticks 300 2>&1 | grep refs
    (run again with --ticks 100: the difference is the cost of 200 ticks,
    without imports and set-up)

Workloads (`--workload`):
- `inputs`: 16 rooms x 8 players, every player sends one input per tick
  (Session input path, Room.submit, produce, deliver, Outbox.offer);
- `quiet`: 64 rooms x 2 players, no inputs, `skip_empty_ticks` (the produce path
  of an empty tick that is not sent);
- `fanout`: 16 rooms x 8 players, no inputs: every tick an empty frame sent to
  every member (produce and fan-out, without the input path);
- `recorded`: `inputs` with a tick log between produce and deliver that
  delivers at once (the write-before-send seam, without a disk).
Only the sans-I/O core runs: sinks are C callables that do nothing. The loop
times each cycle as the server's ticker does (a relay that does not observe
its cycles' duration itself gets it observed here, as `Server._on_tick` did),
so versions that moved that work between the two compare fairly.
"""

from __future__ import annotations

import argparse
import collections
from time import perf_counter
from typing import Any

from tickcast import wire
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.relay import Relay
from tickcast.stats import Histogram


class NullSink:
    def __init__(self) -> None:
        self.write = collections.deque(maxlen=0).append
        self.get_write_buffer_size = int

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class InstantLog:
    """A tick log that delivers every cycle at once (whatever the cycle's type)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def record(self, *cycle: Any) -> None:
        self.relay.deliver(cycle[0])

    def kicked(self, session: Any) -> None:
        pass


def frame_of(**body: Any) -> bytes:
    return wire.frame(pb.ClientMessage(**body).SerializeToString())


def run(workload: str, ticks: int) -> int:
    quiet = workload == "quiet"
    rooms, per_room = (64, 2) if quiet else (16, 8)
    relay = Relay(Config(tick_rate=30, server_id="bench", skip_empty_ticks=quiet))
    silent = workload in ("quiet", "fanout")
    if workload == "recorded":
        relay.recorder = InstantLog(relay)  # type: ignore[assignment]
    now = 0.0
    sessions = []
    for r in range(rooms):
        for i in range(per_room):
            s = relay.open_session(NullSink(), now, "bench", "tcp")
            hello = pb.Hello(protocol_version=1, player_id=f"p{i}", room=f"room-{r}")
            s.data_received(frame_of(hello=hello), now)
            sessions.append(s)
    frames = [frame_of(input=pb.Input(seq=t + 1, payload=b"x" * 16)) for t in range(ticks)]
    # the ticker's part of timing a cycle, for a relay that does not time its cycles
    observe = None if hasattr(relay, "tick_seconds") else Histogram().observe
    for t in range(ticks):
        now += 1 / 30
        if not silent:
            f = frames[t]
            for s in sessions:
                s.data_received(f, now)
        start = perf_counter()
        relay.tick(now)
        if observe is not None:
            observe(perf_counter() - start)
    return sum(len(r.live) for r in relay.rooms.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=["inputs", "quiet", "fanout", "recorded"], default="inputs")
    ap.add_argument("--ticks", type=int, default=300)
    a = ap.parse_args()
    print("members", run(a.workload, a.ticks))


if __name__ == "__main__":
    main()
