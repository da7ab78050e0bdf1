"""Rate limits on logins, registrations and crawl submissions, counted where every API process sees them.

The counting is the `limits` library's moving window (exact: the last N attempts' times, N being the limit;
a sliding-window counter lets a burst through across a window boundary): in Redis when `FOREST_REDIS_URL` is set (one
budget shared by all API processes), in process memory otherwise (the embedded default runs one process).
A refusal is `RateLimited` (429 `rate_limited`) with `Retry-After`, raised before any costly work.

Two things keep a flood of refused requests cheap. A refusal is remembered in the process until its
`Retry-After` has passed (counters only grow, so no other process can lift it sooner): a client that keeps
knocking costs no Redis round trip. And each refusal is answered after `FOREST_RATE_LIMIT_REFUSAL_DELAY_SECONDS`:
a client looping on one connection then sends one request per delay instead of thousands per second, so
the flood stops costing CPU on both sides (the delay holds a connection, not a thread or a database session).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time

import redis.asyncio as aioredis
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from starlette.requests import HTTPConnection

from forest.config import Settings
from forest.errors import RateLimited

log = logging.getLogger(__name__)
KEY_PREFIX = "forest:ratelimit"
# A rate limit check must never hold a request long: a Redis that does not answer fails open (see `_hit`).
REDIS_TIMEOUT_SECONDS = 0.5
# Refusals remembered per process; beyond this many the expired ones are dropped (then all, if none expired).
MAX_REMEMBERED_REFUSALS = 100_000


def _items(spec: str) -> list[RateLimitItem]:
    return parse_many(spec) if spec else []


def client_address(conn: HTTPConnection) -> str:
    """The client's IP address as the server reports it (behind a trusted proxy: the forwarded one)."""
    return conn.client.host if conn.client else "unknown"


def account_key(email: str) -> str:
    """The counter key of an account: a digest of its normalised email (no address is stored in Redis)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class RateLimits:
    """The API process's rate limiter, built once per app from its settings."""

    def __init__(self, settings: Settings) -> None:
        self._pool: aioredis.ConnectionPool | None = None
        if settings.redis_url:
            self._pool = aioredis.ConnectionPool.from_url(
                settings.redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
            storage: RedisStorage | MemoryStorage = RedisStorage(
                f"async+{settings.redis_url}", implementation="redispy", key_prefix=KEY_PREFIX,
                wrap_exceptions=True, connection_pool=self._pool)  # type: ignore[arg-type]
        else:
            storage = MemoryStorage(wrap_exceptions=True)
        self.shared = self._pool is not None
        self._limiter = MovingWindowRateLimiter(storage)
        self.auth_per_ip = _items(settings.rate_limit_auth_per_ip)
        self.auth_per_account = _items(settings.rate_limit_auth_per_account)
        self.crawls_per_user = _items(settings.rate_limit_crawls_per_user)
        self.refusal_delay = settings.rate_limit_refusal_delay_seconds
        self._refused_until: dict[tuple[str, str, str], float] = {}

    async def close(self) -> None:
        """Release the Redis connections (if any)."""
        if self._pool is not None:
            await self._pool.aclose()

    async def check_auth(self, conn: HTTPConnection, email: str) -> None:
        """Count a login or registration attempt for the client's address, then for the account."""
        await self._hit(self.auth_per_ip, "auth-ip", client_address(conn),
                        what="sign-in attempts from this address")
        await self._hit(self.auth_per_account, "auth-account", account_key(email),
                        what="sign-in attempts for this account")

    async def check_crawl_submission(self, user_id: int) -> None:
        """Count a crawl submission (a new crawl, a seed-compatible start or a retry) of this user."""
        await self._hit(self.crawls_per_user, "crawls-user", str(user_id), what="crawl submissions")

    async def _hit(self, items: list[RateLimitItem], scope: str, key: str, *, what: str) -> None:
        for item in items:
            remembered = (scope, key, str(item))
            until = self._refused_until.get(remembered, 0.0)
            if until <= time.time():
                try:
                    if await self._limiter.hit(item, scope, key):
                        continue
                    stats = await self._limiter.get_window_stats(item, scope, key)
                except StorageError as exc:
                    # Refusing every login while Redis is down would turn its outage into Forest's; the
                    # argon2 pool still bounds what a flood can cost meanwhile.
                    log.warning("rate limit storage unavailable, not counting %s: %s", scope, exc)
                    return
                until = max(stats.reset_time, time.time() + 1)
                self._remember(remembered, until)
            await self._refuse(item, until, what)

    def _remember(self, remembered: tuple[str, str, str], until: float) -> None:
        if len(self._refused_until) >= MAX_REMEMBERED_REFUSALS:
            now = time.time()
            self._refused_until = {k: v for k, v in self._refused_until.items() if v > now}
            if len(self._refused_until) >= MAX_REMEMBERED_REFUSALS:
                self._refused_until.clear()
        self._refused_until[remembered] = until

    async def _refuse(self, item: RateLimitItem, until: float, what: str) -> None:
        if self.refusal_delay:
            await asyncio.sleep(self.refusal_delay)
        retry_after = max(1, math.ceil(until - time.time()))
        raise RateLimited(f"Too many {what} (limit {item.amount} per {_period(item)}); "
                          f"try again in {retry_after} s.", headers={"Retry-After": str(retry_after)})


def _period(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"
