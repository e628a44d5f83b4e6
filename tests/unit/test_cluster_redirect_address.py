"""A cluster node redirects each session to the address fitting its transport:
the other node's TCP `host:port` for TCP, its advertised HTTP `host:port` for
WebSocket (the client keeps its scheme and path). No Redis is contacted here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tickcast.cluster import ClusterService
from tickcast.config import Config
from tickcast.http import HttpService
from tickcast.proto import pb

URL = "redis://127.0.0.1:1/0"  # never connected to: redis-py connects lazily


@dataclass
class FakeSession:
    transport: str
    kicks: list[tuple[int, str, str]] = field(default_factory=list)

    def kick(self, reason: int, detail: str, redirect: str = "") -> None:
        self.kicks.append((reason, detail, redirect))


def node(**config: Any) -> ClusterService:
    return ClusterService(Config(cluster=URL, **config))


def test_each_transport_gets_its_own_address() -> None:
    service = node()
    tcp, ws = FakeSession("tcp"), FakeSession("ws")
    for s in (tcp, ws):
        service.node.kick_to(s, "room moved", "10.0.0.2:7777", "10.0.0.2:8080")  # type: ignore[arg-type]
    assert tcp.kicks == [(pb.REASON_REDIRECT, "room moved", "10.0.0.2:7777")]
    assert ws.kicks == [(pb.REASON_REDIRECT, "room moved", "10.0.0.2:8080")]


def test_a_websocket_client_is_not_sent_to_a_node_without_http() -> None:
    ws = FakeSession("ws")
    node().node.kick_to(ws, "room moved", "10.0.0.2:7777", "")  # type: ignore[arg-type]
    ((reason, detail, redirect),) = ws.kicks
    assert reason == pb.REASON_SERVER_SHUTDOWN and redirect == ""
    assert "no WebSocket listener" in detail


def test_own_http_address_from_the_flag_or_the_listener() -> None:
    assert node(advertise_http="game.example:443").http_address == "game.example:443"
    for host, expected in (("127.0.0.1", "127.0.0.1:8081"), ("::1", "[::1]:8081")):
        service = node(http_host=host)
        assert service.http_address == ""  # not started: no listener known
        http = HttpService()
        service.node.http = http  # the listener `tickcast serve` hands the node
        assert service.http_address == ""  # the listener has not started yet
        http.port = 8081
        assert service.http_address == expected
