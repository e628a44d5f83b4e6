"""Sans-I/O: a room's state-hash reports and its desync verdicts (the spec's Desync rule).

Members report the hash of their simulation state after a tick; once every
connected member has reported a tick (or it is two seconds old), the tick is
judged: if the hashes differ, the minority (or, without a majority, everyone
who reported) is named in a `Desync` that rides on the room's next tick.

The room decides who may report and when everyone has (it knows its members);
this keeps the reports, judges, and hands the encoded verdicts over.
"""

from __future__ import annotations

import logging
from collections import Counter

from tickcast import wire
from tickcast.logs import fields

log = logging.getLogger("tickcast.room")


class DesyncJudge:
    """One room's state hashes, judged per tick. See the module docstring."""

    __slots__ = ("room", "window", "active", "found", "_hashes", "_judged")

    def __init__(self, room: str, tick_rate: int) -> None:
        self.room = room  # its name, for the log
        self.window = 2 * tick_rate  # ticks a tick may be reported and judged for
        self.active = False  # reports or judgements are kept (`expire` has work)
        self.found: list[bytes] = []  # encoded Desyncs for the room's next tick
        self._hashes: dict[int, dict[int, bytes]] = {}  # tick -> slot -> hash
        # ticks already judged, while hashes for them are still accepted: a hash
        # resent (after a reconnect) must not open a second judgement of the tick
        self._judged: set[int] = set()

    def report(self, slot: int, tick: int, digest: bytes, last: int) -> dict[int, bytes] | None:
        """Keep `slot`'s hash of `tick` (the room's newest tick is `last`): the
        reports of that tick so far, or None if this one is not taken (out of the
        window, judged already, or a second report of the slot)."""
        if tick > last or tick + self.window < last or tick < 1 or tick in self._judged:
            return None
        reports = self._hashes.get(tick)
        if reports is None:
            reports = self._hashes[tick] = {}
            self.active = True
        if slot in reports:
            return None
        reports[slot] = digest
        return reports

    def judge(self, tick: int) -> None:
        """Compare the hashes reported for `tick`; a verdict goes to `found`."""
        reports = self._hashes.pop(tick, None)
        self._judged.add(tick)
        self.active = True
        if not reports or len(reports) < 2:
            return
        counts = Counter(reports.values())
        if len(counts) < 2:
            return
        top, top_n = counts.most_common(1)[0]
        if top_n * 2 > len(reports):
            minority = sorted(s for s, h in reports.items() if h != top)
        else:  # no majority: nobody can be called right
            minority = sorted(reports)
        log.warning(
            "desync %s", fields(room=self.room, tick=tick, slots=",".join(map(str, minority)))
        )
        self.found.append(wire.encode_desync(tick, minority))

    def expire(self, next_tick: int) -> None:
        """Before tick `next_tick` is built: judge the ticks too old to wait for,
        and forget the judgements that no report can reach any more."""
        oldest_kept = next_tick - self.window
        for t in [t for t in self._hashes if t < oldest_kept]:
            self.judge(t)
        if self._judged:
            # report() refuses these ticks from now on anyway
            self._judged = {t for t in self._judged if t >= oldest_kept}
        self.active = bool(self._hashes or self._judged)

    def take(self) -> bytes:
        """The verdicts found since the last tick, encoded, for the tick being built."""
        found, self.found = self.found, []
        return b"".join(found)
