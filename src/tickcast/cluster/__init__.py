"""Multi-node tickcast on Redis: room leases with fencing epochs, one stream per
room (the source of resume and failover), redirects, spectator mirrors and drain.
See docs/scaling.md.

Needs the cluster extra (`pip install 'tickcast[cluster]'`, redis-py). The names
below are imported on first use, so that `tickcast.cluster.commands` (whose
arguments every `tickcast --help` lists) loads without redis-py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tickcast.cluster.node import ClusterService
    from tickcast.cluster.redis_store import RedisStore

__all__ = ["ClusterService", "RedisStore"]


def __getattr__(name: str) -> Any:
    if name == "ClusterService":
        from tickcast.cluster.node import ClusterService

        return ClusterService
    if name == "RedisStore":
        from tickcast.cluster.redis_store import RedisStore

        return RedisStore
    raise AttributeError(f"module 'tickcast.cluster' has no attribute {name!r}")
