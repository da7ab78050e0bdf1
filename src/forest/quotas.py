"""Per-user quotas: how much of the service one account may hold at once (admins are exempt).

Stored things (active crawl jobs, alerts, alerts with a webhook) are counted in the database, in the
transaction that adds one, so two requests at once cannot both slip under the limit: on PostgreSQL a
per-user lock serialises them; on SQLite the new row is written first, which takes the database's single
write lock before the count. Open WebSockets live in processes, so `SocketLeases` counts them in Redis
(every API process sees the same count) or, without Redis, in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forest.backends import backend_of
from forest.errors import ForestError

log = logging.getLogger(__name__)
_LOCK_NAMESPACE = 7_000_003


async def lock_user(session: AsyncSession, user_id: int) -> None:
    """Serialise quota checks of one user until the transaction ends (PostgreSQL; SQLite has one writer)."""
    await backend_of(session).lock(session, _LOCK_NAMESPACE, user_id)


async def enforce(session: AsyncSession, *, counted: Select[Any], limit: int, error: ForestError) -> None:
    """After the new row was flushed (and `lock_user` taken): raise `error` if `counted` now exceeds `limit`."""
    count = await session.scalar(select(func.count()).select_from(counted.subquery()))
    if int(count or 0) > limit:
        raise error


# Lua, so that expiring old leases, counting and adding one is a single step for every API process at once.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class SocketLeases:
    """Open WebSockets per user: a lease per socket, taken before accept and given back on close.

    With Redis, a lease is a member of the user's sorted set scored by its expiry; this process renews its
    leases every third of `ttl`, so the sockets of a process that died stop counting after `ttl` seconds.
    Without Redis (the embedded single-process mode) the count is this process's own.
    """

    def __init__(self, redis_url: str | None, ttl: float = 60.0) -> None:
        self._url = redis_url
        self.ttl = ttl
        self._client: Any = None
        self._local: Counter[int] = Counter()
        self._mine: dict[str, int] = {}  # lease id -> user id, for renewal
        self._renewer: asyncio.Task[None] | None = None

    @staticmethod
    def _key(user_id: int) -> str:
        return f"forest:ws-leases:{user_id}"

    async def acquire(self, user_id: int, limit: int) -> str | None:
        """A lease id if the user has fewer than `limit` open sockets, else None."""
        lease = secrets.token_hex(8)
        if not self._url:
            if self._local[user_id] >= limit:
                return None
            self._local[user_id] += 1
            self._mine[lease] = user_id
            return lease
        now = time.time()
        try:
            ok = await self._redis().eval(_ACQUIRE, 1, self._key(user_id), now, now + self.ttl, limit, lease,
                                          int(self.ttl) + 1)
        except Exception as exc:  # Redis away: let the socket open (the quota protects, it must not cut off)
            log.warning("WebSocket quota not checked, Redis unreachable: %s", exc)
            return lease
        if not ok:
            return None
        self._mine[lease] = user_id
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew())
        return lease

    async def release(self, lease: str) -> None:
        """Give a lease back (the socket closed)."""
        user_id = self._mine.pop(lease, None)
        if user_id is None:
            return
        if not self._url:
            self._local[user_id] -= 1
            if self._local[user_id] <= 0:
                del self._local[user_id]
            return
        with contextlib.suppress(Exception):  # unreachable Redis: the lease expires on its own
            await self._redis().zrem(self._key(user_id), lease)

    async def _renew(self) -> None:
        while self._mine:
            await asyncio.sleep(self.ttl / 3)
            expiry = time.time() + self.ttl
            try:
                async with self._redis().pipeline(transaction=False) as pipe:
                    for lease, user_id in list(self._mine.items()):
                        pipe.zadd(self._key(user_id), {lease: expiry}, xx=True)
                        pipe.expire(self._key(user_id), int(self.ttl) + 1)
                    await pipe.execute()
            except Exception as exc:  # the leases run out if Redis stays away; sockets stay open
                log.warning("could not renew WebSocket leases: %s", exc)

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            assert self._url is not None
            self._client = aioredis.Redis.from_url(self._url, socket_connect_timeout=2, socket_timeout=2)
        return self._client

    async def close(self) -> None:
        """Stop renewing and close the Redis connection."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.aclose()
