"""Announcing committed events to every API process (Redis pub/sub): wake-ups only, the database keeps the events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from forest.events.models import Event

EVENT_CHANNEL = "forest:events"


class Announcer(Protocol):
    """What `events.commit` announces committed events through (a `Publisher`, or a test's recorder)."""

    async def publish(self, events: Sequence[Event]) -> None:
        """Announce events whose transaction committed."""
        ...


class Publisher:
    """Announces committed events to every API process (Redis pub/sub); a no-op without Redis."""

    def __init__(self, redis_url: str | None) -> None:
        self._url = redis_url
        self._client: Any = None

    async def publish(self, events: Sequence[Event]) -> None:
        """Announce events after their transaction committed; losing one only delays it."""
        if not self._url or not events:
            return
        import redis.asyncio as aioredis

        if self._client is None:
            self._client = aioredis.Redis.from_url(self._url, socket_connect_timeout=2, socket_timeout=2)
        try:
            # One message per batch, naming each user once (a broadcast announces an event per user at once).
            user_ids = sorted({event.user_id for event in events})
            await self._client.publish(EVENT_CHANNEL, json.dumps({"user_ids": user_ids,
                                                                  "id": max(event.id for event in events)}))
        except Exception:  # at-most-once by design: readers catch up from the database
            await self.close()

    async def close(self) -> None:
        """Close the Redis connection."""
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.aclose()
            except Exception:  # closing a broken connection may fail; nothing to do about it
                return


class Held:
    """An announcer that keeps what it is given until `release`: for a change whose events must wait for a step
    after its commit (a new job is announced once its first delivery is queued)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        """Keep the events."""
        self.events.extend(events)

    async def release(self, announcer: Announcer) -> None:
        """Announce the kept events through `announcer`."""
        events, self.events = self.events, []
        await announcer.publish(events)
