"""Crawl jobs, worker side: claim an attempt, crawl, report progress, finish.

Every write is guarded by the attempt number the worker claimed, so an older delivery of the same
job (a worker presumed dead that wakes up) can never overwrite what a newer attempt wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg
import httpx
from redis.exceptions import RedisError
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forest.alerts import matching, webhooks
from forest.bids.ingest import DbNoticeStore, upsert_notices
from forest.bids.models import Bid
from forest.config import Settings
from forest.crawler.engine import CrawlConfig, CrawlProgress, CrawlResult, crawl
from forest.crawler.hosts import process_schedule
from forest.crawler.parse import Notice
from forest.crawler.store import UpsertResult
from forest.crawls.models import FINAL_STATES, CrawlJob, JobEvent
from forest.crawls.schemas import progress_of
from forest.crawls.watch import RunningJobs
from forest.database import Database, utcnow
from forest.realtime import events
from forest.realtime.events import Publisher
from forest.sources.models import Source

log = logging.getLogger(__name__)
PROGRESS_MIN_INTERVAL = 0.25
REAP_BATCH = 500


@dataclass
class Outcome:
    """What a delivery of a job did: `requeue` asks the caller to deliver it again later."""

    state: str | None
    requeue: bool = False


class _AlertingStore(DbNoticeStore):
    """The bid store of a job that also turns each batch's new bids into alert events.

    The bids and their alert events (and webhook deliveries) commit in one transaction: a worker killed
    between the two would otherwise leave bids that are no longer new on redelivery and never alerted.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], source_id: int, publisher: Publisher,
                 send_webhooks: webhooks.Sender | None = None, *,
                 max_events: int = matching.DEFAULT_MAX_EVENTS) -> None:
        super().__init__(sessionmaker, source_id)
        self._publisher = publisher
        self._send_webhooks = send_webhooks
        self._max_events = max_events

    async def upsert(self, notices: Sequence[Notice], *, views: Mapping[str, int] | None = None) -> UpsertResult:
        async with self._sessionmaker() as session, session.begin():
            result = await upsert_notices(session, self.source_id, notices, views=views)
            staged = await matching.stage_alert_events(session, bid_ids=result.new_ids,
                                                       updated_ids=result.updated_ids, max_events=self._max_events)
        await self._publisher.publish(staged.events)
        await webhooks.hand_off(staged.delivery_ids, self._send_webhooks)
        return result


class JobRun:
    """One attempt at one job."""

    def __init__(self, db: Database, settings: Settings, job_id: uuid.UUID, publisher: Publisher) -> None:
        self.db = db
        self.settings = settings
        self.job_id = job_id
        self.publisher = publisher
        self.attempt = 0
        self.seq = 0
        self.user_id = 0
        self.superseded = False
        self._last_emit = 0.0
        self.last_progress: CrawlProgress | None = None

    async def claim(self) -> CrawlJob | None:
        """Take the next attempt of the job; None if there is nothing (more) to do."""
        async with self.db.sessionmaker() as session:
            job = await session.get(CrawlJob, self.job_id)
            if job is None or job.state in FINAL_STATES:
                return None
            staged: list[JobEvent] = []
            if job.cancel_requested:
                staged.append(await _finish(session, job, "cancelled"))
            elif job.attempt >= self.settings.crawl_max_attempts:
                staged.append(await _finish(session, job, "failed", error=(
                    f"gave up after {job.attempt} attempts: the worker was lost each time")))
            if staged:
                await session.commit()
                await self.publisher.publish(staged)
                return None
            now = utcnow()
            alive_after = now - dt.timedelta(seconds=self.settings.job_heartbeat_timeout_seconds)
            if job.state == "running" and job.heartbeat_at is not None and job.heartbeat_at > alive_after:
                return None  # a duplicate delivery while a live attempt runs: leave it alone
            seen = job.attempt
            # The owner's event lock before the job's row, the order every writer of a job keeps (see
            # crawls.service.finish): a claim that locked the row first deadlocked against a cancel.
            await events.lock_user_events(session, [job.user_id])
            result = await session.execute(
                update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.attempt == seen,
                                       CrawlJob.state.in_(("queued", "running")))
                .values(attempt=seen + 1, state="running", heartbeat_at=now, error=None,
                        started_at=job.started_at or now)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                await session.rollback()
                return None  # another delivery claimed it first
            await session.refresh(job)
            self.attempt, self.user_id = job.attempt, job.user_id
            event = await self._event(session, job, "job.started", {"state": "running", "attempt": job.attempt})
            await session.commit()
        await self.publisher.publish([event])
        return job

    async def _event(self, session: AsyncSession, job: CrawlJob, type_: str, data: dict[str, object]) -> JobEvent:
        await events.lock_user_events(session, [job.user_id])
        job.last_seq += 1
        self.seq = job.last_seq
        return events.add_event(session, user_id=job.user_id, type=type_, job_id=job.id, seq=job.last_seq,
                                data={**data, "progress": progress_of(job)})

    async def _mine(self, session: AsyncSession) -> CrawlJob | None:
        job = await session.scalar(select(CrawlJob).where(CrawlJob.id == self.job_id)
                                   .execution_options(populate_existing=True))
        if job is None or job.attempt != self.attempt or job.state != "running":
            self.superseded = True
            return None
        return job

    async def on_progress(self, progress: CrawlProgress, *, force: bool = False) -> None:
        """Store counters and a throttled progress event."""
        self.last_progress = progress
        now = time.monotonic()
        if not force and now - self._last_emit < PROGRESS_MIN_INTERVAL:
            return
        self._last_emit = now
        async with self.db.sessionmaker() as session:
            job = await self._mine(session)
            if job is None:
                return
            await events.lock_user_events(session, [job.user_id])  # before the row: see claim()
            _apply(job, progress)
            job.heartbeat_at = utcnow()
            event = await self._event(session, job, "job.progress", {"state": "running"})
            await session.commit()
        await self.publisher.publish([event])

    async def should_stop(self) -> bool:
        """Whether the job was cancelled or taken over by a newer attempt."""
        if self.superseded:
            return True
        async with self.db.sessionmaker() as session:
            job = await self._mine(session)
            return job is None or job.cancel_requested

    async def finish(self, state: str, progress: CrawlProgress | None, error: str | None) -> None:
        """End the attempt in a final state (unless a newer attempt owns the job)."""
        async with self.db.sessionmaker() as session:
            job = await self._mine(session)
            if job is None:
                return
            await events.lock_user_events(session, [job.user_id])  # before the row (autoflushed below): see claim()
            if progress is not None:
                _apply(job, progress)
            if job.attempt > 1 and job.source_id is not None and job.started_at is not None:
                # Earlier attempts stored part of the crawl: count from the table, so the job's
                # totals are exact however many deliveries it took.
                job.items_new, job.items_updated = await _changed_since(session, job.source_id, job.started_at)
            event = await _finish(session, job, state, error=error)
            source = await session.get(Source, job.source_id) if job.source_id else None
            if source is not None and state == "succeeded":
                source.last_crawled_at = utcnow()
            await session.commit()
        await self.publisher.publish([event])

    async def requeue(self, error: str) -> bool:
        """Put the job back in the queue after a failure of this attempt; False when attempts are used up."""
        async with self.db.sessionmaker() as session:
            job = await self._mine(session)
            if job is None:
                return False
            if job.attempt >= self.settings.crawl_max_attempts:
                event = await _finish(session, job, "failed", error=error)
                await session.commit()
                await self.publisher.publish([event])
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


def _apply(job: CrawlJob, progress: CrawlProgress) -> None:
    job.pages_done = progress.pages_done
    job.pages_total = progress.pages_total
    job.items_seen = progress.items_seen
    job.items_new = progress.items_new
    job.items_updated = progress.items_updated
    job.errors = progress.errors


async def _finish(session: AsyncSession, job: CrawlJob, state: str, *, error: str | None = None) -> JobEvent:
    from forest.crawls.service import finish

    return await finish(session, job, state, error=error)


def is_infrastructure(exc: BaseException) -> bool:
    """Whether a failed attempt is the service's fault (database, broker or network down), worth another delivery.

    A statement the database refused for its data (a NUL byte, a constraint) would fail again, so it is not.
    """
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or not isinstance(
            exc, (sa_exc.DataError, sa_exc.IntegrityError, sa_exc.ProgrammingError))
    return isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError, OSError, TimeoutError, RedisError,
                            asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError))


def crawl_config(settings: Settings, job: CrawlJob, source: Source | None) -> CrawlConfig:
    """The crawler's configuration for a job."""
    polite = source.polite if source else True
    delay = source.delay_seconds if source and source.delay_seconds is not None else settings.crawl_polite_delay_seconds
    return CrawlConfig(
        start_url=job.url,
        preset=source.preset if source else None,
        selectors=source.selectors if source else None,
        definition=source.definition if source else None,
        encoding=source.encoding if source else None,
        max_pages=job.max_pages,
        polite=polite,
        delay_seconds=delay,
        allow_hosts=tuple(settings.crawl_allow_hosts),
        timezone=source.timezone if source else "Asia/Seoul",
        host_schedule=process_schedule(settings.redis_url),  # each host's pace, shared (docs/operations.md)
    )


@dataclass
class JobContext:
    """What the deliveries of one process share: its database, publisher, crawl transport and running attempts."""

    db: Database
    publisher: Publisher
    running: RunningJobs
    transport: httpx.AsyncBaseTransport | None = None


async def run_job(settings: Settings, job_id: uuid.UUID,
                  crawl_fn: Callable[..., Awaitable[object]] | None = None,
                  send_webhooks: webhooks.Sender | None = None, *, context: JobContext | None = None) -> Outcome:
    """Run one delivery of a job to its end, on the process's shared `context` (or a private one made for it)."""
    if context is not None:
        return await _run(settings, job_id, context, send_webhooks)
    db = Database.from_settings(settings, pool_size=2, max_overflow=2) if not settings.is_sqlite \
        else Database.from_settings(settings)
    publisher = Publisher(settings.redis_url)
    running = RunningJobs(db, settings)
    watching = asyncio.create_task(running.serve())
    try:
        return await _run(settings, job_id, JobContext(db=db, publisher=publisher, running=running), send_webhooks)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        await publisher.close()
        await db.dispose()


async def _run(settings: Settings, job_id: uuid.UUID, context: JobContext,
               send_webhooks: webhooks.Sender | None) -> Outcome:
    db, publisher = context.db, context.publisher
    run = JobRun(db, settings, job_id, publisher)
    job = await run.claim()
    if job is None:
        return Outcome(state=None)
    async with db.sessionmaker() as session:
        source = await session.get(Source, job.source_id) if job.source_id else None
    config = crawl_config(settings, job, source)
    if job.attempt > 1:
        # A resumed delivery must walk past the pages the lost attempt already stored.
        config = dataclasses.replace(config, incremental=False)
    assert job.source_id is not None
    store = _AlertingStore(db.sessionmaker, job.source_id, publisher, send_webhooks,
                           max_events=settings.alert_events_per_batch)

    async def should_stop() -> bool:  # read from the process's watch: no query per page
        return run.superseded or watched.stop

    crawling: asyncio.Task[CrawlResult] = asyncio.create_task(
        crawl(config, store, on_progress=run.on_progress, should_stop=should_stop, transport=context.transport))
    # From here the process heart-beats this attempt and interrupts it on a cancel (crawls.watch).
    watched = context.running.add(job_id, run.attempt, crawling)
    limit = asyncio.timeout(settings.crawl_time_limit_seconds)
    try:
        async with limit:
            result = await crawling
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # this delivery itself was cancelled (the process is stopping): the reaper hands the job on
        if run.superseded or watched.superseded:
            return Outcome(state=None)
        await run.finish("cancelled", run.last_progress, None)
        return Outcome(state="cancelled")
    except TimeoutError as exc:
        if not limit.expired():
            return await _failed(run, job_id, exc)
        log.warning("crawl %s attempt %s ran out of its %s s", job_id, run.attempt, settings.crawl_time_limit_seconds)
        await run.finish("failed", run.last_progress,
                         f"the crawl did not end within its time limit of {settings.crawl_time_limit_seconds} s")
        return Outcome(state="failed")
    except Exception as exc:
        return await _failed(run, job_id, exc)
    finally:
        context.running.remove(watched)
        if not crawling.done():
            crawling.cancel()
    if run.superseded or watched.superseded:
        return Outcome(state=None)
    if result.cancelled:
        await run.finish("cancelled", result.progress, None)
        return Outcome(state="cancelled")
    if result.failed:
        await run.finish("failed", result.progress, result.error)
        return Outcome(state="failed")
    await run.finish("succeeded", result.progress, None)
    return Outcome(state="succeeded")


async def _failed(run: JobRun, job_id: uuid.UUID, exc: Exception) -> Outcome:
    if is_infrastructure(exc):  # the database or network under the worker: another delivery may work
        log.exception("crawl %s attempt %s failed", job_id, run.attempt)
        return Outcome(state="queued", requeue=await run.requeue(f"{type(exc).__name__}: {exc}"))
    # Anything else (a board's answer the crawler did not turn into a crawl error, a bug) fails
    # the same way on every delivery: the job fails once, with the reason, instead of being retried.
    log.exception("crawl %s attempt %s failed and will not be retried", job_id, run.attempt)
    await run.finish("failed", run.last_progress, f"crawl error: {type(exc).__name__}: {exc}")
    return Outcome(state="failed")


async def reap(settings: Settings, enqueue: Callable[[uuid.UUID], str], *,
               context: JobContext | None = None) -> list[uuid.UUID]:
    """Deliver again the jobs whose delivery was lost; fail those whose attempts are used up.

    A running job whose worker stopped heart-beating is re-queued (or failed at the attempt cap). A
    queued job that no delivery has started for `job_queued_timeout_seconds` (the API's send after
    commit was lost, or the broker dropped the message) is sent again. A queued job's `heartbeat_at`
    records when the reaper last sent it, so each such job is re-sent at most once per timeout; a
    duplicate delivery is harmless (the attempt claim lets only one run). Sends run in a thread, off the
    event loop the process's crawls share.
    """
    db = context.db if context else Database.from_settings(settings)
    publisher = context.publisher if context else Publisher(settings.redis_url)
    requeued: list[uuid.UUID] = []
    try:
        now = utcnow()
        cutoff = now - dt.timedelta(seconds=settings.job_heartbeat_timeout_seconds)
        async with db.sessionmaker() as session:
            stale = (await session.scalars(select(CrawlJob).where(CrawlJob.state == "running",
                                                                  CrawlJob.heartbeat_at < cutoff))).all()
            for job in stale:
                if job.attempt >= settings.crawl_max_attempts:
                    event = await _finish(session, job, "failed", error=(
                        f"gave up after {job.attempt} attempts: the worker was lost each time"))
                    await session.commit()
                    await publisher.publish([event])
                    continue
                result = await session.execute(
                    update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.attempt == job.attempt,
                                           CrawlJob.state == "running", CrawlJob.heartbeat_at < cutoff)
                    .values(state="queued", error="worker lost; re-queued", heartbeat_at=now)
                    .execution_options(synchronize_session=False))
                await session.commit()
                if getattr(result, "rowcount", 0) == 1 and await _resend(session, job.id, enqueue):
                    requeued.append(job.id)
            queued_cutoff = now - dt.timedelta(seconds=settings.job_queued_timeout_seconds)
            not_started = or_(CrawlJob.heartbeat_at < queued_cutoff,
                              and_(CrawlJob.heartbeat_at.is_(None), CrawlJob.created_at < queued_cutoff))
            lost = (await session.scalars(select(CrawlJob).where(CrawlJob.state == "queued", not_started)
                                          .order_by(CrawlJob.created_at).limit(REAP_BATCH))).all()
            for job in lost:
                # Claim the re-send first, so two reapers running at once cannot both send it.
                result = await session.execute(
                    update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.attempt == job.attempt,
                                           CrawlJob.state == "queued", not_started)
                    .values(heartbeat_at=now).execution_options(synchronize_session=False))
                await session.commit()
                if getattr(result, "rowcount", 0) != 1:
                    continue
                log.warning("job %s stayed queued with no delivery started; sending it again", job.id)
                if await _resend(session, job.id, enqueue):
                    requeued.append(job.id)
                else:
                    # The broker is down: undo the claim so the next pass tries again.
                    await session.execute(update(CrawlJob).where(CrawlJob.id == job.id, CrawlJob.state == "queued",
                                                                 CrawlJob.heartbeat_at == now)
                                          .values(heartbeat_at=job.heartbeat_at))
                    await session.commit()
                    break
    finally:
        if context is None:
            await publisher.close()
            await db.dispose()
    return requeued


async def _resend(session: AsyncSession, job_id: uuid.UUID, enqueue: Callable[[uuid.UUID], str]) -> bool:
    """Send one more delivery of a job and record its task id; False if the broker refused it."""
    try:
        task_id = await asyncio.to_thread(enqueue, job_id)
    except Exception:  # the broker is unreachable: the job stays queued and a later pass sends it
        log.exception("could not re-send job %s", job_id)
        return False
    await session.execute(update(CrawlJob).where(CrawlJob.id == job_id).values(task_id=task_id))
    await session.commit()
    return True
