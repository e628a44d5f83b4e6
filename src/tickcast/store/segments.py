"""`SegmentTickLog`: the tick log as append-only segment files (format: store/segfile.py).

One write per tick cycle: the cycle's already-encoded frames, with its match
start, presence, kick and end records, go into one checksummed batch appended
to the active segment with one `write(2)`. No parse, no B-tree, no journal: the
bytes written are the frames plus ~30 bytes a tick. Modelled on NATS JetStream's
file store (message blocks, a per-block index, recovery by scanning the last
block) and Kafka's log segments (named by base offset, sealed, deleted whole).

Durability: `normal` returns once the batch is in the page cache (a kill -9 of
the process loses nothing written; the kernel writes it back); `full` also
`fdatasync`s before returning (a power cut loses nothing written). A caller that
merges queued cycles into one (`Cycle.extend`) gets one write and one sync for
all of them (group commit). A segment is `fdatasync`ed when it is sealed, in
both modes, so only the newest segment can ever end in a torn write.

Index: in memory, per match and segment, the number, offset and length of
every tick (16 bytes a tick), and a catalog of matches (start, presence, kicks,
end). At open it is rebuilt from the index files of sealed segments (written
when they are sealed; rebuilt by a scan when missing or bad) and one scan of
the newest segment. Index arrays of sealed segments are loaded when a read
needs them.

Recovery: a batch that fails its checksum (or is cut short) at the end of the
newest segment, with nothing valid after it, is a write a crash cut: it is cut
off (that cycle was never acknowledged: write before send). Anything else that
is not what was written (a bad batch followed by good ones, a bad sealed
segment, a gap in the batch seqs) is `DamagedLog`, naming the file and the
byte, and the files are left untouched. A tick read returns the frame only
after checking its own checksum and that the index points at that very tick:
never a changed tick.

Rolling and retention: the active segment is sealed and a new one begun when
it reaches `segment_bytes` or is `segment_seconds` old. `prune` deletes whole
segments, oldest first: by age when every match with records in it ended
before the cut-off, by size while the log is over the limit; never a segment
that holds a record of a live match (nor the active segment while it does). A
match whose oldest segment is deleted leaves the catalog, so a match is either
listed whole or not at all.

Threads: one thread writes (`write_cycle`, `prune`); any thread reads. A lock
guards the index, and is never held across a write to the disk, so a reader
(the event loop serving catch-up) never waits for a stalled write.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tickcast.store import datadir
from tickcast.store.errors import (
    DamagedLog,
    LegacyLog,
    LogIOError,
    StoreError,
    from_os_error,
)
from tickcast.store.log import Cycle, Kick, MatchEnd, MatchInfo, MatchStart, Presence
from tickcast.store.segfile import (
    SEGMENT_HEADER,
    TICK,
    TICK_ENTRY,
    FormatError,
    Index,
    Meta,
    Scan,
    SegmentHeader,
    TickRef,
    Ticks,
    check_frame,
    decode_index,
    decode_segment_header,
    encode_batch,
    encode_index,
    encode_segment_header,
    index_name,
    scan_segment,
    segment_name,
    ticks_of,
)

SEGMENT_BYTES = 64 << 20
"""Seal the active segment past this size (at `rooms` load, ~2 minutes of ticks)."""
SEGMENT_SECONDS = 3600.0
"""...or this old, so retention by age also works on a quiet server."""
MAX_SEGMENT_BYTES = (1 << 32) - 1  # index offsets are u32
LOADED_INDEXES = 32
"""Sealed segments whose tick arrays stay in memory after a read needed them."""


@dataclass(slots=True)
class _Segment:
    base: int
    path: Path
    created: float
    fd: int  # O_RDONLY, for reads
    size: int = SEGMENT_HEADER.size
    batches: int = 0
    sealed: bool = False
    matches: set[int] = field(default_factory=set)  # match ids with any record here
    ticks: dict[int, Ticks] | None = field(default_factory=dict)  # None: not loaded
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)  # match: (first, last)
    meta: list[Meta] = field(default_factory=list)  # the active one's, for its index file

    @property
    def index_path(self) -> Path:
        return self.path.with_name(index_name(self.base))


@dataclass(slots=True)
class _Match:
    start: MatchStart
    segments: list[_Segment] = field(default_factory=list)
    players: list[str] = field(default_factory=list)
    presence: list[Presence] = field(default_factory=list)
    kicks: list[Kick] = field(default_factory=list)
    end: MatchEnd | None = None
    last_tick: int = 0

    def info(self) -> MatchInfo:
        s = self.start
        return MatchInfo(
            id=s.id,
            room=s.room,
            started_at=s.started_at,
            ended_at=None if self.end is None else self.end.ended_at,
            end_reason="" if self.end is None else self.end.reason,
            tick_rate=s.tick_rate,
            players=list(self.players),
            tick_count=self.last_tick,
            server_id=s.server_id,
            match_key=s.match_key,
            first_tick=s.first_tick,
            base_chain=s.base_chain,
        )


class SegmentTickLog:
    """A `TickLog` in append-only segment files. See the module docstring.

    `read_only`: a reader beside a running server (the tools): no lock, no repair,
    no writes; it sees the log as it was when opened. Otherwise the data dir is
    locked (`DataDirLocked` if another process holds it) unless `lock=False`."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        durability: str = "normal",
        read_only: bool = False,
        lock: bool = True,
        segment_bytes: int = SEGMENT_BYTES,
        segment_seconds: float = SEGMENT_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if durability not in ("normal", "full"):
            raise ValueError(f"durability must be normal or full, not {durability!r}")
        self.data_dir = Path(data_dir)
        self.path = datadir.segments_dir(data_dir)
        self.durability = durability
        self.read_only = read_only
        self.segment_bytes = min(segment_bytes, MAX_SEGMENT_BYTES)
        self.segment_seconds = segment_seconds
        self._time = time.time if clock is None else clock
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._matches: dict[int, _Match] = {}
        self._next_seq = 1
        self._next_match_id = 1
        self._wfd: int | None = None
        self._broken: StoreError | None = None
        self._loaded: OrderedDict[int, _Segment] = OrderedDict()  # sealed, arrays in memory
        self.repaired: list[str] = []  # what opening cut off (torn tails), for the log line
        self._dir_lock = datadir.DataDirLock(data_dir)
        if read_only:
            if not self.path.is_dir():
                raise StoreError(f"no tick log in {self.data_dir} (no {self.path})")
        else:
            datadir.prepare(data_dir)
            if lock:
                self._dir_lock.acquire()
        try:
            if not read_only and datadir.has_unconverted_legacy_log(data_dir):
                raise LegacyLog(
                    f"the data dir {self.data_dir} holds a tick log of an earlier tickcast "
                    f"({datadir.legacy_db(data_dir)}): convert it first with `tickcast "
                    f"migrate --data-dir {self.data_dir}` (it keeps the old file, renamed "
                    f"{datadir.LEGACY_DB}{datadir.MIGRATED_SUFFIX})"
                )
            self._open()
        except BaseException:
            self._close_fds()
            self._dir_lock.release()
            raise

    # ------------------------------------------------------------ opening

    def _open(self) -> None:
        if not self.read_only:
            try:
                self.path.mkdir(exist_ok=True)
            except OSError as exc:
                raise from_os_error(exc, "creating", self.path) from None
        names = sorted(p.name for p in self.path.iterdir() if p.suffix == ".seg")
        for i, name in enumerate(names):
            self._load_segment(self.path / name, last=i == len(names) - 1)
        if self.read_only:
            return
        if not self._segments or self._segments[-1].sealed:
            self._create_segment()  # (the newest file was an unfinished one, discarded)
        else:
            active = self._segments[-1]
            try:
                self._wfd = os.open(active.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            except OSError as exc:
                raise from_os_error(exc, "opening", active.path) from None

    def _load_segment(self, path: Path, *, last: bool) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise from_os_error(exc, "opening", path) from None
        try:
            size = os.fstat(fd).st_size
            index = None if last else self._read_index(path, size)
            seg: _Segment | None
            if index is not None:
                seg = self._segment_from_index(path, fd, index)
            else:
                seg = self._segment_from_scan(path, fd, size, last=last)
        except BaseException:
            os.close(fd)
            raise
        if seg is None:
            os.close(fd)
            return
        if self._segments:
            expected = self._next_seq
            if seg.base != expected:
                os.close(fd)
                raise DamagedLog(
                    f"the tick log in {self.path} has a gap: {path.name} begins at batch "
                    f"{seg.base}, but the segment before it ends at batch {expected - 1} "
                    "(a segment file is missing or was replaced); the files are left as they are"
                )
        self._segments.append(seg)
        self._next_seq = seg.base + seg.batches
        seg.sealed = not last
        if seg.sealed and index is None and not self.read_only:
            self._write_index(seg)  # scanned for want of one: the next start reads it

    def _read_index(self, seg_path: Path, size: int) -> Index | None:
        """A sealed segment's index file, if it is there, whole, and of this segment."""
        path = seg_path.with_suffix(".idx")
        try:
            data = path.read_bytes()
            index = decode_index(data)
        except (OSError, FormatError):
            return None
        if index.size != size or seg_path.name != segment_name(index.base):
            return None
        return index

    def _segment_from_index(self, path: Path, fd: int, index: Index) -> _Segment:
        header = self._header(path, fd)
        seg = _Segment(index.base, path, header.created, fd, index.size, index.batches)
        seg.ticks = None
        self._next_match_id = max(self._next_match_id, header.next_match_id)
        for entry in index.meta:
            self._apply_meta(seg, entry)
        for match_id, span in index.spans.items():
            seg.spans[match_id] = (span.first, span.last)
            self._note_ticks(seg, match_id, span.last)
        return seg

    def _header(self, path: Path, fd: int) -> SegmentHeader:
        try:
            return decode_segment_header(os.pread(fd, SEGMENT_HEADER.size, 0))
        except FormatError as exc:
            raise DamagedLog(f"the tick log segment {path} is damaged: {exc}") from None
        except OSError as exc:
            raise from_os_error(exc, "reading", path) from None

    def _segment_from_scan(self, path: Path, fd: int, size: int, *, last: bool) -> _Segment | None:
        data = _read_all(fd, size, path)
        try:
            scan = scan_segment(data)
        except FormatError as exc:
            # a crash while the newest segment was being created leaves it short, or a
            # header of zeros on a power cut: it holds no batch, so nothing is lost
            if last and size <= SEGMENT_HEADER.size and not self.read_only:
                self._discard(path, f"{path.name}: an unfinished segment header ({exc})")
                return None
            if last and size <= SEGMENT_HEADER.size:
                return None
            raise DamagedLog(
                f"the tick log segment {path} is damaged: {exc}; the file is left as it is"
            ) from None
        if path.name != segment_name(scan.header.base):
            raise DamagedLog(
                f"the tick log segment {path} is damaged: its header says it begins at "
                f"batch {scan.header.base}; the file is left as it is"
            )
        if scan.problem:
            self._torn_or_damaged(path, scan, size, last=last)
        return self._segment_from_batches(path, fd, scan)

    def _torn_or_damaged(self, path: Path, scan: Scan, size: int, *, last: bool) -> None:
        if not (last and scan.torn):
            after = "valid batches follow it" if not scan.torn else "in a sealed segment"
            raise DamagedLog(
                f"the tick log segment {path} is damaged: {scan.problem}, and {after}, so this "
                "is not the cut-off end of a write: the files are left as they are. "
                f"{len(scan.batches)} batches before it are good; to go on, move the data dir "
                "aside (keep it for inspection) and start with an empty one"
            )
        cut = size - scan.good_end
        note = (
            f"{path.name}: cut off {cut} bytes of a write a crash left unfinished "
            f"({scan.problem})"
        )
        if not self.read_only:
            try:
                with open(path, "r+b") as f:
                    f.truncate(scan.good_end)
                    os.fsync(f.fileno())
            except OSError as exc:
                raise from_os_error(exc, "repairing", path) from None
        self.repaired.append(note)

    def _discard(self, path: Path, note: str) -> None:
        try:
            path.unlink()
        except OSError as exc:
            raise from_os_error(exc, "removing", path) from None
        self.repaired.append(note)

    def _segment_from_batches(self, path: Path, fd: int, scan: Scan) -> _Segment:
        h = scan.header
        seg = _Segment(h.base, path, h.created, fd, scan.good_end, len(scan.batches))
        self._next_match_id = max(self._next_match_id, h.next_match_id)
        ticks = seg.ticks
        assert ticks is not None
        for batch in scan.batches:
            for entry in batch.entries:
                if isinstance(entry, TickRef):
                    t = ticks.get(entry.match_id)
                    if t is None:
                        t = ticks[entry.match_id] = Ticks()
                    t.add(entry.number, entry.offset, entry.length)
                    self._note_ticks(seg, entry.match_id, entry.number)
                else:
                    self._apply_meta(seg, entry)
                    seg.meta.append(entry)
        for match_id, t in ticks.items():
            seg.spans[match_id] = (t.numbers[0], t.numbers[-1])
        return seg

    # ------------------------------------------------------------ the index

    def _apply_meta(self, seg: _Segment, entry: Meta) -> None:
        """Add one record to the catalog (the caller holds the lock, or is opening)."""
        if isinstance(entry, MatchStart):
            self._matches[entry.id] = _Match(entry, [seg])
            self._next_match_id = max(self._next_match_id, entry.id + 1)
            seg.matches.add(entry.id)
            return
        m = self._matches.get(entry.match_id if not isinstance(entry, MatchEnd) else entry.id)
        if m is None:
            return  # a match whose start was pruned: its remains are garbage
        if not m.segments or m.segments[-1] is not seg:
            m.segments.append(seg)
            seg.matches.add(m.start.id)
        if isinstance(entry, Presence):
            m.presence.append(entry)
            for _, player_id in entry.joined:
                if player_id not in m.players:
                    m.players.append(player_id)
        elif isinstance(entry, Kick):
            m.kicks.append(entry)
        else:
            m.end = entry

    def _note_ticks(self, seg: _Segment, match_id: int, last: int) -> None:
        m = self._matches.get(match_id)
        if m is None:
            return
        if not m.segments or m.segments[-1] is not seg:
            m.segments.append(seg)
            seg.matches.add(match_id)
        if last > m.last_tick:
            m.last_tick = last

    def _ticks_of(self, seg: _Segment, match_id: int) -> Ticks | None:
        """A match's tick arrays in a segment, loading a sealed one's index if needed."""
        if seg.ticks is None:
            try:
                data = seg.index_path.read_bytes()
                index = decode_index(data)
            except OSError as exc:
                raise from_os_error(exc, "reading", seg.index_path) from None
            except FormatError as exc:
                raise DamagedLog(f"the index file {seg.index_path} is damaged: {exc}") from None
            seg.ticks = {mid: ticks_of(data, span) for mid, span in index.spans.items()}
            self._loaded[seg.base] = seg
            self._evict()
        elif seg.sealed and seg.base in self._loaded:
            self._loaded.move_to_end(seg.base)
        return seg.ticks.get(match_id)

    def _evict(self) -> None:
        while len(self._loaded) > LOADED_INDEXES:
            _, old = self._loaded.popitem(last=False)
            old.ticks = None

    # ------------------------------------------------------------ writes

    def next_match_id(self) -> int:
        with self._lock:
            return self._next_match_id

    def write_cycle(self, cycle: Cycle) -> None:
        """Append the cycle as one batch (all of it, or on error none of it), synced
        with durability `full`. Raises DiskFull, LogIOError, or ValueError for a
        cycle that would change what is recorded (a tick number again, a tick of an
        unknown or ended match)."""
        if self.read_only or self._wfd is None:
            raise StoreError(f"the tick log {self.path} is open read-only")
        if self._broken is not None:
            raise self._broken
        self._validate(cycle)
        if self._roll_due():
            self._roll()
        seg = self._segments[-1]
        at = seg.size
        data, refs = encode_batch(self._next_seq, cycle, at)
        try:
            _write_all(self._wfd, data)
        except OSError as exc:
            self._undo(seg, at, exc)
            raise from_os_error(exc, "writing", seg.path) from None
        if self.durability == "full":
            try:
                os.fdatasync(self._wfd)
            except OSError as exc:
                # after a failed fsync the page cache's state is unknown: cut the batch
                # off (it was never acknowledged) and write no more until a restart
                self._undo(seg, at, exc)
                self._broken = self._broken or from_os_error(exc, "syncing", seg.path)
                raise from_os_error(exc, "syncing", seg.path) from None
        with self._lock:
            self._apply_cycle(seg, cycle, refs)
            seg.size = at + len(data)
            seg.batches += 1
            self._next_seq += 1

    def _validate(self, cycle: Cycle) -> None:
        new = {b.id for b in cycle.begins}
        for b in cycle.begins:
            if b.id in self._matches or b.id < max(1, self._next_match_id):
                raise ValueError(
                    f"match id {b.id} was used before (ids from {self._next_match_id} are free)"
                )
        last: dict[int, int] = {}
        matches = self._matches
        for match_id, number, _ in cycle.ticks:
            m = matches.get(match_id)
            if m is None:
                if match_id not in new:
                    raise ValueError(f"a tick of match {match_id}, which has not begun")
                prev = last.get(match_id, 0)
            elif m.end is not None:
                raise ValueError(f"a tick of match {match_id}, which has ended")
            else:
                prev = last.get(match_id, m.last_tick)
            if number <= prev:
                raise ValueError(
                    f"tick {number} of match {match_id} after tick {prev}: a tick number "
                    "is recorded once"
                )
            last[match_id] = number

    def _apply_cycle(
        self, seg: _Segment, cycle: Cycle, refs: list[tuple[int, int, int, int]]
    ) -> None:
        """Add a written cycle to the index (under the lock)."""
        for begin in cycle.begins:
            self._apply_meta(seg, begin)
        ticks = seg.ticks
        assert ticks is not None
        newest: dict[int, int] = {}
        for match_id, number, offset, length in refs:
            t = ticks.get(match_id)
            if t is None:
                t = ticks[match_id] = Ticks()
                seg.spans[match_id] = (number, number)
            t.numbers.append(number)
            t.offsets.append(offset)
            t.lengths.append(length)
            newest[match_id] = number
        spans = seg.spans
        for match_id, number in newest.items():
            spans[match_id] = (spans[match_id][0], number)
            self._note_ticks(seg, match_id, number)
        rest: list[Meta] = [*cycle.presence, *cycle.kicks, *cycle.ends]
        for entry in rest:
            self._apply_meta(seg, entry)
        if cycle.begins:
            seg.meta += cycle.begins
        if rest:
            seg.meta += rest

    def _undo(self, seg: _Segment, at: int, exc: OSError) -> None:
        """Cut a failed write off, so the file ends where the last good batch does. If
        that fails too, refuse further writes: a restart recovers by scanning."""
        assert self._wfd is not None
        try:
            os.ftruncate(self._wfd, at)
        except OSError:
            self._broken = LogIOError(
                f"writing {seg.path} failed ({exc.strerror}) and cutting the partial write "
                "off failed too: restart the server to recover the log"
            )

    def _roll_due(self) -> bool:
        seg = self._segments[-1]
        if seg.batches == 0:
            return False
        return seg.size >= self.segment_bytes or self._time() - seg.created >= self.segment_seconds

    def _roll(self) -> None:
        """Seal the active segment and begin the next one. The new file exists (header
        written and synced) before the old one is sealed: a failure leaves the old one
        active, and a crash in between leaves an empty newest segment."""
        old = self._segments[-1]
        assert self._wfd is not None
        try:
            os.fdatasync(self._wfd)  # a sealed segment never has a torn tail
        except OSError as exc:
            self._broken = from_os_error(exc, "syncing", old.path)
            raise self._broken from None
        self._create_segment()
        self._write_index(old)

    def _create_segment(self) -> None:
        base = self._next_seq
        path = self.path / segment_name(base)
        created = self._time()
        header = encode_segment_header(base, self._next_match_id, created)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
            wfd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise from_os_error(exc, "creating", path) from None
        try:
            _write_all(wfd, header)
            os.fdatasync(wfd)
            rfd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            os.close(wfd)
            try:
                path.unlink()
            except OSError:
                pass  # an unfinished newest segment is discarded at the next start
            raise from_os_error(exc, "creating", path) from None
        _sync_dir(self.path)
        seg = _Segment(base, path, created, rfd)
        with self._lock:
            if self._segments:
                self._segments[-1].sealed = True
            self._segments.append(seg)
        if self._wfd is not None:
            os.close(self._wfd)
        self._wfd = wfd

    def _write_index(self, seg: _Segment) -> None:
        """The sealed segment's index file (a cache: on failure the next start scans)."""
        if seg.ticks is None:
            return
        data = encode_index(seg.base, seg.batches, seg.size, seg.meta, seg.ticks)
        tmp = seg.index_path.with_suffix(".idx.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, seg.index_path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass
            return  # its arrays stay in memory: there is no file to load them from
        seg.meta = []
        with self._lock:
            self._loaded[seg.base] = seg
            self._evict()

    # ------------------------------------------------------------ reads

    def read_ticks(
        self, match_id: int, first: int, last: int | None = None, limit: int = 256
    ) -> list[tuple[int, bytes]]:
        """Up to `limit` ticks numbered first..last, each checked (DamagedLog if one is
        not what was written)."""
        with self._lock:
            m = self._matches.get(match_id)
            if m is None or limit <= 0:
                return []
            wanted: list[tuple[_Segment, int, int, int]] = []
            for seg in m.segments:
                span = seg.spans.get(match_id)
                if span is None or span[1] < first:
                    continue
                if last is not None and span[0] > last:
                    break
                t = self._ticks_of(seg, match_id)
                if t is None:
                    continue
                numbers, offsets, lengths = t.numbers, t.offsets, t.lengths
                i = bisect.bisect_left(numbers, first)
                j = min(len(numbers), i + limit - len(wanted))
                if last is not None:
                    j = min(j, bisect.bisect_right(numbers, last, i, j))
                wanted += [(seg, numbers[k], offsets[k], lengths[k]) for k in range(i, j)]
                if len(wanted) >= limit:
                    break
            return self._fetch(match_id, wanted)

    @staticmethod
    def _fetch(
        match_id: int, wanted: list[tuple[_Segment, int, int, int]]
    ) -> list[tuple[int, bytes]]:
        """Read each frame with its TICK entry header (one pread: ~2 us from the page
        cache, cheaper than reading the other rooms' ticks in between) and check that
        it is the tick the index says, with its own checksum."""
        out: list[tuple[int, bytes]] = []
        head = TICK_ENTRY.size
        unpack, crc32, pread = TICK_ENTRY.unpack_from, zlib.crc32, os.pread
        for seg, number, offset, length in wanted:
            try:
                buf = pread(seg.fd, head + length, offset - head)
            except OSError as exc:
                raise from_os_error(exc, "reading", seg.path) from None
            frame = buf[head:]
            if len(frame) == length:
                tag, mid, n, size, crc = unpack(buf)
                if tag == TICK and mid == match_id and n == number and size == length:
                    if crc32(frame) == crc:
                        out.append((number, frame))
                        continue
            try:  # say precisely what is wrong
                check_frame(buf, 0, TickRef(match_id, number, offset, length))
                problem = "the frame changed while it was read"
            except FormatError as exc:
                problem = str(exc)
            raise DamagedLog(
                f"the tick log segment {seg.path} is damaged at byte {offset}: {problem}"
            )
        return out

    def matches(self) -> list[MatchInfo]:
        with self._lock:
            return [self._matches[i].info() for i in sorted(self._matches)]

    def match(self, match_id: int) -> MatchInfo | None:
        with self._lock:
            m = self._matches.get(match_id)
            return None if m is None else m.info()

    def kicks(self, match_id: int) -> list[Kick]:
        with self._lock:
            m = self._matches.get(match_id)
            return [] if m is None else list(m.kicks)

    def presence(self, match_id: int) -> list[Presence]:
        """The match's presence records, in order (joins and leaves by tick)."""
        with self._lock:
            m = self._matches.get(match_id)
            return [] if m is None else list(m.presence)

    def segments(self) -> list[tuple[str, int, bool]]:
        """(file name, bytes, sealed) of every segment, oldest first."""
        with self._lock:
            return [(s.path.name, s.size, s.sealed) for s in self._segments]

    # ------------------------------------------------------------ retention

    def size_bytes(self) -> int:
        with self._lock:
            return sum(s.size for s in self._segments)

    def prune(self, older_than: float | None, max_bytes: int | None) -> list[int]:
        """Delete whole segments, oldest first (see the module docstring); returns the
        ids of the matches that went with them."""
        if self.read_only:
            raise StoreError(f"the tick log {self.path} is open read-only")
        deleted: list[int] = []
        while True:
            with self._lock:
                if not self._segments:
                    break
                seg = self._segments[0]
                if not self._deletable(seg, older_than, max_bytes):
                    break
                if seg is self._segments[-1] and seg.batches == 0:
                    break
            if seg is self._segments[-1]:
                self._roll()  # the active one goes too: begin the next first
            with self._lock:
                self._segments.pop(0)
                self._loaded.pop(seg.base, None)
                for match_id in sorted(seg.matches):
                    if self._matches.pop(match_id, None) is not None:
                        deleted.append(match_id)
            os.close(seg.fd)
            for path in (seg.path, seg.index_path):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise from_os_error(exc, "deleting", path) from None
        return deleted

    def _deletable(self, seg: _Segment, older_than: float | None, max_bytes: int | None) -> bool:
        matches = [self._matches[i] for i in seg.matches if i in self._matches]
        if any(m.end is None for m in matches):
            return False  # never a live match
        if older_than is not None and all(
            m.end is not None and m.end.ended_at < older_than for m in matches
        ):
            return bool(matches) or seg.sealed
        if max_bytes:
            return sum(s.size for s in self._segments) > max_bytes
        return False

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        if self._wfd is not None and not self._broken and self.durability == "full":
            try:
                os.fdatasync(self._wfd)
            except OSError:
                pass
        self._close_fds()
        self._dir_lock.release()

    def _close_fds(self) -> None:
        if self._wfd is not None:
            os.close(self._wfd)
            self._wfd = None
        with self._lock:
            for seg in self._segments:
                os.close(seg.fd)
            self._segments = []



def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` (a full disk can take part of it first, then refuse)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_all(fd: int, size: int, path: Path) -> bytes:
    chunks: list[bytes] = []
    pos = 0
    try:
        while pos < size:
            chunk = os.pread(fd, min(size - pos, 16 << 20), pos)
            if not chunk:
                break
            chunks.append(chunk)
            pos += len(chunk)
    except OSError as exc:
        raise from_os_error(exc, "reading", path) from None
    return b"".join(chunks)


def _sync_dir(path: Path) -> None:
    """Make a new file's name durable (its directory entry)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
