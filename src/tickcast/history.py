"""Sans-I/O: a room's recent ticks, by number (the history ring).

One type for every room that keeps ticks: a sequencing room (`Room.produce`
keeps each tick it builds), a room restored from a tick log or a cluster
stream (`restore`), and a room fed with ticks built elsewhere, a spectator
mirror or a replay (`feed`). Resumes, late joins and `full_history` read their
catch-up from it (through the room, a `TickSource`).

Invariants:
- tick n lives at slot n % size; the ring holds the `size` ticks before the
  room's open tick (older ones are overwritten, and may be in a tick log);
- bounded by bytes as well (`--history-bytes`): `bytes` counts the frames held
  (each `len(frame) + FRAME_OVERHEAD`, what a bytes object costs), and once it
  passes `limit` the oldest ticks are let go (`oldest` moves on), so a room
  whose members send as much as the limits allow keeps fewer than `size`
  seconds' worth; the ticks let go may be in a tick log, which then serves
  them (`Room.first_kept`); without one a resume from before `oldest` is
  RESUME_UNAVAILABLE;
- a slot holds the tick's frame, or None for a tick that was not sent (an
  empty tick the room skips), or b"" for an empty tick that was sent: its
  frame is rebuilt on demand from its number and its 32-byte chain, kept in a
  ring of its own, so a quiet room's history costs a third of the frames.
"""

from __future__ import annotations

from collections.abc import Iterable

from tickcast import wire

CHAIN_BYTES = 32
FRAME_OVERHEAD = 33
"""What a bytes object costs besides its content (`sys.getsizeof(b"")`)."""


class TickHistory:
    """The last `size` ticks of a room, at most `limit` bytes of them (0: no byte
    bound). See the module docstring."""

    __slots__ = ("size", "limit", "bytes", "oldest", "let_go", "_ring", "_chains", "_chained")

    def __init__(self, size: int, chained: bool, limit: int = 0) -> None:
        self.size = size
        self.limit = limit
        self.bytes = 0  # the frames held, FRAME_OVERHEAD each included
        self.oldest = 1  # no tick before this is held (the byte bound let it go)
        self.let_go = 0  # ticks let go for the byte bound, before the ring overwrote them
        self._ring: list[bytes | None] = [None] * size
        self._chains = bytearray()  # grows with the first `size` ticks, then wraps
        self._chained = chained  # ticks carry Tick.chain (an empty tick's frame needs it)

    def first(self, next_number: int) -> int:
        """The oldest tick held, for a room whose open tick is `next_number`."""
        first = next_number - self.size
        oldest = self.oldest
        return max(1, first if first > oldest else oldest)

    @property
    def chain_bytes(self) -> int:
        """What the chains of the empty ticks take (at most `size` x 32 bytes)."""
        return len(self._chains)

    def frame(self, number: int) -> bytes | None:
        """Tick `number`'s frame (None: not sent). It must be within the ring."""
        f = self._ring[number % self.size]
        if f or f is None:
            return f
        # an empty tick: its frame is determined by its number and chain
        content = wire.encode_tick_content(number, b"")
        if not self._chained:
            return wire.encode_tick_frame(content)
        at = (number - 1) % self.size * CHAIN_BYTES
        return wire.encode_tick_frame(content, bytes(self._chains[at : at + CHAIN_BYTES]))

    def keep(self, number: int, frame: bytes | None, chain: bytes) -> None:
        """Keep produced tick `number`: its frame, b"" for an empty tick (rebuilt
        from `chain`), None for one not sent. Ticks come in order, one by one."""
        ring = self._ring
        at = number % self.size
        old = ring[at]
        ring[at] = frame
        if old or frame:
            held = self.bytes
            if old:
                held -= len(old) + FRAME_OVERHEAD
            if frame:
                held += len(frame) + FRAME_OVERHEAD
            self.bytes = held
            if self.limit and held > self.limit:
                self._let_go(number)
        if chain:
            chains = self._chains
            at = (number - 1) % self.size * CHAIN_BYTES
            if at == len(chains):
                chains += chain
            else:
                chains[at : at + CHAIN_BYTES] = chain

    def _let_go(self, newest: int) -> None:
        """Over the byte bound after keeping tick `newest`: let the oldest ticks go
        until the rest fits (the newest too, if it alone is over the bound)."""
        ring, size, limit = self._ring, self.size, self.limit
        held = self.bytes
        n = max(self.oldest, newest - size + 1)
        while held > limit and n <= newest:
            f = ring[n % size]
            if f:
                held -= len(f) + FRAME_OVERHEAD
                ring[n % size] = None
                self.let_go += 1
            n += 1
        self.bytes = held
        self.oldest = n

    def restore(self, ticks: Iterable[tuple[int, bytes]], last: int) -> None:
        """Fill the ring of a room that goes on after tick `last` with `ticks`
        (number, frame; those older than the ring are passed over)."""
        # `keep` fills the chains in tick order from tick 1; a room going on at
        # last + 1 writes into the middle, so they get their full size now
        self._chains = bytearray(CHAIN_BYTES * self.size)
        for number, frame in ticks:
            if number > last - self.size:
                self.feed(number, number, frame)

    def feed(self, next_number: int, number: int, frame: bytes) -> None:
        """Keep tick `number`, built elsewhere (a cluster stream, a recording), in a
        room whose open tick is `next_number`: the numbers in between were not
        sent (empty ticks the producer skipped)."""
        for skipped in range(max(next_number, number - self.size + 1), number):
            self.keep(skipped, None, b"")
        self.keep(number, frame, b"")
