"""Broker reachability checks shared by /readyz and job submission."""

from __future__ import annotations

import asyncio

from kombu import Connection, Exchange, Queue

CRAWL_QUEUE = "forest"  # crawl jobs and the periodic tasks
# Webhook deliveries have their own queue, so a worker can send them while every crawl process is busy.
WEBHOOK_QUEUE = "forest.webhooks"
QUEUES = (CRAWL_QUEUE, WEBHOOK_QUEUE)


def _connect(url: str, timeout: float) -> None:
    with Connection(url, connect_timeout=timeout, transport_options={"max_retries": 0}) as conn:
        conn.ensure_connection(max_retries=1, timeout=max(1, int(timeout)))


async def check_broker(url: str, *, timeout: float = 3.0) -> None:
    """Raise if the broker cannot be reached within `timeout` seconds."""
    if url.startswith(("redis://", "rediss://")):
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            async with asyncio.timeout(timeout):
                await client.ping()
        finally:
            await client.aclose()
        return
    async with asyncio.timeout(timeout + 0.5):
        await asyncio.to_thread(_connect, url, timeout)


def declare_queue(url: str, name: str = CRAWL_QUEUE) -> None:
    """Create the task queue up front: the SQLAlchemy transport races when two processes create it at once."""
    with Connection(url) as conn:
        Queue(name, Exchange(name, "direct"), routing_key=name)(conn.default_channel).declare()
