"""Property: whatever happens to the files after any sequence of cycles (a truncation or a
changed byte anywhere, in a segment or an index file), opening the log again yields
exactly what the first K cycles wrote, for some K, or a clear StoreError; and a tick
read either returns what was written or raises DamagedLog. Never altered content."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tickcast.store.datadir import segments_dir
from tickcast.store.errors import DamagedLog, StoreError
from tickcast.store.log import Cycle, Kick, MatchEnd, MatchStart, Presence, iter_ticks
from tickcast.store.segments import SegmentTickLog


@dataclass
class Model:
    """What a log should hold: per match (start, end, players, kicks, presence, ticks)."""

    matches: dict[int, dict[str, object]] = field(default_factory=dict)
    next_id: int = 1

    def apply(self, c: Cycle) -> None:
        for b in c.begins:
            self.matches[b.id] = {
                "start": b, "end": None, "ticks": [], "kicks": [], "presence": [], "players": [],
            }
            self.next_id = b.id + 1
        for mid, n, f in c.ticks:
            self.matches[mid]["ticks"].append((n, f))  # type: ignore[attr-defined]
        for p in c.presence:
            m = self.matches[p.match_id]
            m["presence"].append(p)  # type: ignore[attr-defined]
            for _, pid in p.joined:
                if pid not in m["players"]:  # type: ignore[operator]
                    m["players"].append(pid)  # type: ignore[attr-defined]
        for k in c.kicks:
            self.matches[k.match_id]["kicks"].append(k)  # type: ignore[attr-defined]
        for e in c.ends:
            self.matches[e.id]["end"] = e

    def snapshot(self) -> object:
        out = []
        for mid in sorted(self.matches):
            m = self.matches[mid]
            end = m["end"]
            ticks = list(m["ticks"])  # type: ignore[call-overload]
            out.append((
                mid, m["start"], None if end is None else (end.ended_at, end.reason),  # type: ignore[attr-defined]
                tuple(m["players"]), tuple(m["kicks"]), tuple(m["presence"]),  # type: ignore[call-overload]
                ticks[-1][0] if ticks else 0, tuple(ticks),
            ))
        return tuple(out)


def observed(lg: SegmentTickLog) -> object:
    out = []
    for info in lg.matches():
        ticks = tuple(iter_ticks(lg, info.id, chunk=5))
        out.append((
            info.id,
            MatchStart(info.id, info.room, info.tick_rate, info.started_at, info.server_id,
                       info.match_key, info.first_tick, info.base_chain),
            None if info.ended_at is None else (info.ended_at, info.end_reason),
            tuple(info.players), tuple(lg.kicks(info.id)), tuple(lg.presence(info.id)),
            info.tick_count, ticks,
        ))
    return tuple(out)


@st.composite
def cycles(draw: st.DrawFn) -> list[Cycle]:
    model = Model()
    last: dict[int, int] = {}
    out: list[Cycle] = []
    for _ in range(draw(st.integers(1, 25))):
        c = Cycle()
        live = [m for m, v in model.matches.items() if v["end"] is None]
        if not live or draw(st.integers(0, 4)) == 0:
            mid = model.next_id
            c.begins.append(MatchStart(mid, draw(st.sampled_from(["a", "b", "é"])), 30,
                                       float(draw(st.integers(0, 9))), "s", "", 1, b""))
            live.append(mid)
            last[mid] = 0
        for mid in live:
            if draw(st.booleans()):
                n = last[mid] + draw(st.integers(1, 3))
                last[mid] = n
                c.ticks.append((mid, n, draw(st.binary(min_size=1, max_size=60))))
                if draw(st.integers(0, 5)) == 0:
                    joined = ((draw(st.integers(1, 4)), f"p{n}"),)
                    left = tuple(draw(st.lists(st.integers(1, 4), max_size=2)))
                    c.presence.append(Presence(mid, n, joined, left))
        if live and draw(st.integers(0, 6)) == 0:
            c.kicks.append(Kick(live[0], 1.5, "p", "SLOW_CONSUMER", draw(st.text(max_size=5))))
        if live and draw(st.integers(0, 6)) == 0:
            c.ends.append(MatchEnd(live[-1], 2.0, "empty"))
        model.apply(c)
        out.append(c)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cycles(),
    st.integers(200, 3000),
    st.sampled_from(["truncate", "flip", "none"]),
    st.integers(0, 1 << 30),
    st.integers(1, 255),
)
def test_recovery_yields_a_prefix_or_a_clear_error(
    written: list[Cycle], segment_bytes: int, how: str, where: int, xor: int
) -> None:
    d = Path(tempfile.mkdtemp(prefix="segprop"))
    try:
        lg = SegmentTickLog(d, segment_bytes=segment_bytes)
        model = Model()
        prefixes = [model.snapshot()]
        for c in written:
            lg.write_cycle(c)
            model.apply(c)
            prefixes.append(model.snapshot())
        lg.close()
        files = sorted(segments_dir(d).iterdir())
        target = files[where % len(files)]
        data = bytearray(target.read_bytes())
        if how == "truncate":
            target.write_bytes(bytes(data[: where % (len(data) + 1)]))
        elif how == "flip" and data:
            data[where % len(data)] ^= xor
            target.write_bytes(bytes(data))
        try:
            lg = SegmentTickLog(d, segment_bytes=segment_bytes)
        except StoreError as exc:
            assert str(exc) and how != "none"
            event(f"{how}: refused at open ({type(exc).__name__})")
            return
        try:
            got = observed(lg)
        except DamagedLog:
            assert how != "none"  # a read met the damage and said so
            event(f"{how}: refused by a read")
            return
        finally:
            lg.close()
        assert got in prefixes, f"{how} of {target.name} at {where}: not a prefix"
        kept = prefixes.index(got)
        event(f"{how}: a prefix, {'all' if kept == len(written) else 'not all'} of it")
        if how == "none":
            assert got == prefixes[-1]
    finally:
        shutil.rmtree(d)
