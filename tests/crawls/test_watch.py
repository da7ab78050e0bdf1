"""A process's watch of its attempts (both backends): it heart-beats a crawl that makes no progress for longer
than the timeout, so the reaper leaves it alone; it interrupts a cancelled or superseded attempt within about a
second; once it stops (the process died), the reaper re-queues the job. A crawl that outlives its time limit
fails with the reason."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import update

from forest.config import Settings
from forest.crawls import runner
from forest.crawls.models import CrawlJob
from forest.crawls.runner import JobRun, reap
from forest.crawls.watch import RunningJobs
from forest.database import Database
from forest.demo_site.testing import running_demo_site
from forest.events import Publisher
from forest.sources.models import Source
from tests.conftest import make_settings
from tests.crawls.test_job_errors import _job
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


async def test_crawl_outliving_its_time_limit_fails_with_the_reason(
    database: Database, settings: Settings, tmp_path: Path,
) -> None:
    with running_demo_site(notices=30, seed=5) as board:
        job_id = await _job(database, board.url("/kfs/bid/list.do"))
        async with database.sessionmaker() as session:  # a slow board: a second between requests
            await session.execute(update(Source).values(polite=True, delay_seconds=1.0))
            await session.commit()
        limited = make_settings(settings.database_url, tmp_path, crawl_allow_hosts=[urlsplit(board.base_url).netloc])
        limited = limited.model_copy(update={"crawl_time_limit_seconds": 2})  # below the settings' floor of 10 s

        outcome = await runner.run_job(limited, job_id)

    assert (outcome.state, outcome.requeue) == ("failed", False)
    job = await load(database, job_id)
    assert (job.state, job.attempt) == ("failed", 1)
    assert job.error == "the crawl did not end within its time limit of 2 s"
