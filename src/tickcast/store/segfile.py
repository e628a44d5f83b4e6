"""The byte format of the segment tick log: segment files, batches, entries, index files.

A segment file is a 36-byte header and then batches, appended one per write:

    segment header  magic b"TCKSEG\\0\\2" | base seq u64 | next match id u64 | created f64
                    | crc32 of the 32 bytes before it
    batch           magic b"TCB\\2" | body length u32 | seq u64 | crc32 (of length, seq, body)
                    | body: entries

A batch is one write: one tick cycle (or several merged by a group commit), so
it is all or nothing at recovery. Batch seqs run on without a gap across
segments; a segment is named after its base seq (`%020d.seg`). Entries (all
integers little-endian, strings u32 length + UTF-8):

    TICK 1      match u32 | number u64 | frame length u32 | crc32 of the frame u32 | frame
    START 2     match u32 | tick rate u32 | started at f64 | first tick u64
                | room, server id, match key, base chain (strings/bytes)
    PRESENCE 3  match u32 | tick u64 | n joined u16 | n left u16 | (slot u32, player id) x n
                | slot u32 x n
    KICK 4      match u32 | at f64 | player id, reason, detail
    END 5       match u32 | ended at f64 | reason

Each TICK entry carries its own crc32 right before the frame, so a read of one
tick (catch-up from disk, which never reads the whole batch) checks what it
returns. CRC32 is zlib's (the standard library's, as gzip and PNG use it): it
detects every error burst of up to 32 bits and any other change but one in 2^32.

An index file (`%020d.idx`) is written beside a segment when it is sealed (no
more writes), so a restart reads the index instead of scanning the segment:

    magic b"TCKIDX\\0\\2" | base seq u64 | batches u64 | segment size u64 | crc32 of body u32
    body: meta length u32 | meta entries (START, PRESENCE, KICK, END, as in batches)
          | n matches u32 | (match u32, count u32, first u64, last u64) x n
          | then per match: numbers u64 x count, offsets u32 x count, lengths u32 x count

An index file is a cache: a missing or bad one is rebuilt by scanning its segment.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from tickcast.store.log import Cycle, Kick, MatchEnd, MatchStart, Presence

SEGMENT_MAGIC = b"TCKSEG\x00\x02"
SEGMENT_HEADER = struct.Struct("<8sQQdI")
_SEGMENT_HEADER_BODY = struct.Struct("<8sQQd")
BATCH_MAGIC = b"TCB\x02"
BATCH_HEADER = struct.Struct("<4sIQI")
_LEN_SEQ = struct.Struct("<IQ")
INDEX_MAGIC = b"TCKIDX\x00\x02"
INDEX_HEADER = struct.Struct("<8sQQQI")

TICK, START, PRESENCE, KICK, END = 1, 2, 3, 4, 5
TICK_ENTRY = struct.Struct("<BIQII")
_START = struct.Struct("<BIIdQ")
_PRESENCE = struct.Struct("<BIQHH")
_KICK = struct.Struct("<BId")
_END = struct.Struct("<BId")
_U32 = struct.Struct("<I")
_MATCH_SUMMARY = struct.Struct("<IIQQ")
MAX_BATCH = 1 << 30  # a length above this is damage, not a batch

if sys.byteorder != "little":  # pragma: no cover - the arrays below are stored little-endian
    raise ImportError("tickcast's segment log needs a little-endian machine")


class FormatError(Exception):
    """Bytes that do not follow the format (the caller says which file and where)."""


def segment_name(base: int) -> str:
    return f"{base:020d}.seg"


def index_name(base: int) -> str:
    return f"{base:020d}.idx"


def encode_segment_header(base: int, next_match_id: int, created: float) -> bytes:
    head = _SEGMENT_HEADER_BODY.pack(SEGMENT_MAGIC, base, next_match_id, created)
    return head + _U32.pack(zlib.crc32(head))


class SegmentHeader(NamedTuple):
    base: int
    next_match_id: int
    created: float


def decode_segment_header(data: bytes) -> SegmentHeader:
    if len(data) < SEGMENT_HEADER.size:
        raise FormatError("the segment header is cut short")
    magic, base, next_id, created, crc = SEGMENT_HEADER.unpack_from(data)
    if magic[:6] != SEGMENT_MAGIC[:6]:
        raise FormatError("not a tickcast segment file (bad magic)")
    if magic != SEGMENT_MAGIC:
        raise FormatError(f"a segment of an unknown format version ({magic[6:]!r})")
    if zlib.crc32(data[: _SEGMENT_HEADER_BODY.size]) != crc:
        raise FormatError("the segment header fails its checksum")
    return SegmentHeader(base, next_id, created)


# ---------------------------------------------------------------- batches


def _s(text: str) -> bytes:
    raw = text.encode()
    return _U32.pack(len(raw)) + raw


def _b(raw: bytes) -> bytes:
    return _U32.pack(len(raw)) + raw


class TickRef(NamedTuple):
    """Where one tick's frame is: `offset` is the frame's first byte in the segment."""

    match_id: int
    number: int
    offset: int
    length: int


def encode_meta(cycle: Cycle) -> list[bytes]:
    """The START, PRESENCE, KICK and END entries of a cycle (everything but ticks)."""
    parts: list[bytes] = []
    for b in cycle.begins:
        parts.append(_START.pack(START, b.id, b.tick_rate, b.started_at, b.first_tick))
        parts += [_s(b.room), _s(b.server_id), _s(b.match_key), _b(b.base_chain)]
    for p in cycle.presence:
        parts.append(_PRESENCE.pack(PRESENCE, p.match_id, p.tick, len(p.joined), len(p.left)))
        for slot, player_id in p.joined:
            parts += [_U32.pack(slot), _s(player_id)]
        parts += [_U32.pack(slot) for slot in p.left]
    for k in cycle.kicks:
        parts += [_KICK.pack(KICK, k.match_id, k.at), _s(k.player_id), _s(k.reason), _s(k.detail)]
    for e in cycle.ends:
        parts += [_END.pack(END, e.id, e.ended_at), _s(e.reason)]
    return parts


def encode_batch(seq: int, cycle: Cycle, at: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """A cycle as one batch to append at byte `at` of a segment, and where its ticks land:
    (match, number, frame offset in the segment, frame length) for each, as `TickRef`s'
    fields (plain tuples: this runs for every cycle).

    Entries go in the order starts, ticks, presence, kicks, ends: a batch is applied
    whole, so only the order within each kind matters."""
    parts = encode_meta(Cycle(begins=cycle.begins)) if cycle.begins else []
    pos = at + BATCH_HEADER.size + sum(map(len, parts))
    refs: list[tuple[int, int, int, int]] = []
    pack, crc32, size = TICK_ENTRY.pack, zlib.crc32, TICK_ENTRY.size
    append, add = parts.append, refs.append
    for match_id, number, frame in cycle.ticks:
        n = len(frame)
        append(pack(TICK, match_id, number, n, crc32(frame)))
        append(frame)
        pos += size
        add((match_id, number, pos, n))
        pos += n
    if cycle.presence or cycle.kicks or cycle.ends:
        parts += encode_meta(Cycle(presence=cycle.presence, kicks=cycle.kicks, ends=cycle.ends))
    body = b"".join(parts)
    crc = zlib.crc32(body, zlib.crc32(_LEN_SEQ.pack(len(body), seq)))
    return BATCH_HEADER.pack(BATCH_MAGIC, len(body), seq, crc) + body, refs


Meta = MatchStart | Presence | Kick | MatchEnd


class _Reader:
    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes | memoryview, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def take(self, st: struct.Struct) -> tuple[object, ...]:
        if self.pos + st.size > self.end:
            raise FormatError("an entry is cut short")
        values = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return values

    def raw(self) -> bytes:
        (n,) = self.take(_U32)
        assert isinstance(n, int)
        if self.pos + n > self.end:
            raise FormatError("a string is cut short")
        value = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return value

    def text(self) -> str:
        try:
            return self.raw().decode()
        except UnicodeDecodeError:
            raise FormatError("a string is not UTF-8") from None

    def u32(self) -> int:
        (n,) = self.take(_U32)
        assert isinstance(n, int)
        return n


def iter_entries(data: bytes | memoryview, start: int, end: int) -> Iterator[TickRef | Meta]:
    """The entries of the batch body data[start:end] (a TickRef for a tick, whose offset
    is the frame's position in `data`). FormatError if the body does not parse."""
    r = _Reader(data, start, end)
    while r.pos < end:
        tag = data[r.pos]
        if tag == TICK:
            _, match_id, number, n, _crc = r.take(TICK_ENTRY)
            assert isinstance(n, int)
            if r.pos + n > end:
                raise FormatError("a tick frame is cut short")
            yield TickRef(match_id, number, r.pos, n)  # type: ignore[arg-type]
            r.pos += n
        elif tag == START:
            _, mid, rate, started, first = r.take(_START)
            room, server_id, key = r.text(), r.text(), r.text()
            yield MatchStart(mid, room, rate, started, server_id, key, first, r.raw())  # type: ignore[arg-type]
        elif tag == PRESENCE:
            _, mid, tick, nj, nl = r.take(_PRESENCE)
            assert isinstance(nj, int) and isinstance(nl, int)
            joined = tuple((r.u32(), r.text()) for _ in range(nj))
            left = tuple(r.u32() for _ in range(nl))
            yield Presence(mid, tick, joined, left)  # type: ignore[arg-type]
        elif tag == KICK:
            _, mid, at = r.take(_KICK)
            yield Kick(mid, at, r.text(), r.text(), r.text())  # type: ignore[arg-type]
        elif tag == END:
            _, mid, ended = r.take(_END)
            yield MatchEnd(mid, ended, r.text())  # type: ignore[arg-type]
        else:
            raise FormatError(f"an entry of unknown type {tag}")


# ---------------------------------------------------------------- scanning


@dataclass(slots=True)
class Batch:
    seq: int
    start: int  # the batch header's position
    end: int  # one past its last byte
    entries: list[TickRef | Meta]


@dataclass(slots=True)
class Scan:
    """What one pass over a segment found: its good batches, and where and why it stops
    being good (`problem` empty: the whole file is good). `torn`: nothing valid follows
    the bad spot, so it is the tail of a write a crash cut (safe to cut off)."""

    header: SegmentHeader
    batches: list[Batch] = field(default_factory=list)
    good_end: int = SEGMENT_HEADER.size
    problem: str = ""
    torn: bool = False

    @property
    def next_seq(self) -> int:
        return self.batches[-1].seq + 1 if self.batches else self.header.base


def _batch_at(data: bytes, pos: int) -> tuple[int, int, str]:
    """(seq, end, "") for a whole, checksummed batch at `pos`, else (0, 0, what is wrong)."""
    if len(data) - pos < BATCH_HEADER.size:
        return 0, 0, "a batch header is cut short"
    magic, length, seq, crc = BATCH_HEADER.unpack_from(data, pos)
    if magic != BATCH_MAGIC:
        return 0, 0, "no batch starts here (bad magic)"
    if length > MAX_BATCH:
        return 0, 0, "a batch length is impossible"
    body = pos + BATCH_HEADER.size
    end = body + length
    if end > len(data):
        return 0, 0, "a batch is cut short"
    if zlib.crc32(memoryview(data)[body:end], zlib.crc32(_LEN_SEQ.pack(length, seq))) != crc:
        return 0, 0, "a batch fails its checksum"
    return seq, end, ""


def _valid_batch_after(data: bytes, pos: int, after_seq: int) -> int | None:
    """The position of a whole batch with a seq above `after_seq` past `pos`, if any."""
    find = data.find
    p = find(BATCH_MAGIC, pos)
    while p != -1:
        seq, _, problem = _batch_at(data, p)
        if not problem and seq > after_seq:
            return p
        p = find(BATCH_MAGIC, p + 1)
    return None


def scan_segment(data: bytes) -> Scan:
    """Check and parse a whole segment file's bytes (FormatError for a bad header)."""
    header = decode_segment_header(data)
    scan = Scan(header)
    pos = SEGMENT_HEADER.size
    expected = header.base
    while pos < len(data):
        seq, end, problem = _batch_at(data, pos)
        if not problem and seq != expected:
            problem = f"batch {seq} where batch {expected} should be"
        if not problem:
            try:
                entries = list(iter_entries(data, pos + BATCH_HEADER.size, end))
            except FormatError as exc:
                problem = f"batch {seq} does not parse: {exc}"
        if problem:
            scan.problem = f"{problem} at byte {pos}"
            scan.torn = _valid_batch_after(data, pos + 1, expected - 1) is None
            break
        scan.batches.append(Batch(seq, pos, end, entries))
        pos = scan.good_end = end
        expected += 1
    return scan


# ---------------------------------------------------------------- index files


@dataclass(slots=True)
class Ticks:
    """One match's ticks in one segment, in order: numbers, frame offsets, lengths."""

    numbers: array[int] = field(default_factory=lambda: array("Q"))
    offsets: array[int] = field(default_factory=lambda: array("I"))
    lengths: array[int] = field(default_factory=lambda: array("I"))

    def add(self, number: int, offset: int, length: int) -> None:
        self.numbers.append(number)
        self.offsets.append(offset)
        self.lengths.append(length)


@dataclass(frozen=True, slots=True)
class MatchSpan:
    """A match's ticks in one segment, as an index file summarises them."""

    count: int
    first: int
    last: int
    at: int  # where its arrays are in the index file


def encode_index(
    base: int, batches: int, size: int, meta: list[Meta], ticks: dict[int, Ticks]
) -> bytes:
    parts = encode_meta(
        Cycle(
            begins=[m for m in meta if isinstance(m, MatchStart)],
            presence=[m for m in meta if isinstance(m, Presence)],
            kicks=[m for m in meta if isinstance(m, Kick)],
            ends=[m for m in meta if isinstance(m, MatchEnd)],
        )
    )
    meta_bytes = b"".join(parts)
    body = [_U32.pack(len(meta_bytes)), meta_bytes, _U32.pack(len(ticks))]
    at = INDEX_HEADER.size + 4 + len(meta_bytes) + 4 + _MATCH_SUMMARY.size * len(ticks)
    for match_id, t in ticks.items():
        body.append(_MATCH_SUMMARY.pack(match_id, len(t.numbers), t.numbers[0], t.numbers[-1]))
    for t in ticks.values():
        body += [t.numbers.tobytes(), t.offsets.tobytes(), t.lengths.tobytes()]
        at += 16 * len(t.numbers)
    raw = b"".join(body)
    return INDEX_HEADER.pack(INDEX_MAGIC, base, batches, size, zlib.crc32(raw)) + raw


@dataclass(slots=True)
class Index:
    base: int
    batches: int
    size: int
    meta: list[Meta]
    spans: dict[int, MatchSpan]


def decode_index(data: bytes) -> Index:
    """An index file's summary (its arrays are read later, by `read_ticks_of`)."""
    if len(data) < INDEX_HEADER.size:
        raise FormatError("the index file is cut short")
    magic, base, batches, size, crc = INDEX_HEADER.unpack_from(data)
    if magic != INDEX_MAGIC:
        raise FormatError("not a tickcast index file")
    if zlib.crc32(memoryview(data)[INDEX_HEADER.size :]) != crc:
        raise FormatError("the index file fails its checksum")
    r = _Reader(data, INDEX_HEADER.size, len(data))
    meta_len = r.u32()
    meta_end = r.pos + meta_len
    meta = list(iter_entries(data, r.pos, meta_end))
    if any(isinstance(m, TickRef) for m in meta):
        raise FormatError("the index file's meta entries hold a tick")
    r.pos = meta_end
    spans: dict[int, MatchSpan] = {}
    summaries = [r.take(_MATCH_SUMMARY) for _ in range(r.u32())]
    at = r.pos
    for match_id, count, first, last in summaries:
        assert isinstance(count, int)
        spans[match_id] = MatchSpan(count, first, last, at)  # type: ignore[arg-type,index]
        at += 16 * count
    if at != len(data):
        raise FormatError("the index file's arrays do not add up")
    return Index(base, batches, size, [m for m in meta if not isinstance(m, TickRef)], spans)


def ticks_of(data: bytes, span: MatchSpan) -> Ticks:
    """A match's arrays from an index file's bytes."""
    t = Ticks()
    n, at = span.count, span.at
    t.numbers.frombytes(data[at : at + 8 * n])
    t.offsets.frombytes(data[at + 8 * n : at + 12 * n])
    t.lengths.frombytes(data[at + 12 * n : at + 16 * n])
    return t


def check_frame(buf: bytes | memoryview, pos: int, ref: TickRef) -> bytes:
    """The frame whose TICK entry header starts at buf[pos], checked against `ref` (the
    index's idea of it) and its own crc32; FormatError if anything differs."""
    if pos < 0 or pos + TICK_ENTRY.size + ref.length > len(buf):
        raise FormatError("the tick is past the end of its segment")
    tag, match_id, number, n, crc = TICK_ENTRY.unpack_from(buf, pos)
    if (tag, match_id, number, n) != (TICK, ref.match_id, ref.number, ref.length):
        raise FormatError(
            f"the index points at something else than tick {ref.number} of match {ref.match_id}"
        )
    start = pos + TICK_ENTRY.size
    frame = bytes(buf[start : start + n])
    if zlib.crc32(frame) != crc:
        raise FormatError(f"tick {ref.number} of match {ref.match_id} fails its checksum")
    return frame
