"""`tickcast drain`: ask a running cluster node to hand its rooms over and exit.

The request goes through the cluster's Redis (the node checks for it at every
heartbeat, a quarter of the lease), so it works from any machine that reaches
Redis, like `kill -TERM` does on the node's own machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING

from tickcast.cli import run_async
from tickcast.redact import redact_url

if TYPE_CHECKING:
    from tickcast.cluster.redis_store import RedisStore


def drain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster",
        default=os.environ.get("TICKCAST_CLUSTER", ""),
        help="redis://HOST:PORT/DB of the cluster [env TICKCAST_CLUSTER]",
    )
    p.add_argument("--node", required=True, help="the node's advertised HOST:PORT")
    p.add_argument(
        "--wait", type=float, default=30.0,
        help="seconds to wait for the node to leave the cluster (0 = do not wait)",
    )


async def _drain(url: str, node: str, wait: float) -> int:
    from redis.exceptions import RedisError  # the cluster extra: redis-py

    from tickcast.cluster.redis_store import RedisStore

    try:
        store = RedisStore(url, lease_seconds=3.0)
    except ValueError as exc:  # redis-py cannot read the URL
        print(f"tickcast drain: --cluster {redact_url(url)}: {exc}", file=sys.stderr)
        return 2
    try:
        return await _request_drain(store, url, node, wait)
    except (RedisError, OSError) as exc:
        print(f"tickcast drain: Redis at {redact_url(url)}: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()


async def _request_drain(store: RedisStore, url: str, node: str, wait: float) -> int:
    if node not in await store.live_nodes():
        print(f"tickcast drain: no live node {node} in {redact_url(url)}", file=sys.stderr)
        return 1
    await store.request_drain(node)
    deadline = time.monotonic() + wait
    while wait and time.monotonic() < deadline:
        if node not in await store.live_nodes():
            print(f"tickcast drain: {node} handed its rooms over and left", flush=True)
            return 0
        await asyncio.sleep(0.1)
    if wait:
        print(f"tickcast drain: {node} still live after {wait:g} s", file=sys.stderr)
        return 1
    print(f"tickcast drain: asked {node} to drain", flush=True)
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    """Hand a cluster node's rooms to the other nodes, then stop it."""
    if not args.cluster:
        print("tickcast drain: --cluster (or TICKCAST_CLUSTER) is required", file=sys.stderr)
        return 2
    return run_async(_drain(args.cluster, args.node, args.wait))
