"""The HTTP side: WebSocket transport, /metrics, health checks, admin API."""

from tickcast.http.service import HttpService

__all__ = ["HttpService"]
