"""A UDP test peer for the clients' UDP paths, in front of a real `tickcast serve`.

`UdpPeer` is a TCP proxy with a UDP socket beside it. Clients connect to its
TCP port as to a server; it forwards every frame both ways unchanged, except:

- mode "core" (the server has no UDP transport yet): a connection whose Hello
  asks for UDP gets a session of the server-side core (`tickcast.udp.UdpEndpoint`
  on the peer's real UDP socket): its Welcome gains the `UdpOffer`; every tick the
  server sends goes through `UdpMember.push` (by datagram or by the stream, as the
  core decides); inputs that arrive by datagram are written to the server as
  stream frames (the server drops repeats by seq, as it always does);
- mode "relay" (the server offers UDP itself: `tickcast serve` with its UDP
  transport): the Welcome's offer is pointed at the peer's UDP socket, and
  datagrams are relayed between the client and the server's UDP port, one
  upstream socket per session (so the server sees one address per client).

In both modes the peer can lose a share of the datagrams (`loss`), block them
all (`blocked`: UDP filtered somewhere on the path) and cut a client's
connection (`drop`). Everything runs on 127.0.0.1 with ephemeral ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tickcast import wire
from tickcast.client import input_frame
from tickcast.proto import pb
from tickcast.udp import UdpEndpoint, UdpMember


@dataclass
class _Link:
    """One client connection through the peer."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    wants_udp: bool = False
    member: UdpMember | None = None
    session_id: bytes = b""
    upstream: asyncio.DatagramTransport | None = None  # relay mode
    client_addr: Any = None  # relay mode: where the client's datagrams came from
    last_pushed: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Any) -> None:
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: a lost datagram
        pass


class UdpPeer:
    """See the module docstring. `await UdpPeer.start(server_port)`; `port` is the
    TCP port clients connect to, `udp_port` the UDP port in the offers."""

    def __init__(self, server_port: int, mode: str, seed: int) -> None:
        assert mode in ("core", "relay")
        self.server_port = server_port
        self.mode = mode
        self.rnd = random.Random(seed)
        self.loss = 0.0
        self.blocked = False
        self.endpoint = UdpEndpoint()
        self.links: list[_Link] = []
        self.members: list[UdpMember] = []  # every session ever opened (core mode)
        self.counts: Counter[str] = Counter()
        self.port = 0
        self.udp_port = 0
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._timer: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, server_port: int, mode: str = "core", seed: int = 1) -> UdpPeer:
        peer = cls(server_port, mode, seed)
        loop = asyncio.get_running_loop()
        peer._server = await asyncio.start_server(peer._accept, "127.0.0.1", 0)
        peer.port = peer._server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(peer._from_client), local_addr=("127.0.0.1", 0)
        )
        peer._udp = transport
        peer.udp_port = transport.get_extra_info("sockname")[1]
        if mode == "core":
            peer._timer = asyncio.create_task(peer._timers())
        return peer

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for link in list(self.links):
            self._end(link)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._udp is not None:
            self._udp.close()

    async def __aenter__(self) -> UdpPeer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ impairments

    def _passes(self) -> bool:
        return not self.blocked and self.rnd.random() >= self.loss

    def drop(self) -> None:
        """Cut every client connection at once (both paths: the UDP session ends with it)."""
        for link in list(self.links):
            link.client.transport.abort()
            self._end(link)

    # ------------------------------------------------------------ the stream

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.server_port)
        except OSError:
            writer.close()
            return
        link = _Link(writer, up_writer)
        self.links.append(link)
        link.tasks = [
            asyncio.create_task(self._client_to_server(link, reader)),
            asyncio.create_task(self._server_to_client(link, up_reader)),
        ]

    async def _client_to_server(self, link: _Link, reader: asyncio.StreamReader) -> None:
        framer = wire.Framer(1 << 20)
        try:
            while data := await reader.read(1 << 16):
                for body in framer.feed(data):
                    msg = wire.decode_client_message(body)
                    if msg.WhichOneof("body") == "hello":
                        link.wants_udp = msg.hello.udp_version >= 1
                    link.server.write(wire.frame(body))
        except (OSError, Exception):
            pass
        finally:
            self._end(link)

    async def _server_to_client(self, link: _Link, reader: asyncio.StreamReader) -> None:
        framer = wire.Framer(64 << 20)
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(1 << 16):
                for body in framer.feed(data):
                    msg = pb.ServerMessage.FromString(body)
                    kind = msg.WhichOneof("body")
                    if kind == "welcome":
                        body = self._welcome(link, msg)
                    elif kind == "tick" and link.member is not None:
                        self._tick(link, msg.tick.number, wire.frame(body), loop.time())
                        continue
                    link.client.write(wire.frame(body))
        except (OSError, Exception):
            pass
        finally:
            self._end(link)

    def _welcome(self, link: _Link, msg: pb.ServerMessage) -> bytes:
        w = msg.welcome
        if self.mode == "core" and link.wants_udp:
            member = self.endpoint.open(w.first_tick, 1 / max(1, w.tick_rate), w.last_seq)
            link.member = member
            link.last_pushed = w.first_tick - 1
            self.members.append(member)
            w.udp.CopyFrom(member.offer(self.udp_port))  # host "": the stream's host
        elif self.mode == "relay" and w.HasField("udp"):
            link.session_id = w.udp.session_id
            host = w.udp.host or "127.0.0.1"
            asyncio.create_task(self._open_upstream(link, host, w.udp.port))
            w.udp.port = self.udp_port
            w.udp.host = ""
        return msg.SerializeToString()

    def _tick(self, link: _Link, number: int, frame: bytes, now: float) -> None:
        member = link.member
        assert member is not None
        for skipped in range(link.last_pushed + 1, number):  # a server skipping empty ticks
            member.push(skipped, None, now)
        link.last_pushed = number
        member.push(number, frame, now)
        self._flush(link)

    def _flush(self, link: _Link) -> None:
        """Send what the link's member has for both paths (core mode)."""
        member = link.member
        if member is None or self._udp is None:
            return
        now = asyncio.get_running_loop().time()
        for data, addr in member.datagrams_to_send(now):
            self.counts["datagrams to clients"] += 1
            if self._passes():
                self._udp.sendto(data, addr)
        for frame in member.stream_frames():
            link.client.write(frame)

    def _end(self, link: _Link) -> None:
        if link not in self.links:
            return
        self.links.remove(link)
        for w in (link.client, link.server):
            with contextlib.suppress(Exception):
                w.close()
        if link.member is not None:
            self.endpoint.close(link.member)
        if link.upstream is not None:
            link.upstream.close()
        for t in link.tasks:
            if t is not asyncio.current_task():
                t.cancel()

    # ------------------------------------------------------------ datagrams

    def _from_client(self, data: bytes, addr: Any) -> None:
        self.counts["datagrams from clients"] += 1
        if not self._passes():
            return
        if self.mode == "relay":
            for link in self.links:
                if data[1:9] == link.session_id and link.upstream is not None:
                    link.client_addr = addr
                    link.upstream.sendto(data)
            return
        got = self.endpoint.datagram_received(data, addr, asyncio.get_running_loop().time())
        if got is None:
            self.counts["refused"] += 1
            return
        link = next((x for x in self.links if x.member is got.member), None)
        if link is None:
            return
        for seq, payload in got.inputs:
            link.server.write(input_frame(seq, payload))
            self.counts["inputs by datagram"] += 1
        self._flush(link)

    async def _open_upstream(self, link: _Link, host: str, port: int) -> None:
        def back(data: bytes, _addr: Any) -> None:
            if link.client_addr is not None and self._udp is not None and self._passes():
                self._udp.sendto(data, link.client_addr)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Datagrams(back), remote_addr=(host, port)
        )
        link.upstream = transport

    async def _timers(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.005)
            for member in self.endpoint.handle_timer(loop.time()):
                link = next((x for x in self.links if x.member is member), None)
                if link is not None:
                    self._flush(link)

    # ------------------------------------------------------------ what happened

    def total(self, counter: str) -> int:
        """A counter summed over every session (core mode): ticks_by_udp, fallbacks, ..."""
        return sum(int(getattr(m, counter)) for m in self.members)
