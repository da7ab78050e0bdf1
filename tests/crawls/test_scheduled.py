"""The scheduler's pass: a job for every enabled source whose cron schedule is due, and the next run set."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from forest.config import Settings
from forest.crawls import scheduled
from forest.crawls.models import CrawlJob
from forest.database import Database, utcnow
from forest.sources.models import Source
from tests.plugin import RecordingQueue


async def test_run_due_queues_a_job_per_due_source_and_moves_its_next_run(  # type: ignore[no-untyped-def]
    db: Database, settings: Settings, make_user,
) -> None:
    await make_user(admin=True)
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    async with db.sessionmaker() as session:
        due = Source(name="due", start_url="https://board.example.kr/due", schedule="0 9 * * *",
                     timezone="Asia/Seoul", next_run_at=past)
        later = Source(name="later", start_url="https://board.example.kr/later", schedule="0 9 * * *",
                       next_run_at=utcnow() + dt.timedelta(days=1))
        off = Source(name="off", start_url="https://board.example.kr/off", schedule="0 9 * * *",
                     next_run_at=past, enabled=False)
        session.add_all([due, later, off])
        await session.commit()
        due_id = due.id

    queue = RecordingQueue()
    started = await scheduled.run_due(settings, queue)
    sent = queue.sent

    assert started == sent and len(started) == 1
    async with db.sessionmaker() as session:
        job = await session.get(CrawlJob, started[0])
        assert job is not None and job.source_id == due_id and job.state == "queued"
        source = (await session.scalars(select(Source).where(Source.id == due_id))).one()
        assert source.next_run_at is not None and source.next_run_at > utcnow()
        assert source.next_run_at.astimezone(dt.timezone(dt.timedelta(hours=9))).hour == 9
    assert await scheduled.run_due(settings, RecordingQueue()) == []  # nothing due any more
