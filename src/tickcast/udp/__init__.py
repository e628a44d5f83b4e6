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
