"""Running one delivery of a crawl job: claim an attempt, crawl into the alerting store, report, finish.

Every change of the job goes through `crawls.lifecycle`; this module is the execution around it: the
crawl on the process's shared context (its heartbeat and cancel watch are `crawls.watch`), the time limit,
and which failures earn another delivery. A worker's task runs it, and so
does `forest crawl` for its local job row, so both store bids the same way and raise the same alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg
import httpx
from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forest import events
from forest.alerts import matching, webhooks
from forest.bids.ingest import DbNoticeStore, upsert_notices
from forest.config import Settings
from forest.crawler.engine import CrawlProgress, CrawlResult, crawl
from forest.crawler.parse import Notice
from forest.crawler.store import UpsertResult
from forest.crawls import lifecycle
from forest.crawls.models import CrawlJob
from forest.crawls.watch import RunningJobs
from forest.database import Database
from forest.events import Publisher
from forest.sources.crawling import crawl_config
from forest.sources.models import Source

log = logging.getLogger(__name__)
PROGRESS_MIN_INTERVAL = 0.25
Report = Callable[[CrawlProgress], Awaitable[None]]


@dataclass
class Outcome:
    """What a delivery of a job did: `requeue` asks the caller to deliver it again later."""

    state: str | None
    requeue: bool = False
    result: CrawlResult | None = None  # what the crawl did, when it ran to an end of its own


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
        async with events.unit(self._sessionmaker, self._publisher) as session:
            result = await upsert_notices(session, self.source_id, notices, views=views)
            staged = await matching.stage_alert_events(session, bid_ids=result.new_ids,
                                                       updated_ids=result.updated_ids, max_events=self._max_events)
        await webhooks.hand_off(staged.delivery_ids, self._send_webhooks)
        return result


class JobRun:
    """One attempt at one job: its changes go through `lifecycle`, guarded by the attempt it claimed."""

    def __init__(self, db: Database, settings: Settings, job_id: uuid.UUID, publisher: Publisher,
                 report: Report | None = None) -> None:
        self.db = db
        self.settings = settings
        self.job_id = job_id
        self.publisher = publisher
        self.attempt = 0
        self.user_id: int | None = None  # the job's owner, from the claim
        self.superseded = False
        self._report = report
        self._last_emit = 0.0
        self.last_progress: CrawlProgress | None = None

    async def claim(self) -> CrawlJob | None:
        """Take the next attempt of the job; None if there is nothing (more) to do."""
        async with self.db.sessionmaker() as session:
            job = await lifecycle.claim(session, settings=self.settings, job_id=self.job_id, announcer=self.publisher)
        if job is not None:
            self.attempt = job.attempt
            self.user_id = job.user_id
        return job

    async def on_progress(self, progress: CrawlProgress, *, force: bool = False) -> None:
        """Store counters and a throttled progress event."""
        self.last_progress = progress
        if self._report is not None:
            await self._report(progress)
        now = time.monotonic()
        if not force and now - self._last_emit < PROGRESS_MIN_INTERVAL:
            return
        self._last_emit = now
        async with self.db.sessionmaker() as session:
            if not await lifecycle.progress(session, job_id=self.job_id, attempt=self.attempt, counters=progress,
                                            announcer=self.publisher, user_id=self.user_id):
                self.superseded = True

    async def should_stop(self) -> bool:
        """Whether the job was cancelled or taken over by a newer attempt."""
        if self.superseded:
            return True
        async with self.db.sessionmaker() as session:
            job = await lifecycle.current(session, job_id=self.job_id, attempt=self.attempt)
        self.superseded = job is None
        return job is None or job.cancel_requested

    async def finish(self, state: str, progress: CrawlProgress | None, error: str | None) -> None:
        """End the attempt in a final state (unless a newer attempt owns the job)."""
        async with self.db.sessionmaker() as session:
            await lifecycle.finish(session, job_id=self.job_id, attempt=self.attempt, state=state, counters=progress,
                                   error=error, announcer=self.publisher)

    async def requeue(self, error: str) -> bool:
        """Put the job back in the queue after a failure of this attempt; False when attempts are used up."""
        async with self.db.sessionmaker() as session:
            return await lifecycle.requeue(session, settings=self.settings, job_id=self.job_id, attempt=self.attempt,
                                           error=error, announcer=self.publisher)


def is_infrastructure(exc: BaseException) -> bool:
    """Whether a failed attempt is the service's fault (database, broker or network down), worth another delivery.

    A statement the database refused for its data (a NUL byte, a constraint) would fail again, so it is not.
    """
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or not isinstance(
            exc, (sa_exc.DataError, sa_exc.IntegrityError, sa_exc.ProgrammingError))
    return isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError, OSError, TimeoutError, RedisError,
                            asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError))


@dataclass
class JobContext:
    """What the deliveries of one process share: its database, publisher, crawl transport and running attempts."""

    db: Database
    publisher: Publisher
    running: RunningJobs
    transport: httpx.AsyncBaseTransport | None = None


async def run_job(settings: Settings, job_id: uuid.UUID,
                  crawl_fn: Callable[..., Awaitable[object]] | None = None,
                  send_webhooks: webhooks.Sender | None = None, *, context: JobContext | None = None,
                  report: Report | None = None) -> Outcome:
    """Run one delivery of a job to its end, on the process's shared `context` (or a private one made for it);
    `report` sees every progress report of the crawl (`forest crawl`'s progress bar)."""
    if context is not None:
        return await _run(settings, job_id, context, send_webhooks, report)
    db = Database.from_settings(settings, pool_size=2, max_overflow=2) if not settings.is_sqlite \
        else Database.from_settings(settings)
    publisher = Publisher(settings.redis_url)
    running = RunningJobs(db, settings)
    watching = asyncio.create_task(running.serve())
    try:
        return await _run(settings, job_id, JobContext(db=db, publisher=publisher, running=running), send_webhooks,
                          report)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        await publisher.close()
        await db.dispose()


async def _run(settings: Settings, job_id: uuid.UUID, context: JobContext,
               send_webhooks: webhooks.Sender | None, report: Report | None) -> Outcome:
    db, publisher = context.db, context.publisher
    run = JobRun(db, settings, job_id, publisher, report)
    job = await run.claim()
    if job is None:
        return Outcome(state=None)
    async with db.sessionmaker() as session:
        source = await session.get(Source, job.source_id) if job.source_id else None
    config = crawl_config(settings, source, url=job.url, max_pages=job.max_pages)
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
    state = "cancelled" if result.cancelled else "failed" if result.failed else "succeeded"
    await run.finish(state, result.progress, result.error if result.failed else None)
    return Outcome(state=state, result=result)


async def _failed(run: JobRun, job_id: uuid.UUID, exc: Exception) -> Outcome:
    if is_infrastructure(exc):  # the database or network under the worker: another delivery may work
        log.exception("crawl %s attempt %s failed", job_id, run.attempt)
        return Outcome(state="queued", requeue=await run.requeue(f"{type(exc).__name__}: {exc}"))
    # Anything else (a board's answer the crawler did not turn into a crawl error, a bug) fails
    # the same way on every delivery: the job fails once, with the reason, instead of being retried.
    log.exception("crawl %s attempt %s failed and will not be retried", job_id, run.attempt)
    await run.finish("failed", run.last_progress, f"crawl error: {type(exc).__name__}: {exc}")
    return Outcome(state="failed")


async def reap(settings: Settings, queue: lifecycle.JobQueue, *, context: JobContext | None = None) -> list[uuid.UUID]:
    """One pass of the reaper (`lifecycle.reap`): re-send lost deliveries, fail jobs out of attempts; on the
    process's shared `context`, or on a database and publisher of its own."""
    db = context.db if context else Database.from_settings(settings)
    publisher = context.publisher if context else Publisher(settings.redis_url)
    try:
        async with db.sessionmaker() as session:
            return await lifecycle.reap(session, settings=settings, queue=queue, announcer=publisher)
    finally:
        if context is None:
            await publisher.close()
            await db.dispose()
