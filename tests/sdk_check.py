"""Run by tests/integration/test_packaging.py with the Python of a fresh venv that
holds the tickcast wheel installed WITHOUT extras (the lean SDK), or with the
oldest protobuf pyproject.toml allows:

    VENV/bin/python tests/sdk_check.py PORT

Two SDK players join a room of the server on 127.0.0.1:PORT (a real server,
run from the dev venv), send inputs and read ticks until each has seen the
other's; every tick's chain is recomputed from the tick re-encoded by this
protobuf (so its encoding is the server's, byte for byte), and the SDK's
hand-built frames are compared with protobuf's. Prints one JSON object: the
protobuf version and backend, the heavy modules that were imported or are
installed (both must be empty for the lean SDK), what each player saw.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys

HEAVY = ("aiohttp", "redis", "rich", "prometheus_client", "jwt", "uvloop")


async def player(port: int, me: str, other: str) -> dict[str, object]:
    import tickcast
    from tickcast import wire
    from tickcast.proto import pb

    async with tickcast.connect("127.0.0.1", port, player_id=me, room="sdk-check") as c:
        c.send(f"from {me}".encode())
        chain, chained, seen = b"", 0, False
        async for tick in c.ticks():
            raw = pb.Tick.FromString(tick.raw)
            content = pb.Tick(number=raw.number, inputs=raw.inputs, joined=raw.joined,
                              left=raw.left)
            if raw.chain:
                if chain:  # the first tick a late joiner sees continues a chain it lacks
                    expected = wire.next_chain(chain, content.SerializeToString())
                    assert raw.chain == expected, f"chain differs at tick {raw.number}"
                    chained += 1
                chain = raw.chain
            if any(i.player_id == other for i in tick.inputs):
                seen = True
            if seen and chained >= 3:
                return {"player": me, "saw": other, "chained": chained, "tick": tick.number}
    raise AssertionError(f"{me}: the ticks ended")


def hand_encoders_match() -> None:
    from tickcast import wire
    from tickcast.proto import pb

    inputs = [(1, 7, b"jump"), (2, 300, b""), (200, 20000, bytes(200))]
    encoded = b"".join(wire.encode_relayed_input(*i) for i in inputs)
    content = wire.encode_tick_content(42, encoded, [(3, "ada"), (4, "b\u00f6b")], [5, 6])
    tick = pb.Tick(
        number=42,
        inputs=[pb.RelayedInput(slot=s, seq=q, payload=p) for s, q, p in inputs],
        joined=[pb.Member(slot=3, player_id="ada"), pb.Member(slot=4, player_id="b\u00f6b")],
        left=[5, 6],
    )
    assert content == tick.SerializeToString(), "tick content differs from protobuf's"
    chain = wire.next_chain(b"", content)
    desync = wire.encode_desync(40, [1, 2])
    tick.chain = chain
    tick.desyncs.append(pb.Desync(tick=40, slots=[1, 2]))
    frame = wire.encode_tick_frame(content, chain, desync)
    assert frame == wire.frame(pb.ServerMessage(tick=tick).SerializeToString()), "tick frame"


async def main(port: int) -> None:
    import google.protobuf
    from google.protobuf.internal import api_implementation

    hand_encoders_match()
    seen = await asyncio.gather(player(port, "ada", "bob"), player(port, "bob", "ada"))
    print(json.dumps({
        "protobuf": google.protobuf.__version__,
        "backend": api_implementation.Type(),
        "imported": sorted(m for m in sys.modules if m.split(".")[0] in HEAVY),
        "installed": [m for m in HEAVY if importlib.util.find_spec(m) is not None],
        "players": list(seen),
    }))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
