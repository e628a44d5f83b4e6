"""The UDP transport's sans-I/O core (docs/protocol.md, "The UDP transport").

A client asks for UDP in its Hello (`udp_version`); the Welcome answers with a
`UdpOffer` (port, host, session id, key). The stream stays open as the control
and fallback path; the datagrams only speed up what the stream would carry:

- server -> client: the ticks the client has not acknowledged, newest first, as
  many as fit in one datagram, each the very frame a TCP member receives. A lost
  datagram is repaired by the next one; a tick that is not acknowledged in time
  goes over the stream.
- client -> server: the highest contiguous tick received (the acknowledgement)
  and every input not yet seen in a tick, so a lost datagram costs nothing.

Three modules, none of which does I/O; time is always a parameter (aioquic style:
`datagram_received(data, addr, now)`, `datagrams_to_send(now)`, `get_timer()`,
`handle_timer(now)`):

- `datagram`: the byte layout, the MAC, the replay window, refusal reasons.
- `server_side`: `UdpEndpoint` (the session table of one UDP socket) and
  `UdpMember` (one member's window, acknowledgements, address validation,
  anti-amplification and fallback).
- `client_side`: `UdpClientCore` (merges ticks from both paths, builds the
  client's datagrams, detects whether UDP works) and `TickMerger`.

Hooking it up (the asyncio layers). After every call into a core object, send
what it has for both paths: `datagrams_to_send(now)` on the UDP socket, the
stream frames (`stream_frames()` / `stream_frames_to_send()`) on the stream,
in order; and keep one loop timer at `get_timer()` that calls `handle_timer`.

Server:
- One `UdpEndpoint` per UDP socket. At a Welcome whose Hello has
  `udp_version >= 1`: `member = endpoint.open(welcome.first_tick,
  tick_interval, welcome.last_seq)`, `welcome.udp = member.offer(port, host)`.
  If the join starts a catch-up, set `member.stream_only = True`; when the
  catch-up has written its last frame (tick T): `member.stream_carried(T)`,
  then `member.stream_only = False`. When the session ends: `endpoint.close(member)`.
- Fan-out: for a member with UDP, `member.push(number, frame, now)` instead of
  `outbox.offer(frame)` (skipped ticks may be pushed with `frame=None`; then
  the next datagram tells the client sooner), then send both outputs: stream
  frames go through the outbox (`offer`, its limits and eviction unchanged).
- Datagram in: `got = endpoint.datagram_received(data, addr, now)`; submit
  `got.inputs` to the room (those above the player's `last_seq` only, so that
  the input rate limit does not count repeats), then send `got.member`'s outputs.
- Slow consumer: while `member.on_udp`, `member.unacknowledged` over the tick
  limit evicts (SLOW_CONSUMER), as `frames_behind` does for a stream.
- Timers: `endpoint.handle_timer(now)` once per tick cycle returns the members
  whose outputs changed (timeouts are at least 50 ms + 2 tick intervals).

Client (the SDK's `Client`): after `core.on_welcome(welcome)`,
`udp = UdpClientCore.from_welcome(core, welcome, now)` (None: stay on the
stream) and a datagram endpoint connected to `(udp.host or stream host,
udp.port)`. Stream ticks go to `udp.stream_tick(body, tick, raw)` instead of
`core.on_tick_frame`, datagrams to `udp.datagram_received(data, now)`; both
return the typed ticks for the application. `udp.send_input(payload, now)`
replaces `core.next_input` + write. A reconnect drops the old `udp`: the new
Welcome brings a new session.
"""

from tickcast.udp.client_side import ClientMode, TickMerger, UdpClientCore, UdpClientSettings
from tickcast.udp.datagram import MAX_DATAGRAM, VERSION, Refusal, ReplayWindow
from tickcast.udp.server_side import Received, UdpEndpoint, UdpMember, UdpServerSettings

__all__ = [
    "MAX_DATAGRAM",
    "VERSION",
    "ClientMode",
    "Received",
    "Refusal",
    "ReplayWindow",
    "TickMerger",
    "UdpClientCore",
    "UdpClientSettings",
    "UdpEndpoint",
    "UdpMember",
    "UdpServerSettings",
]
