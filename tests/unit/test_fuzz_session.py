"""Property-based fuzzing of the framer and the session state machine (bounded, runs in CI).

Random mixes of valid frames, hostile length prefixes and garbage, cut at
random points, are fed to sessions of a sans-I/O relay with a fake clock.
Whatever arrives, nothing escapes `data_received`, a session ends with exactly
one Kick and writes nothing after it, the framer never holds more than one
frame, and no room or player exists that a valid Hello did not ask for.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import client_frame

from tickcast import wire
from tickcast.config import Config
from tickcast.proto import pb
from tickcast.relay import Relay
from tickcast.session import SessionState
from tickcast.testing import MemorySink

MAX_FRAME = 1024
STATS: Counter[str] = Counter()
"""What the fuzz run fed and what came of it, for the figure `-s` prints."""


names = st.text(min_size=0, max_size=70)
pieces = st.one_of(
    st.builds(
        lambda pid, room, v, spec, resume: client_frame(
            hello=pb.Hello(
                protocol_version=v, player_id=pid, room=room, spectator=spec, resume_after=resume
            )
        ),
        names,
        names,
        st.sampled_from([1, 1, 1, 0, 2]),
        st.booleans(),
        st.sampled_from([0, 0, 1, 2**63]),
    ),
    st.builds(
        lambda s, p: client_frame(input=pb.Input(seq=s, payload=p)),
        st.integers(0, 2**32 - 1),
        st.binary(max_size=200),
    ),
    st.builds(lambda n: client_frame(ping=pb.Ping(nonce=n)), st.integers(0, 2**64 - 1)),
    st.builds(
        lambda t, h: client_frame(state_hash=pb.StateHash(tick=t, hash=h)),
        st.integers(0, 2**64 - 1),
        st.binary(max_size=80),
    ),
    st.just(client_frame(leave=pb.Leave())),
    st.just(client_frame(ack=pb.Ack(tick=3))),
    st.sampled_from([b"\x00", wire.encode_varint(MAX_FRAME + 1), b"\xff" * 10, b"\x80"]),
    st.binary(max_size=64),
)


# most streams start with a valid Hello, so the joined state is fuzzed as much as the handshake
valid_hellos = st.builds(
    lambda pid, room, spec: client_frame(
        hello=pb.Hello(protocol_version=1, player_id=pid, room=room, spectator=spec)
    ),
    st.sampled_from(["ada", "bob", "cy"]),
    st.sampled_from(["r", "s", ""]),
    st.booleans(),
)
leads = st.one_of(st.just(b""), valid_hellos, valid_hellos)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    streams=st.lists(
        st.tuples(leads, st.lists(pieces, max_size=12), st.lists(st.integers(1, 64), max_size=12)),
        min_size=1,
        max_size=4,
    ),
    steps=st.lists(st.floats(0, 0.5), max_size=12),
)
def fuzz_sessions(
    streams: list[tuple[bytes, list[bytes], list[int]]], steps: list[float]
) -> None:
    """One example: the streams are fed to sessions of a fresh relay (see the module
    docstring for what must hold)."""
    relay = Relay(
        Config(port=0, max_frame=MAX_FRAME, tick_rate=20, server_id="fuzz", handshake_timeout=1.0)
    )
    now = 0.0
    conns = []
    for lead, parts, cuts in streams:
        sink = MemorySink()
        data = lead + b"".join(parts)
        conns.append((relay.open_session(sink, now, "fuzz"), sink, data, cuts))
        STATS["connections"] += 1
        STATS["bytes fed"] += len(data)
    for i in range(max(len(c[3]) for c in conns) + 1):
        for session, _, data, cuts in conns:
            start = sum(cuts[:i])
            chunk = data[start : start + cuts[i]] if i < len(cuts) else data[start:]
            if chunk:
                session.data_received(chunk, now)  # must never raise
            assert session.framer.buffered <= MAX_FRAME + wire.MAX_VARINT32_BYTES
        if i < len(steps):
            now += steps[i]
            relay.tick(now)
            relay.sweep(now)
    helloed = set()
    for session, sink, _, _ in conns:
        assert sink.writes_after_close == 0
        messages = sink.messages()
        kinds = [m.WhichOneof("body") for m in messages]
        assert kinds.count("kick") <= 1
        if "kick" in kinds:
            STATS["kick " + pb.Reason.Name(messages[-1].kick.reason).removeprefix("REASON_")] += 1
        event(f"kick {pb.Reason.Name(messages[-1].kick.reason)}" if "kick" in kinds else "no kick")
        if "kick" in kinds:
            assert kinds[-1] == "kick" and sink.closed  # nothing after the Kick
            assert session.state is SessionState.CLOSED
            assert messages[-1].kick.detail != "internal server error"  # no bug was met
        if "welcome" in kinds:
            assert kinds[0] == "welcome"
            helloed.add(messages[0].welcome.room)
            event("welcomed")
            STATS["welcomed"] += 1
        else:
            assert session.room is None and session.player is None
    assert set(relay.rooms) <= helloed  # no room without a welcomed Hello
    STATS["examples"] += 1


def test_sessions_survive_any_byte_stream() -> None:
    """The bounded hypothesis run (300 examples), then its figure (run with -s)."""
    STATS.clear()
    fuzz_sessions()
    assert STATS["examples"] >= 100 and STATS["welcomed"] and STATS["kick PROTOCOL_ERROR"]
    kicks = ", ".join(f"{k[5:]}={v}" for k, v in sorted(STATS.items()) if k.startswith("kick "))
    print(
        f"\nFIGURE fuzz framer+session: {STATS['examples']} examples, "
        f"{STATS['connections']} connections, {STATS['bytes fed']} bytes fed, "
        f"{STATS['welcomed']} welcomed; kicks: {kicks}; exceptions escaped = 0, "
        "internal-error kicks = 0, frames after a Kick = 0, rooms without a Welcome = 0 "
        "(accepted bad input = 0)"
    )
