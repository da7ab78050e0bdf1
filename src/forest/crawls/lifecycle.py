"""A crawl job's life: every change of a job's state, each with the event that tells its owner.

    submit ──▶ queued ──claim──▶ running ──finish──▶ succeeded | failed | cancelled
                 ▲                  │ progress, beat
                 └─── requeue, reap ┘      (cancel: a queued job ends at once, a running one at its next check)

The API submits, cancels and retries; the runner (a worker's delivery, or `forest crawl` in-process)
claims, reports progress and finishes; the reaper re-sends lost deliveries. Each change is one transaction
that takes the owner's event lock first and the job's row second (the order every writer keeps: the
other order deadlocked a cancel against a claim), stages its event with `events.stage` and ends with
`events.commit`, which announces the event once it committed. A worker's writes are guarded by the attempt
it claimed, so an older delivery of the same job (a worker presumed dead that wakes up) can never
overwrite what a newer attempt wrote.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from forest import events, quotas
from forest.backends import backend_of
from forest.bids.models import Bid
from forest.config import Settings
from forest.crawler.engine import CrawlProgress
from forest.crawls import idempotency
from forest.crawls.models import FINAL_STATES, CrawlJob
from forest.crawls.schemas import CrawlCreate, progress_of
from forest.crawls.service import can_see, get_visible
from forest.database import utcnow
from forest.errors import Conflict, NotFound, RateLimited, ServiceUnavailable
from forest.events import Announcer
from forest.sources import service as sources
from forest.users.models import User

log = logging.getLogger(__name__)
ACTIVE_STATES = ("queued", "running")
QUOTA_RETRY_AFTER_SECONDS = 30
REAP_BATCH = 500
_SOURCE_LOCK_NAMESPACE = 7_000_002


class JobQueue(Protocol):
    """Where deliveries of jobs go: the workers' queue (`forest.worker.dispatch.Dispatcher`), or a test's list."""

    async def send(self, job_id: uuid.UUID, task_id: str) -> None:
        """Queue one delivery of a job under this task id; raise if the queue did not take it."""
        ...

    async def revoke(self, task_id: str) -> None:
        """Best effort: tell workers to skip a queued delivery (the job's cancel flag is what counts)."""
        ...


async def _event(session: AsyncSession, job: CrawlJob, type_: str, data: dict[str, object]) -> None:
    """The job's next event, numbered by its `last_seq` (the owner's event lock is taken first)."""
    await events.lock_users(session, [job.user_id])
    job.last_seq += 1
    await events.stage(session, user_id=job.user_id, type=type_, job_id=job.id, seq=job.last_seq,
                       data={**data, "progress": progress_of(job)})


async def _end(session: AsyncSession, job: CrawlJob, state: str, *, error: str | None = None) -> None:
    """Move a job to a final state with its final event (the caller commits)."""
    await events.lock_users(session, [job.user_id])
    job.state = state
    job.error = error
    job.finished_at = utcnow()
    await _event(session, job, f"job.{state}", {"state": state, "error": error})


# -- the API side: submit, cancel, retry ----------------------------------------------------------------------


async def submit(
    *, session: AsyncSession, settings: Settings, user: User, job_in: CrawlCreate, idempotency_key: str | None,
    queue: JobQueue, announcer: Announcer, retry_of: uuid.UUID | None = None,
) -> CrawlJob:
    """Accept a crawl: write the job with its `job.queued` event, commit, then queue its first delivery.
    Returns the job, or the source's job already queued or running (or the job of a repeated key)."""
    digest = idempotency.request_hash(job_in)
    if idempotency_key is not None:
        existing = await idempotency.claim(session, user=user, key=idempotency_key, digest=digest)
        if existing is not None:
            job = await session.get(CrawlJob, existing.job_id)
            if job is None or not can_see(user, job):
                raise NotFound("The job created for this Idempotency-Key no longer exists.")
            return job
    try:
        job, created = await _create_job(session, settings=settings, user=user, job_in=job_in, retry_of=retry_of)
        await idempotency.bind(session, user=user, key=idempotency_key, job_id=job.id)
        held = events.Held()  # a new job is announced only once its first delivery is queued
        await events.commit(session, held)
    except BaseException:
        await session.rollback()
        await idempotency.release(session, user=user, key=idempotency_key)
        raise
    if not created:
        return job
    assert job.task_id is not None
    try:
        await queue.send(job.id, job.task_id)
    except Exception as exc:
        # The broker is down: take the job back so nothing is left half-created.
        await session.execute(delete(CrawlJob).where(CrawlJob.id == job.id))
        await session.commit()
        await idempotency.release(session, user=user, key=idempotency_key)
        raise ServiceUnavailable("The job queue is unreachable; nothing was created. Try again shortly.") from exc
    await held.release(announcer)
    return job


async def _create_job(session: AsyncSession, *, settings: Settings, user: User,
                      job_in: CrawlCreate, retry_of: uuid.UUID | None) -> tuple[CrawlJob, bool]:
    source, url, max_pages = await sources.crawl_target(session=session, settings=settings, user=user,
                                                        source_id=job_in.source_id, url=job_in.url,
                                                        max_pages=job_in.max_pages)
    # One active crawl per source: concurrent submissions for a source queue up on this lock.
    await backend_of(session).lock(session, _SOURCE_LOCK_NAMESPACE, source.id)
    active = await session.scalar(select(CrawlJob).where(CrawlJob.source_id == source.id,
                                                         CrawlJob.state.in_(ACTIVE_STATES))
                                  .order_by(CrawlJob.created_at).limit(1))
    if active is not None:
        if not can_see(user, active):
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
    await events.stage(session, user_id=user.id, type="job.queued", job_id=job.id, seq=1,
                       data={"state": "queued", "progress": progress_of(job)})
    return job, True


async def cancel(*, session: AsyncSession, user: User, job_id: uuid.UUID, queue: JobQueue,
                 announcer: Announcer) -> CrawlJob:
    """Ask a job to stop: a queued job ends at once; a running one stops before its next page."""
    job = await get_visible(session=session, user=user, job_id=job_id)
    if job.state in FINAL_STATES:
        return job
    # A worker may be claiming the job at this very moment: decide on the state as it is under the owner's
    # event lock, not as it was read above. The flag is written first so that on SQLite the transaction
    # holds the write lock before the state is read again.
    await events.lock_users(session, [job.user_id])
    await session.execute(update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.state.in_(ACTIVE_STATES))
                          .values(cancel_requested=True).execution_options(synchronize_session=False))
    await session.refresh(job)
    if job.state == "queued":
        await _end(session, job, "cancelled")
    await events.commit(session, announcer)
    if job.task_id:
        await queue.revoke(job.task_id)
    return job


async def retry(*, session: AsyncSession, settings: Settings, user: User, job_id: uuid.UUID, queue: JobQueue,
                announcer: Announcer) -> CrawlJob:
    """Start a new job doing what a finished one did, linked to it by `retry_of`."""
    old = await get_visible(session=session, user=user, job_id=job_id)
    if old.state not in FINAL_STATES:
        raise Conflict("Only a finished job can be retried; this one is still " + old.state + ".")
    job_in = CrawlCreate(source_id=old.source_id, max_pages=old.max_pages) if old.source_id else \
        CrawlCreate(url=old.url, max_pages=old.max_pages)
    return await submit(session=session, settings=settings, user=user, job_in=job_in, idempotency_key=None,
                        queue=queue, announcer=announcer, retry_of=old.id)


# -- the runner's side: claim, progress, beat, finish, requeue ---------------------------------------------------


async def claim(session: AsyncSession, *, settings: Settings, job_id: uuid.UUID,
                announcer: Announcer) -> CrawlJob | None:
    """Take the next attempt of the job; None if there is nothing (more) to do."""
    job = await session.get(CrawlJob, job_id)
    if job is None or job.state in FINAL_STATES:
        return None
    if job.cancel_requested or job.attempt >= settings.crawl_max_attempts:
        error = None if job.cancel_requested else \
            f"gave up after {job.attempt} attempts: the worker was lost each time"
        await _end(session, job, "cancelled" if job.cancel_requested else "failed", error=error)
        await events.commit(session, announcer)
        return None
    now = utcnow()
    alive_after = now - dt.timedelta(seconds=settings.job_heartbeat_timeout_seconds)
    if job.state == "running" and job.heartbeat_at is not None and job.heartbeat_at > alive_after:
        return None  # a duplicate delivery while a live attempt runs: leave it alone
    seen = job.attempt
    await events.lock_users(session, [job.user_id])
    result = await session.execute(
        update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.attempt == seen, CrawlJob.state.in_(ACTIVE_STATES))
        .values(attempt=seen + 1, state="running", heartbeat_at=now, error=None, started_at=job.started_at or now)
        .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        await session.rollback()
        return None  # another delivery claimed it first
    await session.refresh(job)
    await _event(session, job, "job.started", {"state": "running", "attempt": job.attempt})
    await events.commit(session, announcer)
    return job


async def current(session: AsyncSession, *, job_id: uuid.UUID, attempt: int) -> CrawlJob | None:
    """The job while `attempt` is its running attempt; None once a newer attempt (or an end) superseded it."""
    job = await session.scalar(select(CrawlJob).where(CrawlJob.id == job_id)
                               .execution_options(populate_existing=True))
    if job is None or job.attempt != attempt or job.state != "running":
        return None
    return job


async def progress(session: AsyncSession, *, job_id: uuid.UUID, attempt: int, counters: CrawlProgress,
                   announcer: Announcer, user_id: int | None = None) -> bool:
    """Store an attempt's counters with a `job.progress` event; False when the attempt was superseded.

    With the job's owner (`user_id`, known since the claim) the row is written by one statement guarded by the
    attempt, which also numbers the event, instead of a read of the job and then its write.
    """
    if user_id is None:
        job = await current(session, job_id=job_id, attempt=attempt)
        if job is None:
            return False
        user_id = job.user_id
    await events.lock_users(session, [user_id])  # before the row's write
    counts = {"pages_done": counters.pages_done, "pages_total": counters.pages_total,
              "items_seen": counters.items_seen, "items_new": counters.items_new,
              "items_updated": counters.items_updated, "errors": counters.errors}
    seq = await session.scalar(
        update(CrawlJob)
        .where(CrawlJob.id == job_id, CrawlJob.attempt == attempt, CrawlJob.state == "running")
        .values(**counts, heartbeat_at=utcnow(), last_seq=CrawlJob.last_seq + 1)
        .returning(CrawlJob.last_seq).execution_options(synchronize_session=False))
    if seq is None:
        await session.rollback()
        return False
    await events.stage(session, user_id=user_id, type="job.progress", job_id=job_id, seq=seq,
                       data={"state": "running", "progress": counts})
    await events.commit(session, announcer)
    return True


async def beat(session: AsyncSession, attempts: Sequence[tuple[uuid.UUID, int]]) -> int:
    """Tell the reaper these attempts (job id, attempt) are alive, in one statement; the number still running."""
    result = await session.execute(
        update(CrawlJob).where(tuple_(CrawlJob.id, CrawlJob.attempt).in_(list(attempts)), CrawlJob.state == "running")
        .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False))
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


async def finish(session: AsyncSession, *, job_id: uuid.UUID, attempt: int, state: str,
                 counters: CrawlProgress | None, error: str | None, announcer: Announcer) -> None:
    """End the attempt in a final state (unless a newer attempt owns the job); a success marks the source crawled."""
    job = await current(session, job_id=job_id, attempt=attempt)
    if job is None:
        return
    await events.lock_users(session, [job.user_id])  # before the row (autoflushed below)
    if counters is not None:
        _apply(job, counters)
    if job.attempt > 1 and job.source_id is not None and job.started_at is not None:
        # Earlier attempts stored part of the crawl: count from the table, so the job's
        # totals are exact however many deliveries it took.
        job.items_new, job.items_updated = await _changed_since(session, job.source_id, job.started_at)
    await _end(session, job, state, error=error)
    if state == "succeeded" and job.source_id is not None:
        await sources.mark_crawled(session=session, source_id=job.source_id)
    await events.commit(session, announcer)


async def requeue(session: AsyncSession, *, settings: Settings, job_id: uuid.UUID, attempt: int, error: str,
                  announcer: Announcer) -> bool:
    """Put the job back in the queue after a failure of this attempt; False when attempts are used up."""
    job = await current(session, job_id=job_id, attempt=attempt)
    if job is None:
        return False
    if job.attempt >= settings.crawl_max_attempts:
        await _end(session, job, "failed", error=error)
        await events.commit(session, announcer)
        return False
    job.state = "queued"
    job.error = error
    await session.commit()
    return True


async def _changed_since(session: AsyncSession, source_id: int, since: dt.datetime) -> tuple[int, int]:
    new = await session.scalar(select(func.count()).select_from(Bid).where(Bid.source_id == source_id,
                                                                         Bid.first_seen_at >= since))
    updated = await session.scalar(select(func.count()).select_from(Bid).where(
        Bid.source_id == source_id, Bid.first_seen_at < since, Bid.updated_at >= since))
    return int(new or 0), int(updated or 0)


def _apply(job: CrawlJob, counters: CrawlProgress) -> None:
    job.pages_done = counters.pages_done
    job.pages_total = counters.pages_total
    job.items_seen = counters.items_seen
    job.items_new = counters.items_new
    job.items_updated = counters.items_updated
    job.errors = counters.errors


# -- the reaper ----------------------------------------------------------------------------------------------------


async def reap(session: AsyncSession, *, settings: Settings, queue: JobQueue, announcer: Announcer) -> list[uuid.UUID]:
    """Deliver again the jobs whose delivery was lost; fail those whose attempts are used up.

    A running job whose worker stopped heart-beating is re-queued (or failed at the attempt cap). A
    queued job that no delivery has started for `job_queued_timeout_seconds` (the API's send after
    commit was lost, or the broker dropped the message) is sent again. A queued job's `heartbeat_at`
    records when the reaper last sent it, so each such job is re-sent at most once per timeout; a
    duplicate delivery is harmless (the attempt claim lets only one run). Each re-send has a task id of
    its own (a revoked first delivery must not stop it), recorded before it is sent.
    """
    requeued: list[uuid.UUID] = []
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=settings.job_heartbeat_timeout_seconds)
    stale = (await session.scalars(select(CrawlJob).where(CrawlJob.state == "running",
                                                          CrawlJob.heartbeat_at < cutoff))).all()
    for job in stale:
        if job.attempt >= settings.crawl_max_attempts:
            await _end(session, job, "failed",
                       error=f"gave up after {job.attempt} attempts: the worker was lost each time")
            await events.commit(session, announcer)
            continue
        task_id = str(uuid.uuid4())
        result = await session.execute(
            update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.attempt == job.attempt,
                                   CrawlJob.state == "running", CrawlJob.heartbeat_at < cutoff)
            .values(state="queued", error="worker lost; re-queued", heartbeat_at=now, task_id=task_id)
            .execution_options(synchronize_session=False))
        await session.commit()
        if getattr(result, "rowcount", 0) == 1 and await _resend(queue, job.id, task_id):
            requeued.append(job.id)
    queued_cutoff = now - dt.timedelta(seconds=settings.job_queued_timeout_seconds)
    not_started = or_(CrawlJob.heartbeat_at < queued_cutoff,
                      and_(CrawlJob.heartbeat_at.is_(None), CrawlJob.created_at < queued_cutoff))
    lost = (await session.scalars(select(CrawlJob).where(CrawlJob.state == "queued", not_started)
                                  .order_by(CrawlJob.created_at).limit(REAP_BATCH))).all()
    for job in lost:
        # Claim the re-send first, so two reapers running at once cannot both send it.
        before, task_id = (job.heartbeat_at, job.task_id), str(uuid.uuid4())
        result = await session.execute(
            update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.attempt == job.attempt,
                                   CrawlJob.state == "queued", not_started)
            .values(heartbeat_at=now, task_id=task_id).execution_options(synchronize_session=False))
        await session.commit()
        if getattr(result, "rowcount", 0) != 1:
            continue
        log.warning("job %s stayed queued with no delivery started; sending it again", job.id)
        if await _resend(queue, job.id, task_id):
            requeued.append(job.id)
        else:
            # The broker is down: undo the claim so the next pass tries again.
            await session.execute(update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.state == "queued",
                                                         CrawlJob.task_id == task_id)
                                  .values(heartbeat_at=before[0], task_id=before[1]))
            await session.commit()
            break
    return requeued


async def _resend(queue: JobQueue, job_id: uuid.UUID, task_id: str) -> bool:
    """Send one more delivery of a job; False if the broker refused it."""
    try:
        await queue.send(job_id, task_id)
    except Exception:  # the broker is unreachable: the job stays queued and a later pass sends it
        log.exception("could not re-send job %s", job_id)
        return False
    return True
