"""Idempotency-Key of `POST /crawls`: the first request with a key creates the job, repeats get the same job."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from forest.backends import backend_of
from forest.crawls.models import IdempotencyKey
from forest.crawls.schemas import CrawlCreate
from forest.database import utcnow
from forest.errors import Conflict, IdempotencyKeyReused
from forest.users.models import User

IDEMPOTENCY_TTL = dt.timedelta(hours=24)


def request_hash(job_in: CrawlCreate) -> str:
    """A digest of the normalised request body (for Idempotency-Key reuse checks)."""
    body = json.dumps(job_in.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


async def claim(session: AsyncSession, *, user: User, key: str, digest: str) -> IdempotencyKey | None:
    """Claim an Idempotency-Key: None if we own it now, else the existing record (after its first use ends)."""
    for _ in range(60):
        now = utcnow()
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user.id,
                                                           IdempotencyKey.key == key,
                                                           IdempotencyKey.expires_at < now))
        stmt = backend_of(session).insert_ignore(IdempotencyKey, ["user_id", "key"]).values(
            user_id=user.id, key=key, request_hash=digest, created_at=now, expires_at=now + IDEMPOTENCY_TTL,
        )
        result = await session.execute(stmt)
        await session.commit()
        if getattr(result, "rowcount", 0) == 1:
            return None
        existing = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user.id,
                                                                      IdempotencyKey.key == key)
                                        .execution_options(populate_existing=True))
        if existing is None:
            continue  # the first request failed and released the key: try to claim it again
        if existing.request_hash != digest:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body.")
        if existing.job_id is not None:
            return existing
        await asyncio.sleep(0.05)  # the first request with this key is still creating its job
    raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly.")


async def bind(session: AsyncSession, *, user: User, key: str | None, job_id: uuid.UUID) -> None:
    """Record the job a claimed key created (in the transaction that creates the job)."""
    if key is not None:
        await session.execute(update(IdempotencyKey).where(IdempotencyKey.user_id == user.id,
                                                           IdempotencyKey.key == key).values(job_id=job_id))


async def release(session: AsyncSession, *, user: User, key: str | None) -> None:
    """Give up a claimed key that created no job, so a repeat of the request may try again."""
    if key is None:
        return
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == key,
                                                       IdempotencyKey.job_id.is_(None)))
    await session.commit()
