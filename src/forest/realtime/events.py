"""Durable user events: written to the database first, then announced to API processes.

Per user, events are committed in id order (a per-user transaction lock on PostgreSQL; SQLite has a
single writer), so a reader that asks for "events after id N" from the database never skips one.
Announcements (Redis pub/sub, or polling in the embedded mode) only wake readers up; the database
stays the source of truth, which is what makes `?after=` replay gap-free.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from forest.crawls.models import JobEvent
from forest.database import utcnow

EVENT_CHANNEL = "forest:events"
EVENT_TYPES = ("job.queued", "job.started", "job.progress", "job.succeeded", "job.failed", "job.cancelled",
               "bid.new", "bid.updated", "heartbeat")
_LOCK_NAMESPACE = 7_000_001


async def lock_user_events(session: AsyncSession, user_ids: Iterable[int]) -> None:
    """Serialise event writers per user until commit, so ids commit in order for each user."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    for user_id in sorted(set(user_ids)):
        await session.execute(text("SELECT pg_advisory_xact_lock(:ns, :uid)"),
                              {"ns": _LOCK_NAMESPACE, "uid": user_id % 2_147_483_647})


def add_event(
    session: AsyncSession, *, user_id: int, type: str, data: dict[str, Any] | None = None,
    job_id: uuid.UUID | None = None, alert_id: int | None = None, seq: int | None = None,
) -> JobEvent:
    """Stage an event in the caller's transaction (call `lock_user_events` first on PostgreSQL)."""
    event = JobEvent(user_id=user_id, type=type, data=data or {}, job_id=job_id, alert_id=alert_id, seq=seq,
                     at=utcnow())
    session.add(event)
    return event


class EventFields(Protocol):
    """What the wire shape is made of: a `JobEvent`, or a row of the `job_event` table."""

    @property
    def id(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def job_id(self) -> uuid.UUID | None: ...
    @property
    def alert_id(self) -> int | None: ...
    @property
    def seq(self) -> int | None: ...
    @property
    def data(self) -> dict[str, Any] | None: ...
    @property
    def at(self) -> dt.datetime: ...


def serialise(event: EventFields) -> dict[str, Any]:
    """The wire shape of an event (API.md, WebSocket server messages)."""
    data = dict(event.data or {})
    if event.seq is not None:
        data.setdefault("seq", event.seq)
    return {
        "id": event.id,
        "type": event.type,
        "job_id": str(event.job_id) if event.job_id else None,
        "alert_id": event.alert_id,
        "data": data,
        "at": _rfc3339(event.at),
    }


def wire_text(event: EventFields) -> str:
    """The WebSocket text message of an event: its wire shape as compact JSON (as `send_json` writes it)."""
    return json.dumps(serialise(event), separators=(",", ":"), ensure_ascii=False)


def heartbeat() -> dict[str, Any]:
    """A heartbeat message (never stored)."""
    return {"id": None, "type": "heartbeat", "job_id": None, "alert_id": None, "data": {}, "at": _rfc3339(utcnow())}


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def events_after(session: AsyncSession, *, user_id: int, after: int, limit: int = 500) -> Sequence[JobEvent]:
    """A user's events with id greater than `after`, oldest first."""
    stmt = (select(JobEvent).where(JobEvent.user_id == user_id, JobEvent.id > after)
            .order_by(JobEvent.id).limit(limit))
    return (await session.scalars(stmt)).all()


async def max_event_id(session: AsyncSession, *, user_id: int | None = None) -> int:
    """The newest event id, of one user or of all (0 when there is none)."""
    stmt = select(func.coalesce(func.max(JobEvent.id), 0))
    if user_id is not None:
        stmt = stmt.where(JobEvent.user_id == user_id)
    return int(await session.scalar(stmt) or 0)


async def newest_event_per_user(session: AsyncSession, *, after: int) -> dict[int, int]:
    """Each user's newest event id among the events with id greater than `after` (for the table poller)."""
    rows = (await session.execute(
        select(JobEvent.user_id, func.max(JobEvent.id)).where(JobEvent.id > after).group_by(JobEvent.user_id)
    )).all()
    return {int(user_id): int(newest) for user_id, newest in rows}


class Publisher:
    """Announces committed events to every API process (Redis pub/sub); a no-op without Redis."""

    def __init__(self, redis_url: str | None) -> None:
        self._url = redis_url
        self._client: Any = None

    async def publish(self, events: Sequence[JobEvent]) -> None:
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
