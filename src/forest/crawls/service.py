"""Crawl jobs, read: one job, a user's jobs, a job's events (every change of a job is in `crawls.lifecycle`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from forest.crawls.models import CrawlJob
from forest.errors import NotFound
from forest.events import Event
from forest.users.models import User


def can_see(user: User, job: CrawlJob) -> bool:
    """Whether `user` may see `job`: its owner and admins."""
    return job.user_id == user.id or user.is_admin


async def get_visible(*, session: AsyncSession, user: User, job_id: uuid.UUID) -> CrawlJob:
    """A job its owner (or an admin) may see; NotFound for anyone else."""
    job = await session.get(CrawlJob, job_id)
    if job is None or not can_see(user, job):
        raise NotFound("No such crawl job.")
    return job


def list_query(*, user: User, states: Sequence[str], source_ids: Sequence[int]) -> Select[tuple[CrawlJob]]:
    """The jobs a user may list, with the given filters."""
    stmt = select(CrawlJob)
    if not user.is_admin:
        stmt = stmt.where(CrawlJob.user_id == user.id)
    if states:
        stmt = stmt.where(CrawlJob.state.in_(states))
    if source_ids:
        stmt = stmt.where(CrawlJob.source_id.in_(source_ids))
    return stmt


def events_query(*, job_id: uuid.UUID, after: int) -> Select[tuple[Event]]:
    """A job's events after an id, for polling clients."""
    return select(Event).where(Event.job_id == job_id, Event.id > after)
