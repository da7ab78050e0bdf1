"""A process's watch of its attempts (both backends): it heart-beats a crawl that makes no progress for longer
than the timeout, so the reaper leaves it alone; it interrupts a cancelled or superseded attempt within about a
second; once it stops (the process died), the reaper re-queues the job."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import update

from forest.config import Settings
from forest.crawls.models import CrawlJob
from forest.crawls.runner import JobRun, reap
from forest.crawls.watch import RunningJobs
from forest.database import Database
from forest.events import Publisher
from tests.conftest import make_settings
from tests.crawls.test_reaper import Broker, age, load, submit_lost_job

TIMEOUT = 5  # the smallest heartbeat timeout the settings allow: beats every second


async def _claimed(db: Database, settings: Settings) -> tuple[JobRun, asyncio.Task[None]]:
    job_id = await submit_lost_job(db, settings)
    run = JobRun(db, settings, job_id, Publisher(None))
    assert await run.claim() is not None
    stalled: asyncio.Task[None] = asyncio.create_task(asyncio.sleep(3600))  # a crawl waiting on a board
    return run, stalled


def _fast(settings: Settings) -> Settings:
    return make_settings(settings.database_url, settings.var_dir, job_heartbeat_timeout_seconds=TIMEOUT)


async def test_a_stalled_crawl_keeps_beating_and_is_reaped_once_its_process_stops(
    database: Database, settings: Settings,
) -> None:
    settings = _fast(settings)
    run, stalled = await _claimed(database, settings)
    running = RunningJobs(database, settings)
    running.add(run.job_id, run.attempt, stalled)
    watching = asyncio.create_task(running.serve())
    broker = Broker()
    try:
        for _ in range(TIMEOUT + 2):  # longer than the timeout without a single progress write
            await asyncio.sleep(1)
            assert await reap(settings, broker) == []
        job = await load(database, run.job_id)
        assert (job.state, job.attempt) == ("running", 1) and not stalled.done()
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    # The process is gone: no more beats. Once the timeout has passed, the next reaper pass re-queues the job.
    await age(database, run.job_id, TIMEOUT + 1)
    assert await reap(settings, broker) == [run.job_id]
    assert (await load(database, run.job_id)).state == "queued"
    stalled.cancel()


async def test_cancelled_and_superseded_attempts_are_interrupted(database: Database, settings: Settings) -> None:
    settings = _fast(settings)
    cancelled, cancelled_crawl = await _claimed(database, settings)
    superseded, superseded_crawl = await _claimed(database, settings)
    kept, kept_crawl = await _claimed(database, settings)
    running = RunningJobs(database, settings)
    entries = {run.job_id: running.add(run.job_id, run.attempt, task) for run, task in
               [(cancelled, cancelled_crawl), (superseded, superseded_crawl), (kept, kept_crawl)]}
    watching = asyncio.create_task(running.serve())
    try:
        async with database.sessionmaker() as session:
            await session.execute(update(CrawlJob).where(CrawlJob.id == cancelled.job_id).values(cancel_requested=True))
            # Another worker's newer attempt owns this one now.
            await session.execute(update(CrawlJob).where(CrawlJob.id == superseded.job_id)
                                  .values(attempt=CrawlJob.attempt + 1))
            await session.commit()
        async with asyncio.timeout(3):
            while not (cancelled_crawl.done() and superseded_crawl.done()):
                await asyncio.sleep(0.05)
        assert cancelled_crawl.cancelled() and superseded_crawl.cancelled() and not kept_crawl.done()
        flags = {job_id: (e.cancelled, e.superseded) for job_id, e in entries.items()}
        assert flags == {cancelled.job_id: (True, False), superseded.job_id: (False, True),
                         kept.job_id: (False, False)}
        assert await running.beat() == 2  # the superseded attempt is not ours to keep alive
    finally:
        watching.cancel()
        kept_crawl.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
