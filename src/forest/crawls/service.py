"""Crawl jobs, read: one job, a user's jobs, a job's events (every change of a job is in `crawls.lifecycle`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from forest.crawls.models import CrawlJob
from forest.crawls.schemas import PROGRESS_FIELDS, CrawlJobRead, CrawlListQuery, JobEventRead
from forest.database import Database
from forest.errors import NotFound
from forest.events import Event
from forest.pagination import (
    API_PREFIX,
    CursorSigner,
    Keyset,
    ListSelect,
    PageParams,
    PageResult,
    SortKey,
    columns_of,
    paginate,
)
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


JOB_KEYSET = Keyset(endpoint=f"{API_PREFIX}/crawls", id_column=CrawlJob.id, id_kind="uuid",
                    sorts={"created_at": SortKey(CrawlJob.created_at, "datetime")}, default="-created_at")
EVENT_KEYSET = Keyset(endpoint=f"{API_PREFIX}/crawls/{{job_id}}/events", id_column=Event.id, id_kind="int",
                      sorts={"id": SortKey(Event.id, "int")}, default="id")


def _list_select(admin: bool, states: bool, source_ids: bool) -> Select[Any]:
    stmt = select(*columns_of(CrawlJob, CrawlJobRead, *PROGRESS_FIELDS))
    if not admin:
        stmt = stmt.where(CrawlJob.user_id == bindparam("viewer", type_=BigInteger))
    if states:
        stmt = stmt.where(CrawlJob.state.in_(bindparam("states", expanding=True)))
    if source_ids:
        stmt = stmt.where(CrawlJob.source_id.in_(bindparam("source_ids", expanding=True)))
    return stmt


def list_query(*, user: User, states: Sequence[str], source_ids: Sequence[int]) -> ListSelect:
    """The jobs a user may list, with the given filters: the columns `CrawlJobRead` shows."""
    values: dict[str, Any] = {"viewer": user.id, "states": list(states), "source_ids": list(source_ids)}
    return ListSelect(_list_select, (user.is_admin, bool(states), bool(source_ids)), values)


async def list_jobs(*, db: Database, user: User, query: CrawlListQuery, signer: CursorSigner,
                    count_timeout_ms: int = 250) -> PageResult[Any]:
    """One keyset page of the user's jobs (all jobs for admins), newest first: rows `CrawlJobRead.json_item` writes."""
    return await paginate(db, list_query(user=user, states=query.state, source_ids=query.source_id),
                          keyset=JOB_KEYSET, params=query.page_params(), signer=signer,
                          filters={"state": query.state, "source_id": query.source_id, "user": user.id},
                          count_timeout_ms=count_timeout_ms)


def _events_select() -> Select[Any]:
    return select(*columns_of(Event, JobEventRead)).where(
        Event.job_id == bindparam("job_id", type_=Event.job_id.type), Event.id > bindparam("after"))


def events_query(*, job_id: uuid.UUID, after: int) -> ListSelect:
    """A job's events after an id, for polling clients: the columns `JobEventRead` shows."""
    return ListSelect(_events_select, values={"job_id": job_id, "after": after})


async def list_events(*, db: Database, user: User, job_id: uuid.UUID, after: int, params: PageParams,
                      signer: CursorSigner) -> PageResult[Any]:
    """One keyset page of the events of a job the user may see (NotFound otherwise), oldest first."""
    async with db.sessionmaker() as session:
        await get_visible(session=session, user=user, job_id=job_id)
    return await paginate(db, events_query(job_id=job_id, after=after), keyset=EVENT_KEYSET,
                          params=params, signer=signer, filters={"job": str(job_id), "after": after})
