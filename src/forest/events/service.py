"""Writing and reading events: the only code touching the `job_event` table.

Writers `stage` events in their transaction and end it with `commit`, which announces what was staged once
the transaction committed: the one way events are published, so no caller announces anything by hand and
nothing is announced that did not commit. Per user, events commit in id order (a per-user transaction lock
on PostgreSQL; SQLite has a single writer), so a reader that asks for "events after id N" never skips one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from forest.backends import backend_of
from forest.database import utcnow
from forest.events.models import Event
from forest.events.publisher import Announcer

_LOCK_NAMESPACE = 7_000_001
_STAGED = "forest.events.staged"  # session.info: the events added since the last `commit`
_LOCKED = "forest.events.locked"  # session.info: the users whose event lock this transaction holds


@orm_event.listens_for(Session, "after_commit")
def _locks_released(session: Session) -> None:
    session.info.pop(_LOCKED, None)


@orm_event.listens_for(Session, "after_rollback")
def _nothing_staged(session: Session) -> None:
    session.info.pop(_LOCKED, None)
    session.info.pop(_STAGED, None)


async def lock_users(session: AsyncSession, user_ids: Iterable[int]) -> None:
    """Take the event lock of each user until the transaction ends, in id order (so writers never deadlock).

    Lock order for every change that writes events: these locks first, then the rows the change writes
    (a job's, say). A transaction that stages events for several users locks them all here first.
    """
    locked: set[int] = session.info.setdefault(_LOCKED, set())
    backend = backend_of(session)
    for user_id in sorted(set(user_ids) - locked):
        await backend.lock(session, _LOCK_NAMESPACE, user_id)
        locked.add(user_id)


async def stage(
    session: AsyncSession, *, user_id: int, type: str, data: dict[str, Any] | None = None,
    job_id: uuid.UUID | None = None, alert_id: int | None = None, seq: int | None = None,
) -> Event:
    """Add an event to the session's transaction (under its user's event lock); `commit` announces it."""
    await lock_users(session, [user_id])
    event = Event(user_id=user_id, type=type, data=data or {}, job_id=job_id, alert_id=alert_id, seq=seq,
                  at=utcnow())
    session.add(event)
    session.info.setdefault(_STAGED, []).append(event)
    return event


async def commit(session: AsyncSession, announcer: Announcer) -> list[Event]:
    """Commit the session's transaction, then announce the events staged in it; returns them."""
    staged: list[Event] = session.info.pop(_STAGED, [])
    await session.commit()
    await announcer.publish(staged)
    return staged


@asynccontextmanager
async def unit(sessionmaker: async_sessionmaker[AsyncSession], announcer: Announcer) -> AsyncIterator[AsyncSession]:
    """A session whose work commits at the end of the block (then its events are announced), or rolls back
    when the block raises."""
    async with sessionmaker() as session:
        yield session
        await commit(session, announcer)


async def events_after(session: AsyncSession, *, user_id: int, after: int, limit: int = 500) -> Sequence[Event]:
    """A user's events with id greater than `after`, oldest first."""
    stmt = (select(Event).where(Event.user_id == user_id, Event.id > after)
            .order_by(Event.id).limit(limit))
    return (await session.scalars(stmt)).all()


async def max_event_id(session: AsyncSession, *, user_id: int | None = None) -> int:
    """The newest event id, of one user or of all (0 when there is none)."""
    stmt = select(func.coalesce(func.max(Event.id), 0))
    if user_id is not None:
        stmt = stmt.where(Event.user_id == user_id)
    return int(await session.scalar(stmt) or 0)


async def newest_event_per_user(session: AsyncSession, *, after: int) -> dict[int, int]:
    """Each user's newest event id among the events with id greater than `after` (for the table poller)."""
    rows = (await session.execute(
        select(Event.user_id, func.max(Event.id)).where(Event.id > after).group_by(Event.user_id)
    )).all()
    return {int(user_id): int(newest) for user_id, newest in rows}
