"""Issue 15's memory goal: how much a default `tickcast serve` grows under rooms
that send as much as the receive-rate limit lets them.

    python bench/memory.py [--rooms 20] [--seconds 40] [-- extra serve flags]

Starts `python -m tickcast serve` as a user starts it (recording on, into a
temporary data dir; ports 0), then opens one player in each of `--rooms` rooms
(over TCP, from this process) and has each send, for `--seconds`, inputs at
`--fraction` (0.95) of the default `--recv-bytes-per-second` (256 KiB/s),
within the default input rate (100 inputs a second of ~2.5 KB). Every player
reads its ticks. The server's RSS (VmRSS of its process) is sampled every
second; the lines printed are the RSS after start-up, the peak, the end and
the growth, plus what the clients sent and got. The goal (docs/security.md):
20 rooms for 40 s grow the server by at most 100 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from tickcast import wire  # noqa: E402
from tickcast.proto import pb  # noqa: E402

DEFAULT_RECV_BYTES_PER_SECOND = 262144
INPUTS_PER_SECOND = 100  # under the default --input-rate (120/s)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def frame(**body: object) -> bytes:
    return wire.frame(pb.ClientMessage(**body).SerializeToString())  # type: ignore[arg-type]


class Player:
    def __init__(self, index: int, payload_bytes: int) -> None:
        self.index = index
        self.payload = os.urandom(payload_bytes)
        self.sent = 0
        self.received = 0
        self.kicked = ""

    async def run(self, port: int, seconds: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        hello = pb.Hello(protocol_version=1, player_id=f"p{self.index}", room=f"mem-{self.index}")
        writer.write(frame(hello=hello))
        reading = asyncio.create_task(self._read(reader))
        loop = asyncio.get_running_loop()
        start = loop.time()
        seq = 0
        interval = 1.0 / INPUTS_PER_SECOND
        while loop.time() - start < seconds and not self.kicked:
            seq += 1
            data = frame(input=pb.Input(seq=seq, payload=self.payload))
            writer.write(data)
            self.sent += len(data)
            await writer.drain()
            # absolute deadlines: the rate does not drift below the target; but a
            # sender that fell behind (a loaded machine) does not burst to catch up,
            # which an honest client would not do and the rate limit would refuse
            delay = start + seq * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.1:
                start -= delay
        writer.close()
        reading.cancel()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        framer = wire.Framer(1 << 26)
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            self.received += len(data)
            for body in framer.feed(data):
                if len(body) < 200:  # a Kick is small; ticks with inputs are not
                    msg = pb.ServerMessage.FromString(body)
                    if msg.HasField("kick"):
                        self.kicked = f"{pb.Reason.Name(msg.kick.reason)}: {msg.kick.detail}"


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--fraction", type=float, default=0.95, help="of the receive-rate limit")
    ap.add_argument("serve_flags", nargs="*", help="extra `tickcast serve` flags (after --)")
    args = ap.parse_args()
    per_second = DEFAULT_RECV_BYTES_PER_SECOND * args.fraction
    payload = int(per_second / INPUTS_PER_SECOND) - 8  # the frame's own bytes
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tickcast", "serve", "--port", "0", "--http-port", "0",
            "--data-dir", data_dir, *args.serve_flags,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        line = (await proc.stdout.readline()).decode()
        port = int(line.split()[3].rsplit(":", 1)[1])
        await asyncio.sleep(1.0)
        base = peak = rss_mb(proc.pid)
        players = [Player(i, payload) for i in range(args.rooms)]
        started = time.monotonic()
        tasks = [asyncio.create_task(p.run(port, args.seconds)) for p in players]
        samples: list[tuple[float, float]] = []
        while not all(t.done() for t in tasks):
            await asyncio.sleep(1.0)
            rss = rss_mb(proc.pid)
            peak = max(peak, rss)
            samples.append((time.monotonic() - started, rss))
        await asyncio.gather(*tasks)
        await asyncio.sleep(1.0)
        end = rss_mb(proc.pid)
        proc.terminate()
        await proc.wait()
    sent = sum(p.sent for p in players)
    got = sum(p.received for p in players)
    kicked = [p.kicked for p in players if p.kicked]
    elapsed = time.monotonic() - started
    print(f"flags: {' '.join(args.serve_flags) or '(defaults)'}")
    print(
        f"rooms={args.rooms} seconds={args.seconds:g} "
        f"per_player_send={sent / len(players) / elapsed / 1024:.0f} KiB/s "
        f"sent={sent / 2**20:.0f} MiB received={got / 2**20:.0f} MiB kicked={kicked or 0}"
    )
    print("rss MB by second: " + " ".join(f"{rss:.0f}" for _, rss in samples[::5]))
    print(
        f"server RSS: start {base:.1f} MB, peak {peak:.1f} MB, end {end:.1f} MB, "
        f"growth {peak - base:+.1f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
