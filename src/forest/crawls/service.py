"""Crawl jobs, API side: submit, read, cancel, retry. PostgreSQL holds each job's truth."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from forest import quotas
from forest.config import Settings
from forest.crawler.egress import EgressPolicy
from forest.crawler.egress import UrlNotAllowed as EgressRefused
from forest.crawls.models import FINAL_STATES, CrawlJob, IdempotencyKey, JobEvent
from forest.crawls.schemas import CrawlCreate, CrawlJobRead, CrawlListQuery, JobEventRead, Progress, progress_of
from forest.database import Database, utcnow
from forest.errors import Conflict, IdempotencyKeyReused, NotFound, RateLimited, ServiceUnavailable, UrlNotAllowed
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
from forest.realtime import events
from forest.sources import service as sources
from forest.users.models import User

ACTIVE_STATES = ("queued", "running")
QUOTA_RETRY_AFTER_SECONDS = 30
IDEMPOTENCY_TTL = dt.timedelta(hours=24)
_SOURCE_LOCK_NAMESPACE = 7_000_002
Enqueue = Callable[[uuid.UUID], Awaitable[str]]
Publish = Callable[[Sequence[JobEvent]], Awaitable[None]]


def request_hash(job_in: CrawlCreate) -> str:
    """A digest of the normalised request body (for Idempotency-Key reuse checks)."""
    body = json.dumps(job_in.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _can_see(user: User, job: CrawlJob) -> bool:
    return job.user_id == user.id or user.is_admin


async def get_visible(*, session: AsyncSession, user: User, job_id: uuid.UUID) -> CrawlJob:
    """A job its owner (or an admin) may see; NotFound for anyone else."""
    job = await session.get(CrawlJob, job_id)
    if job is None or not _can_see(user, job):
        raise NotFound("No such crawl job.")
    return job


JOB_KEYSET = Keyset(endpoint=f"{API_PREFIX}/crawls", id_column=CrawlJob.id, id_kind="uuid",
                    sorts={"created_at": SortKey(CrawlJob.created_at, "datetime")}, default="-created_at")
EVENT_KEYSET = Keyset(endpoint=f"{API_PREFIX}/crawls/{{job_id}}/events", id_column=JobEvent.id, id_kind="int",
                      sorts={"id": SortKey(JobEvent.id, "int")}, default="id")
_PROGRESS = tuple(Progress.model_fields)


def _list_select(admin: bool, states: bool, source_ids: bool) -> Select[Any]:
    stmt = select(*columns_of(CrawlJob, CrawlJobRead, *_PROGRESS))
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


def _job_item(row: Mapping[str, Any]) -> dict[str, Any]:
    item = {name: row[name] for name in CrawlJobRead.model_fields if name != "progress"}
    item["progress"] = {name: row[name] for name in _PROGRESS}
    return item


async def list_jobs(*, db: Database, user: User, query: CrawlListQuery, signer: CursorSigner,
                    count_timeout_ms: int = 250) -> PageResult[Any]:
    """One keyset page of the user's jobs (all jobs for admins), newest first, as `CrawlJobRead` items."""
    result = await paginate(db, list_query(user=user, states=query.state, source_ids=query.source_id),
                            keyset=JOB_KEYSET, params=query.page_params(), signer=signer,
                            filters={"state": query.state, "source_id": query.source_id, "user": user.id},
                            count_timeout_ms=count_timeout_ms)
    result.items = [_job_item(row) for row in result.items]
    return result


def _insert(session: AsyncSession) -> Any:
    assert session.bind is not None
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def _claim_key(session: AsyncSession, *, user: User, key: str, digest: str) -> IdempotencyKey | None:
    """Claim an Idempotency-Key: None if we own it now, else the existing record (after its first use ends)."""
    for _ in range(60):
        now = utcnow()
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user.id,
                                                           IdempotencyKey.key == key,
                                                           IdempotencyKey.expires_at < now))
        stmt = _insert(session)(IdempotencyKey).values(
            user_id=user.id, key=key, request_hash=digest, created_at=now, expires_at=now + IDEMPOTENCY_TTL,
        ).on_conflict_do_nothing(index_elements=["user_id", "key"])
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


async def submit(
    *, session: AsyncSession, settings: Settings, user: User, job_in: CrawlCreate, idempotency_key: str | None,
    enqueue: Enqueue, publish: Publish, retry_of: uuid.UUID | None = None,
) -> CrawlJob:
    """Accept a crawl: write the job, commit, then enqueue it. Returns the (possibly existing) job."""
    digest = request_hash(job_in)
    if idempotency_key is not None:
        existing = await _claim_key(session, user=user, key=idempotency_key, digest=digest)
        if existing is not None:
            job = await session.get(CrawlJob, existing.job_id)
            if job is None or not _can_see(user, job):
                raise NotFound("The job created for this Idempotency-Key no longer exists.")
            return job
    try:
        job, created = await _create_job(session, settings=settings, user=user, job_in=job_in, retry_of=retry_of)
        if idempotency_key is not None:
            await session.execute(update(IdempotencyKey)
                                  .where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == idempotency_key)
                                  .values(job_id=job.id))
        queued_events = []
        if created:
            await events.lock_user_events(session, [user.id])
            queued_events.append(events.add_event(session, user_id=user.id, type="job.queued", job_id=job.id, seq=1,
                                                  data={"state": "queued", "progress": progress_of(job)}))
        await session.commit()
    except BaseException:
        await session.rollback()
        await _release_key(session, user, idempotency_key)
        raise
    if not created:
        return job
    try:
        task_id = await enqueue(job.id)
    except Exception as exc:
        # The broker is down: take the job back so nothing is left half-created.
        await session.execute(delete(CrawlJob).where(CrawlJob.id == job.id))
        await session.commit()
        await _release_key(session, user, idempotency_key)
        raise ServiceUnavailable("The job queue is unreachable; nothing was created. Try again shortly.") from exc
    if task_id != job.task_id:  # an enqueue that names its own task ids (schedules, tests)
        job.task_id = task_id
        await session.commit()
    await publish(queued_events)
    return job


async def _release_key(session: AsyncSession, user: User, key: str | None) -> None:
    if key is None:
        return
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == key,
                                                       IdempotencyKey.job_id.is_(None)))
    await session.commit()


async def _create_job(session: AsyncSession, *, settings: Settings, user: User,
                      job_in: CrawlCreate, retry_of: uuid.UUID | None) -> tuple[CrawlJob, bool]:
    if job_in.source_id is not None:
        source = await sources.get_or_raise(session=session, source_id=job_in.source_id, user=user)
        sources.check_crawlable(user, source)
        url = source.start_url
        max_pages = job_in.max_pages or source.max_pages
        if not user.is_admin:  # a source's own limit binds everyone but admins
            max_pages = min(max_pages, source.max_pages)
    else:
        assert job_in.url is not None
        url = job_in.url
        try:
            await EgressPolicy(settings.crawl_allow_hosts).check_url(url)
        except EgressRefused as exc:
            raise UrlNotAllowed(f"This URL may not be crawled: {exc.reason}.") from exc
        max_pages = min(job_in.max_pages or 10, settings.crawl_max_pages_limit)
        source = await sources.for_url(session=session, url=url, max_pages=max_pages,
                                       owner_id=sources.adhoc_owner(user))
        sources.check_crawlable(user, source)
    max_pages = min(max_pages, settings.crawl_max_pages_limit)
    assert session.bind is not None
    if session.bind.dialect.name == "postgresql":
        # One active crawl per source: concurrent submissions for a source queue up on this lock.
        await session.execute(text("SELECT pg_advisory_xact_lock(:ns, :sid)"),
                              {"ns": _SOURCE_LOCK_NAMESPACE, "sid": source.id % 2_147_483_647})
    active = await session.scalar(select(CrawlJob).where(CrawlJob.source_id == source.id,
                                                         CrawlJob.state.in_(ACTIVE_STATES))
                                  .order_by(CrawlJob.created_at).limit(1))
    if active is not None:
        if not _can_see(user, active):
            # Another user's job on a shared source: never hand it (its URL, progress, id) to this user.
            raise Conflict(f"Source {source.id} is being crawled by another user's job; its notices appear in "
                           "the bid list as it runs. Try again after it ends.")
        return active, False
    # Created with its `job.queued` event (seq 1), and named by the task id of its first delivery (the job
    # id): nothing is left to write after the send, so no connection is held or taken again while the
    # broker is busy.
    job_id = uuid.uuid4()
    job = CrawlJob(id=job_id, task_id=str(job_id), user_id=user.id, source_id=source.id, url=url, max_pages=max_pages,
                   state="queued", attempt=0, created_at=utcnow(), pages_done=0, items_seen=0, items_new=0,
                   items_updated=0, errors=0, cancel_requested=False, last_seq=1, retry_of=retry_of)
    if not user.is_admin:
        await quotas.lock_user(session, user.id)
    session.add(job)
    await session.flush()
    if not user.is_admin:
        # Jobs end, so capacity comes back: 429 with a Retry-After, as for the other submission limits.
        limit = settings.quota_active_crawls
        await quotas.enforce(
            session, counted=select(CrawlJob.id).where(CrawlJob.user_id == user.id, CrawlJob.state.in_(ACTIVE_STATES)),
            limit=limit, error=RateLimited(
                f"You already have {limit} crawls queued or running, the most one account may have at once; "
                "wait for one to finish or cancel one.", headers={"Retry-After": str(QUOTA_RETRY_AFTER_SECONDS)}))
    return job, True


async def finish(session: AsyncSession, job: CrawlJob, state: str, *, error: str | None = None) -> JobEvent:
    """Move a job to a final state and stage its final event (caller commits and publishes).

    Lock order for every change of a job with its events: the owner's event lock (`lock_user_events`), then
    the job's row. Callers that write the row before calling this take the event lock first themselves.
    """
    await events.lock_user_events(session, [job.user_id])
    job.state = state
    job.error = error
    job.finished_at = utcnow()
    job.last_seq += 1
    return events.add_event(session, user_id=job.user_id, type=f"job.{state}", job_id=job.id, seq=job.last_seq,
                            data={"state": state, "progress": progress_of(job), "error": error})


async def cancel(*, session: AsyncSession, user: User, job_id: uuid.UUID, publish: Publish,
                 revoke: Callable[[str], Awaitable[None]]) -> CrawlJob:
    """Ask a job to stop: a queued job ends at once; a running one stops before its next page."""
    job = await get_visible(session=session, user=user, job_id=job_id)
    if job.state in FINAL_STATES:
        return job
    # A worker may be claiming the job at this very moment. Like every writer of a job and its events, take
    # the owner's event lock first and the job's row second (the other order deadlocked against a claim: a
    # 500), and decide on the state as it is under that lock, not as it was read above. The flag is written
    # first so that on SQLite the transaction holds the write lock before the state is read again.
    await events.lock_user_events(session, [job.user_id])
    await session.execute(update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.state.in_(ACTIVE_STATES))
                          .values(cancel_requested=True).execution_options(synchronize_session=False))
    await session.refresh(job)
    final = None
    if job.state == "queued":
        final = await finish(session, job, "cancelled")
    await session.commit()
    if final is not None:
        await publish([final])
    if job.task_id:
        await revoke(job.task_id)
    return job


async def retry(*, session: AsyncSession, settings: Settings, user: User, job_id: uuid.UUID, enqueue: Enqueue,
                publish: Publish) -> CrawlJob:
    """Start a new job doing what a finished one did, linked to it by `retry_of`."""
    old = await get_visible(session=session, user=user, job_id=job_id)
    if old.state not in FINAL_STATES:
        raise Conflict("Only a finished job can be retried; this one is still " + old.state + ".")
    job_in = CrawlCreate(source_id=old.source_id, max_pages=old.max_pages) if old.source_id else \
        CrawlCreate(url=old.url, max_pages=old.max_pages)
    return await submit(session=session, settings=settings, user=user, job_in=job_in, idempotency_key=None,
                        enqueue=enqueue, publish=publish, retry_of=old.id)


def _events_select() -> Select[Any]:
    return select(*columns_of(JobEvent, JobEventRead)).where(
        JobEvent.job_id == bindparam("job_id", type_=JobEvent.job_id.type), JobEvent.id > bindparam("after"))


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
