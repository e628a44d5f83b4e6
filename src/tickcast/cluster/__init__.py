"""Multi-node tickcast on Redis: room leases with fencing epochs, one stream per
room (the source of resume and failover), redirects, spectator mirrors and drain.
See docs/scaling.md."""

from tickcast.cluster.node import ClusterService
from tickcast.cluster.redis_store import RedisStore

__all__ = ["ClusterService", "RedisStore"]
