"""The scheduler's pass: a crawl job for every source whose cron schedule is due (run by `forest beat`)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from forest.config import Settings
from forest.crawls import lifecycle
from forest.crawls.models import CrawlJob
from forest.crawls.schemas import CrawlCreate
from forest.database import Database, utcnow
from forest.events import Publisher
from forest.sources.models import Source
from forest.sources.schedules import next_run
from forest.users.models import User


async def run_due(settings: Settings, queue: lifecycle.JobQueue, *, db: Database | None = None) -> list[uuid.UUID]:
    """Create and queue a job for every enabled source whose schedule is due, skipping busy sources.

    `db`: the worker process's database (left open); without it the pass builds and disposes its own.
    """
    started: list[uuid.UUID] = []
    shared = db
    db = shared or Database.from_settings(settings)
    publisher = Publisher(settings.redis_url)
    try:
        async with db.sessionmaker() as session:
            now = utcnow()
            owner = await session.scalar(select(User).where(User.is_admin.is_(True)).order_by(User.id).limit(1))
            due = (await session.scalars(select(Source).where(Source.enabled.is_(True), Source.schedule.is_not(None),
                                                              Source.next_run_at <= now))).all()
            for source in due:
                assert source.schedule is not None
                source.next_run_at = next_run(source.schedule, source.timezone, now)
                await session.commit()
                if owner is None:
                    continue
                job = await lifecycle.submit(session=session, settings=settings, user=owner,
                                             job_in=CrawlCreate(source_id=source.id), idempotency_key=None,
                                             queue=queue, announcer=publisher)
                if job.state == "queued" and job.attempt == 0 and isinstance(job, CrawlJob):
                    started.append(job.id)
    finally:
        await publisher.close()
        if shared is None:
            await db.dispose()
    return started
