"""A whole relay driven by a fake clock and memory sinks: no sockets, no sleeps.

`Harness` owns a `Relay`; `connect()` opens a session over a `MemorySink`,
`join()` also sends a Hello and checks the Welcome; `tick()` moves the clock
one tick interval and runs `relay.tick`. A `Client` sends framed
ClientMessages as bytes and reads back what its sink received.
"""

from __future__ import annotations

from typing import Any

from support import client_frame, hello_frame, input_frame

from tickcast.config import Config
from tickcast.proto import pb
from tickcast.relay import Relay
from tickcast.session import Session
from tickcast.testing import FakeClock, MemorySink


class Client:
    """One connection of the harness: its sink, its session and helpers to talk."""

    def __init__(self, harness: Harness, sink: MemorySink, session: Session) -> None:
        self.harness = harness
        self.sink = sink
        self.session = session

    def send_bytes(self, data: bytes) -> None:
        self.session.data_received(data, self.harness.clock.now())

    def send(self, **body: Any) -> None:
        self.send_bytes(client_frame(**body))

    def hello(self, player_id: str, room: str = "r", **fields: Any) -> None:
        self.send_bytes(hello_frame(player_id, room, **fields))

    def input(self, seq: int, payload: bytes = b"") -> None:
        self.send_bytes(input_frame(seq, payload))

    def take(self, count: int | None = None) -> list[pb.ServerMessage]:
        """Messages received since the last take() (at most `count`)."""
        return self.sink.take(count)

    def ticks(self) -> list[pb.Tick]:
        """Ticks received since the last take(); fails on anything else."""
        out = []
        for m in self.take():
            assert m.HasField("tick"), f"expected only ticks, got {m}"
            out.append(m.tick)
        return out

    def messages(self) -> list[pb.ServerMessage]:
        """Everything received so far."""
        return self.sink.messages()

    def tick_bodies(self) -> dict[int, bytes]:
        """Raw bodies of every tick received so far, by number (for byte comparisons)."""
        out: dict[int, bytes] = {}
        for body in self.sink.frame_bodies():
            msg = pb.ServerMessage.FromString(body)
            if msg.HasField("tick"):
                assert msg.tick.number not in out, f"tick {msg.tick.number} received twice"
                out[msg.tick.number] = body
        return out

    def kick(self) -> pb.Kick:
        """The connection's final Kick: it must be the last frame, and the sink closed."""
        msgs = self.messages()
        assert msgs and msgs[-1].HasField("kick"), f"last frame is not a Kick: {msgs[-1:]}"
        assert sum(m.HasField("kick") for m in msgs) == 1, "more than one Kick"
        assert self.sink.closed
        assert self.sink.writes_after_close == 0
        return msgs[-1].kick


class Harness:
    """A relay, a fake clock, and the connections a test opens."""

    def __init__(self, **config: Any) -> None:
        config.setdefault("server_id", "test")
        config.setdefault("tick_rate", 10)
        self.config = Config(**config)
        self.clock = FakeClock()
        self.relay = Relay(self.config)

    def connect(self, *, paused: bool = False, sink: MemorySink | None = None) -> Client:
        sink = sink or MemorySink(paused=paused)
        return Client(self, sink, self.relay.open_session(sink, self.clock.now()))

    def join(self, player_id: str, room: str = "r", **hello: Any) -> tuple[Client, pb.Welcome]:
        """Connect and send a Hello; the first frame must be a Welcome."""
        paused = hello.pop("paused", False)
        c = self.connect(paused=paused, sink=hello.pop("sink", None))
        c.hello(player_id, room, **hello)
        if paused:  # the client reads its Welcome, then stops reading
            c.sink.drain_frames(1)
        msgs = c.take(1)  # any catch-up ticks stay for the test to take
        assert msgs and msgs[0].HasField("welcome"), f"expected a Welcome, got {c.messages()}"
        return c, msgs[0].welcome

    def refused(self, player_id: str, room: str = "r", **hello: Any) -> pb.Kick:
        """Connect and send a Hello that must be refused: the Kick is the only frame."""
        c = self.connect()
        c.hello(player_id, room, **hello)
        msgs = c.messages()
        assert len(msgs) == 1, f"expected only a Kick, got {msgs}"
        return c.kick()

    def tick(self, n: int = 1) -> None:
        """Let `n` tick intervals pass, running the relay's ticker after each."""
        for _ in range(n):
            self.clock.advance(self.config.tick_interval)
            self.relay.tick(self.clock.now())
