"""The cluster's shared state in Redis: room leases with fencing epochs, room
streams, and the node registry. Every write of an owner is a Lua script that
first checks the owner's lease value atomically (fencing).

Keys of room R (the `{R}` hash tag keeps them in one Redis Cluster slot):

- `tickcast:{R}:lease`  string `"<epoch>|<host:port>"` with a TTL: the owner.
- `tickcast:{R}:epoch`  counter, incremented at every acquisition (never reset).
- `tickcast:{R}:log`    stream, entry id `<tick>-0`: field `f` the tick frame,
  and on some entries `s` a snapshot of the room (`tickcast.cluster.state`).
- `tickcast:{R}:place`  string `host:port` with a short TTL: the node a
  placement chose for the unowned room, until that node acquires it.

`tickcast:nodes` is a sorted set of advertised addresses scored by the time
(ms) their heartbeat expires, `tickcast:load` a hash address -> load (the
connections the node's rooms feed), `tickcast:http` a hash address -> the
node's advertised HTTP `host:port` (where WebSocket clients are redirected).

A lease value names its epoch, so an owner whose lease expired (paused past it,
or cut off from Redis) can never write again even if it comes back before
another node took the room: the value it holds is gone, and a new acquisition
makes a new one. Stream ids must grow, so Redis itself also refuses a tick
number written twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

PREFIX = "tickcast:"

_CLAIM = """
local me = ARGV[1]
local cur = redis.call('GET', KEYS[1])
if cur then
  local addr = string.match(cur, '^%d+|(.*)$')
  if addr ~= me then return {0, cur, redis.call('HGET', KEYS[7], addr) or ''} end
end
local reserved = redis.call('GET', KEYS[4])
-- a node is healthy while its heartbeat has at least half a lease left (it sends
-- four per lease): one that missed two is probably dead and gets no new room
local healthy = tonumber(ARGV[5]) + math.floor(tonumber(ARGV[2]) / 2)
if not cur then
  if reserved and reserved ~= me then
    local score = redis.call('ZSCORE', KEYS[5], reserved)
    if score and tonumber(score) >= healthy then
      return {2, reserved, redis.call('HGET', KEYS[7], reserved) or ''}
    end
    redis.call('DEL', KEYS[4])  -- reserved for a node that died or left: place anew
    reserved = false
  end
  if not reserved and ARGV[3] == '1' then
    local mine = tonumber(redis.call('HGET', KEYS[6], me) or '0')
    local best, low = nil, nil
    for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], healthy, '+inf')) do
      if n ~= me and (ARGV[8] == '0' or redis.call('HEXISTS', KEYS[7], n) == 1) then
        local l = tonumber(redis.call('HGET', KEYS[6], n) or '0')
        if low == nil or l < low or (l == low and n < best) then best, low = n, l end
      end
    end
    local slack = math.max(tonumber(ARGV[6]), math.floor(mine * tonumber(ARGV[7])))
    if best and mine - low > slack then
      redis.call('SET', KEYS[4], best, 'PX', ARGV[4])
      redis.call('HINCRBY', KEYS[6], best, 1)
      return {2, best, redis.call('HGET', KEYS[7], best) or ''}
    end
  end
end
local epoch = redis.call('INCR', KEYS[2])
local value = epoch .. '|' .. me
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
redis.call('PERSIST', KEYS[3])
if reserved then
  redis.call('DEL', KEYS[4])
elseif not cur then
  redis.call('HINCRBY', KEYS[6], me, 1)
end
return {1, value, ''}
"""
"""Acquire a room, or say where it is (KEYS: its lease, epoch, log and placement
reservation, the node registry, loads and HTTP addresses; ARGV: our address,
lease ms, '1' to place on the least loaded node, reservation ms, now ms, slack,
slack fraction, '1' if the client needs a WebSocket listener). Returns
`{outcome, value, http}`:

- 0: owned by another node; `value` its lease value, `http` its HTTP address;
- 1: acquired (a new epoch; a former life of our address is taken over too);
- 2: reserved for another node (by an earlier placement, or by this call:
  it is the least loaded live node by more than the slack, ties go to us);
  `value` its address.

Only healthy nodes (a heartbeat with at least half a lease left, as
`ClusterService._suspect` judges owners) are chosen, and a reservation for a
node that is no longer healthy (it died or left) is dropped and the room placed
anew: new players are never sent to a dead node.

One script, so two nodes placing the same room concurrently agree: the first
reserves or acquires, the second sees the reservation or the lease. A
reservation counts toward its node's load at once (HINCRBY), as does a room
acquired without one, so a burst of new rooms spreads before the next
heartbeats publish the true loads. The reserved node acquires without placing
again (no ping-pong); if it never comes, the reservation expires."""

_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

_APPEND = """
local out = {}
local a = 2
for r = 1, #KEYS, 2 do
  local lease, n, trim = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  a = a + 3
  local ok = 0
  if redis.call('GET', KEYS[r]) == lease then
    redis.call('PEXPIRE', KEYS[r], ARGV[1])
    ok = 1
    for i = a, a + 3 * (n - 1), 3 do
      local res
      if ARGV[i + 2] == '' then
        res = redis.pcall('XADD', KEYS[r + 1], ARGV[i] .. '-0', 'f', ARGV[i + 1])
      else
        res = redis.pcall('XADD', KEYS[r + 1], ARGV[i] .. '-0', 'f', ARGV[i + 1],
                          's', ARGV[i + 2])
      end
      -- a tick number not above the stream's last: refused (never written twice)
      if type(res) == 'table' and res.err then ok = 0 break end
    end
    if ok == 1 and trim ~= '0' then
      redis.call('XTRIM', KEYS[r + 1], 'MINID', '~', trim .. '-0')
    end
  end
  out[#out + 1] = ok
  a = a + 3 * n
end
return out
"""
"""Fenced, for many rooms in one call: for each room (KEYS: its lease, its log;
ARGV: its lease value, tick count, trim point, then number/frame/snapshot per
tick) append the ticks to the stream and renew the lease only if the lease is
still exactly ours. One call per tick cycle for all the rooms of a node: a
single Redis (or Sentinel) deployment, not Redis Cluster, whose slots would
split the keys."""

_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] ~= '0' then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return 1
"""


def room_key(room: str, what: str) -> str:
    return f"{PREFIX}{{{room}}}:{what}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def lease_address(value: str) -> str:
    """The advertised address in a lease value `"<epoch>|<host:port>"`."""
    return value.partition("|")[2]


def lease_epoch(value: str) -> int:
    return int(value.partition("|")[0] or 0)


NODES = PREFIX + "nodes"
LOAD = PREFIX + "load"
HTTP = PREFIX + "http"

PLACEMENT_SLACK = 2
"""A new room goes to another node only if that node's load is lower than ours
by more than this many connections (one 2-player room), or by more than
`PLACEMENT_SLACK_FRACTION` of our load if that is more: nodes about equal keep
their own rooms instead of bouncing clients over an extra connection."""
PLACEMENT_SLACK_FRACTION = 0.1


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of `RedisStore.claim`: OWNED (`value` the owner's lease value),
    ACQUIRED (`value` our lease value) or RESERVED (`value` the node's address);
    `http` the other node's advertised HTTP address ('' if it has none)."""

    OWNED = 0
    ACQUIRED = 1
    RESERVED = 2

    outcome: int
    value: str
    http: str

    @property
    def address(self) -> str:
        """The TCP address of the node that owns or will own the room."""
        return self.value if self.outcome == Claim.RESERVED else lease_address(self.value)


@dataclass(frozen=True, slots=True)
class Append:
    """One room's ticks of a cycle (or of several, merged) for the fenced append."""

    room: str
    lease: str
    ticks: list[tuple[int, bytes, bytes]]  # (number, frame, snapshot or b"")
    trim_below: int  # drop entries older than this tick (0: no trim)


class RedisStore:
    """Async access to the cluster's keys; every method may raise redis.RedisError."""

    def __init__(self, url: str, lease_seconds: float, *, timeout: float = 1.0) -> None:
        # Any: redis-py's return types are unions of every RESP shape
        self.redis: Any = aioredis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=0,
            retry_on_timeout=False,
        )
        self.lease_ms = int(lease_seconds * 1000)
        self._claim = self.redis.register_script(_CLAIM)
        self._renew = self.redis.register_script(_RENEW)
        self._append = self.redis.register_script(_APPEND)
        self._release = self.redis.register_script(_RELEASE)

    async def close(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> None:
        await self.redis.ping()

    # ------------------------------------------------------------ leases

    async def claim(
        self,
        room: str,
        address: str,
        *,
        place: bool = False,
        websocket: bool = False,
        reserve_seconds: float = 3.0,
    ) -> Claim:
        """Acquire `room` for `address`, unless it is owned by or reserved for
        another node; with `place`, an unowned room goes to the least loaded live
        node (one with an HTTP address if `websocket`), reserved for it."""
        keys = [room_key(room, "lease"), room_key(room, "epoch"), room_key(room, "log"),
                room_key(room, "place"), NODES, LOAD, HTTP]
        args: list[str | int | float] = [
            address, self.lease_ms, int(place), int(reserve_seconds * 1000),
            int(time.time() * 1000), PLACEMENT_SLACK, PLACEMENT_SLACK_FRACTION, int(websocket),
        ]
        outcome, value, http = await self._claim(keys=keys, args=args)
        return Claim(int(outcome), _text(value), _text(http))

    async def acquire(self, room: str, address: str) -> tuple[bool, str]:
        """(True, our lease value) or (False, the owner's lease value); a room
        reserved for another node reads as its lease of epoch 0."""
        c = await self.claim(room, address)
        if c.outcome == Claim.RESERVED:
            return False, f"0|{c.value}"
        return c.outcome == Claim.ACQUIRED, c.value

    async def owner(self, room: str) -> str | None:
        """The lease value of the room's owner, if any."""
        value = await self.redis.get(room_key(room, "lease"))
        return None if value is None else _text(value)

    async def renew(self, leases: dict[str, str]) -> dict[str, bool]:
        """Renew many leases in one round trip; False where the lease is no longer ours."""
        if not leases:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        names = list(leases)
        for name in names:
            await self._renew(keys=[room_key(name, "lease")], args=[leases[name], self.lease_ms],
                              client=pipe)
        results = await pipe.execute()
        return {name: bool(r) for name, r in zip(names, results, strict=True)}

    async def append(self, appends: list[Append]) -> dict[str, bool]:
        """The fenced appends of one group commit, in one script call."""
        if not appends:
            return {}
        keys: list[str] = []
        args: list[bytes | str | int] = [self.lease_ms]
        for a in appends:
            keys += [room_key(a.room, "lease"), room_key(a.room, "log")]
            args += [a.lease, len(a.ticks), max(0, a.trim_below)]
            for number, frame, snap in a.ticks:
                args += [number, frame, snap]
        results = await self._append(keys=keys, args=args)
        return {a.room: r == 1 for a, r in zip(appends, results, strict=True)}

    async def release(self, room: str, lease: str, keep_log_seconds: int) -> bool:
        """Give the lease up (fenced); the stream expires after `keep_log_seconds`."""
        keys = [room_key(room, "lease"), room_key(room, "log")]
        return bool(await self._release(keys=keys, args=[lease, keep_log_seconds]))

    # ------------------------------------------------------------ streams

    async def read_tail(self, room: str, keep: int) -> list[tuple[int, bytes, bytes | None]]:
        """The stream's newest entries, oldest first: at least `keep` of them (if
        there are), and back to the newest snapshot."""
        key = room_key(room, "log")
        entries: list[tuple[int, bytes, bytes | None]] = []
        upper = "+"
        have_snapshot = False
        while True:
            chunk = await self.redis.xrevrange(key, upper, "-", count=max(256, keep))
            if not chunk:
                break
            for entry_id, fields in chunk:
                number = int(_text(entry_id).partition("-")[0])
                snap = fields.get(b"s")
                entries.append((number, fields[b"f"], snap))
                have_snapshot = have_snapshot or snap is not None
            if have_snapshot and len(entries) >= keep:
                break
            upper = f"({_text(chunk[-1][0])}"
        entries.reverse()
        return entries

    async def read_after(
        self, room: str, after: int, block_ms: int, count: int = 512
    ) -> list[tuple[int, bytes]]:
        """Ticks numbered above `after`, waiting up to `block_ms` for the first."""
        key = room_key(room, "log")
        reply = await self.redis.xread({key: f"{after}-0"}, count=count, block=block_ms)
        out: list[tuple[int, bytes]] = []
        for _, entries in reply or ():
            for entry_id, fields in entries:
                out.append((int(_text(entry_id).partition("-")[0]), fields[b"f"]))
        return out

    # ------------------------------------------------------------ nodes

    async def heartbeat(self, address: str, load: int, ttl: float, http: str = "") -> None:
        """The node is live for `ttl` more seconds, serves `load` connections,
        and WebSocket clients reach it at `http` ('' = no HTTP listener)."""
        now_ms = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(NODES, {address: now_ms + int(ttl * 1000)})
        pipe.hset(LOAD, address, load)
        if http:
            pipe.hset(HTTP, address, http)
        else:
            pipe.hdel(HTTP, address)
        pipe.zremrangebyscore(NODES, 0, now_ms)
        await pipe.execute()

    async def http_address(self, address: str) -> str:
        """The advertised HTTP address of the node at `address` ('' if none)."""
        value = await self.redis.hget(HTTP, address)
        return "" if value is None else _text(value)

    async def heartbeat_left(self, address: str) -> float | None:
        """Seconds until the node's last heartbeat expires (None: not live)."""
        score = await self.redis.zscore(NODES, address)
        if score is None:
            return None
        left = (float(score) - time.time() * 1000) / 1000
        return left if left > 0 else None

    async def request_drain(self, address: str) -> None:
        """Ask the node at `address` to drain (it looks at its next heartbeat)."""
        await self.redis.set(f"{PREFIX}drain:{address}", "1", ex=60)

    async def drain_requested(self, address: str) -> bool:
        return await self.redis.getdel(f"{PREFIX}drain:{address}") is not None

    async def leave(self, address: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(NODES, address)
        pipe.hdel(LOAD, address)
        pipe.hdel(HTTP, address)
        await pipe.execute()

    async def live_nodes(self) -> dict[str, int]:
        """Advertised address -> load (connections), of every node with a live heartbeat."""
        now_ms = int(time.time() * 1000)
        names = await self.redis.zrangebyscore(NODES, now_ms, "+inf")
        if not names:
            return {}
        loads = await self.redis.hmget(LOAD, names)
        return {_text(n): int(x or 0) for n, x in zip(names, loads, strict=True)}
