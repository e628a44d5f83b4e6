"""What aiohttp's WebSocket reader does not check: masking, and every byte counted.

aiohttp parses a client's frames and accepts them whether or not they are
masked (its reader unmasks a masked frame and takes an unmasked one as it
is), although RFC 6455 5.1 says a server MUST close the connection on an
unmasked client frame; and it answers pings and takes pongs and close frames
itself, so the session never sees those bytes, and a client could send
`--recv-bytes-per-second` many times over in pings.

`FrameGuard` stands in front of aiohttp's reader: the WebSocket response
(`websocket.WsResponse`) puts it where aiohttp's request handler feeds the
reader, so it sees every byte the connection reads. It

- counts every byte (frame headers, pings, pongs, close frames, payloads)
  against the session's receive budget (`Session.count_received`; the messages
  then come to `Session.message_received` already counted), as TCP counts every
  byte before framing: over it, `Kick{RATE_LIMITED}` and close 1008;
- walks the frame headers (two bytes, the extended length, the mask key) and
  skips the payloads, without copying them, and at a frame whose MASK bit is
  0 fails the connection the way aiohttp fails it for a malformed frame: the
  frames before it go on to aiohttp's reader, the error is queued behind
  them, and the response's close (`WsResponse.close`) sends
  `Kick{PROTOCOL_ERROR, "a client frame was not masked (RFC 6455 5.1)"}` and
  close 1002; nothing after it is read;
- holds what arrives before the session exists (bytes a client sent right
  behind its upgrade request) until `attach`, so those are checked too.

The frames themselves are still aiohttp's to parse: everything that passes
goes on to its reader unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WebSocketError, WSCloseCode

from tickcast.proto import pb

if TYPE_CHECKING:
    from tickcast.session import Session

log = logging.getLogger("tickcast.ws")

UNMASKED = "a client frame was not masked (RFC 6455 5.1)"
_NOTHING = (False, b"")  # what a parser's feed_data returns: not at EOF, no tail
_FAILED = (True, b"")  # ... and what aiohttp's reader returns when it fails a frame
_EARLY_LIMIT = 1 << 20
"""Bytes held before the session exists; a client sending more is cut."""


def header_size(second_byte: int) -> int:
    """Bytes of a client frame's header from its second byte: the two fixed ones,
    the extended payload length (2 or 8 bytes) and the masking key (4) if masked."""
    length = second_byte & 0x7F
    extended = 2 if length == 126 else 8 if length == 127 else 0
    return 2 + extended + (4 if second_byte & 0x80 else 0)


class FrameScanner:
    """Walks a stream of client frames header by header (payloads are skipped,
    not copied). `scan(data)` is False at the first frame that is not masked."""

    __slots__ = ("_skip", "_head", "frames")

    def __init__(self) -> None:
        self._skip = 0  # payload bytes of the current frame still to come
        self._head = bytearray()  # a header split over two reads
        self.frames = 0

    def scan(self, data: bytes) -> int:
        """-1 if every frame header in `data` is a masked one's; else where in `data`
        the first unmasked frame starts (0 if its header began in an earlier read)."""
        pos, end = 0, len(data)
        head = self._head
        while pos < end:
            skip = self._skip
            if skip:
                step = skip if skip < end - pos else end - pos
                self._skip = skip - step
                pos += step
            elif head:
                need = (header_size(head[1]) if len(head) >= 2 else 2) - len(head)
                head += data[pos : pos + need]
                pos += need
                if len(head) >= 2 and len(head) == header_size(head[1]):
                    if not self._header(head, 0):
                        return 0
                    head.clear()
            elif end - pos < 2 or end - pos < header_size(data[pos + 1]):
                head += data[pos:]
                pos = end
            else:
                if not self._header(data, pos):
                    return pos
                pos += header_size(data[pos + 1])
        return -1

    def _header(self, buf: bytes | bytearray, at: int) -> bool:
        second = buf[at + 1]
        if not second & 0x80:
            return False
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(buf[at + 2 : at + 4], "big")
        elif length == 127:
            length = int.from_bytes(buf[at + 2 : at + 10], "big")
        self._skip = length
        self.frames += 1
        return True


class FrameGuard:
    """aiohttp's WebSocket reader behind the checks of the module docstring. It has
    the reader's two methods that aiohttp's request handler calls (`feed_data`,
    `feed_eof`)."""

    def __init__(self, reader: Any, queue: Any, clock: Callable[[], float]) -> None:
        self.reader = reader  # aiohttp's WebSocketReader
        self.queue = queue  # the queue it puts messages in (WebSocketDataQueue)
        self.clock = clock
        self.scanner = FrameScanner()
        self.session: Session | None = None
        self._early = bytearray()
        self.unmasked = False

    def attach(self, session: Session) -> None:
        """The session exists: count and check what came before it, then go on."""
        self.session = session
        early, self._early = bytes(self._early), bytearray()
        if len(early) > _EARLY_LIMIT:
            session.kick(pb.REASON_RATE_LIMITED, f"over {_EARLY_LIMIT} bytes before the upgrade")
        elif early:
            self.feed_data(early)

    def feed_eof(self) -> None:
        self.reader.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        session = self.session
        if session is None:
            if len(self._early) <= _EARLY_LIMIT:  # past it, `attach` kicks
                self._early += data
            return _NOTHING
        if session.closed or self.unmasked:
            return _NOTHING  # the connection is ending: nothing more is read
        if not session.count_received(len(data), self.clock()):
            return _NOTHING  # over the receive budget: kicked
        bad = self.scanner.scan(data)
        if bad >= 0:
            self.unmasked = True
            if bad:
                self.reader.feed_data(data[:bad])  # the frames before it, in order
            self.queue.set_exception(WebSocketError(WSCloseCode.PROTOCOL_ERROR, UNMASKED))
            return _FAILED
        result: tuple[bool, bytes] = self.reader.feed_data(data)
        return result
