"""The reaper re-sends jobs whose enqueue was lost; duplicate deliveries claim one attempt (both backends)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update

from forest.config import Settings
from forest.crawls import lifecycle
from forest.crawls.models import CrawlJob
from forest.crawls.runner import JobRun, reap
from forest.crawls.schemas import CrawlCreate
from forest.database import Database, utcnow
from forest.events import Publisher
from forest.sources.models import Source
from forest.users.models import User


class Broker:
    """Records sends instead of talking to a broker; `down` makes every send fail."""

    def __init__(self, *, lost: bool = False) -> None:
        self.sent: list[uuid.UUID] = []
        self.task_ids: list[str] = []
        self.down = False
        self.lost = lost  # accept every send and deliver none (an API that died right after its commit)

    async def send(self, job_id: uuid.UUID, task_id: str) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        if not self.lost:
            self.sent.append(job_id)
            self.task_ids.append(task_id)

    async def revoke(self, task_id: str) -> None:
        return None


async def submit_lost_job(db: Database, settings: Settings) -> uuid.UUID:
    """A job committed as queued whose Celery message never reached a worker."""
    async with db.sessionmaker() as session:
        user = User(email=f"u{uuid.uuid4().hex[:8]}@example.com", password_hash="x", is_admin=False,
                    created_at=utcnow())
        source = Source(name=f"board-{uuid.uuid4().hex[:8]}", start_url="http://example.com/list", max_pages=3,
                        timezone="Asia/Seoul", polite=True, enabled=True, created_at=utcnow())
        session.add_all([user, source])
        await session.commit()
        job = await lifecycle.submit(session=session, settings=settings, user=user,
                                     job_in=CrawlCreate(source_id=source.id), idempotency_key=None,
                                     queue=Broker(lost=True), announcer=Publisher(None))
        return job.id


async def age(db: Database, job_id: uuid.UUID, seconds: float) -> None:
    """Move a job's creation and last-send stamps `seconds` into the past."""
    async with db.sessionmaker() as session:
        job = await session.get(CrawlJob, job_id)
        assert job is not None
        shift = dt.timedelta(seconds=seconds)
        job.created_at -= shift
        if job.heartbeat_at is not None:
            job.heartbeat_at -= shift
        await session.commit()


async def load(db: Database, job_id: uuid.UUID) -> CrawlJob:
    """A fresh copy of a job."""
    async with db.sessionmaker() as session:
        job = await session.get(CrawlJob, job_id)
        assert job is not None
        return job


async def test_reap_resends_a_queued_job_once_per_timeout(database: Database, settings: Settings) -> None:
    timeout = settings.job_queued_timeout_seconds
    job_id = await submit_lost_job(database, settings)
    broker = Broker()
    assert await reap(settings, broker) == []  # just queued: the first delivery may still be on its way
    await age(database, job_id, timeout + 1)
    assert await reap(settings, broker) == [job_id]
    job = await load(database, job_id)
    assert job.state == "queued" and job.attempt == 0 and job.task_id == broker.task_ids[0] != str(job_id)
    assert await reap(settings, broker) == []  # sent just now: not again before another timeout
    await age(database, job_id, timeout + 1)
    assert await reap(settings, broker) == [job_id]
    assert broker.sent == [job_id, job_id] and len(set(broker.task_ids)) == 2  # each re-send has its own task id


async def test_reap_leaves_started_and_finished_jobs_alone(database: Database, settings: Settings) -> None:
    running, done = await submit_lost_job(database, settings), await submit_lost_job(database, settings)
    run = JobRun(database, settings, running, Publisher(None))
    assert await run.claim() is not None
    async with database.sessionmaker() as session:
        await session.execute(update(CrawlJob).where(CrawlJob.id == done).values(state="succeeded"))
        await session.commit()
    for job_id in (running, done):
        await age(database, job_id, settings.job_queued_timeout_seconds + 1)
    async with database.sessionmaker() as session:  # the running attempt is still heart-beating
        await session.execute(update(CrawlJob).where(CrawlJob.id == running).values(heartbeat_at=utcnow()))
        await session.commit()
    broker = Broker()
    assert await reap(settings, broker) == []
    assert broker.sent == []


async def test_reap_retries_a_resend_the_broker_refused(database: Database, settings: Settings) -> None:
    job_id = await submit_lost_job(database, settings)
    await age(database, job_id, settings.job_queued_timeout_seconds + 1)
    broker = Broker()
    broker.down = True
    assert await reap(settings, broker) == []
    assert (await load(database, job_id)).heartbeat_at is None  # the claim was undone
    broker.down = False
    assert await reap(settings, broker) == [job_id]


async def test_duplicate_delivery_claims_no_second_attempt(database: Database, settings: Settings) -> None:
    job_id = await submit_lost_job(database, settings)
    first = JobRun(database, settings, job_id, Publisher(None))
    second = JobRun(database, settings, job_id, Publisher(None))
    assert await first.claim() is not None
    assert await second.claim() is None  # the first attempt is alive: the copy is dropped
    job = await load(database, job_id)
    assert job.state == "running" and job.attempt == 1
    await first.finish("succeeded", None, None)
    assert await second.claim() is None  # a copy delivered after the end changes nothing
    job = await load(database, job_id)
    assert job.state == "succeeded" and job.attempt == 1 and job.last_seq == 3
