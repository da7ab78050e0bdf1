"""Two `forest worker` processes crawling boards of one host keep its delay between them (Redis schedule)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from forest.cli import migrate
from forest.config import Settings
from forest.crawls import lifecycle
from forest.crawls.models import CrawlJob
from forest.crawls.schemas import CrawlCreate
from forest.database import Database, utcnow
from forest.demo_site.testing import running_demo_site
from forest.sources.models import Source
from forest.users.models import User
from forest.worker.celery_app import make_celery
from forest.worker.dispatch import Dispatcher
from tests.conftest import PG_TEST_DB, REDIS_URL, _recreate_pg, make_settings, pg_url
from tests.crawls.conftest import Stack, stack_env

DELAY = 0.15
DB_NAME = f"{PG_TEST_DB}_hosts"


async def start_crawls(settings: Settings, urls: list[str]) -> list[uuid.UUID]:
    """A polite source per URL and a crawl of each, submitted as the API does."""
    queue = Dispatcher(make_celery(settings))

    class Silent:
        async def publish(self, _events: object) -> None:
            return None

    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            admin = User(email="hosts-admin@example.com", password_hash="x", is_admin=True, created_at=utcnow())
            sources = [Source(name=f"hosts-{k}", start_url=url, preset="demo_board", max_pages=1,
                              timezone="Asia/Seoul", polite=True, delay_seconds=DELAY, enabled=True,
                              created_at=utcnow()) for k, url in enumerate(urls)]
            session.add_all([admin, *sources])
            await session.commit()
            jobs = [await lifecycle.submit(session=session, settings=settings, user=admin,
                                           job_in=CrawlCreate(source_id=s.id), idempotency_key=None,
                                           queue=queue, announcer=Silent()) for s in sources]
            return [job.id for job in jobs]
    finally:
        await db.dispose()


async def states(settings: Settings, ids: list[uuid.UUID]) -> list[str]:
    """The jobs' states."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            return list((await session.scalars(select(CrawlJob.state).where(CrawlJob.id.in_(ids)))).all())
    finally:
        await db.dispose()


@pytest.mark.timeout(180)
def test_two_worker_processes_keep_a_hosts_delay(tmp_path: Path) -> None:
    asyncio.run(_recreate_pg(DB_NAME))
    redis.Redis.from_url(REDIS_URL).flushdb()
    url = pg_url(DB_NAME)
    with running_demo_site(notices=60, seed=5) as demo:
        host = demo.base_url.removeprefix("http://")
        settings = make_settings(url, tmp_path, crawl_allow_hosts=[host])
        migrate.upgrade("head", settings)
        # One crawl at a time per process: the two crawls of the host run in two processes.
        stack = Stack(env=stack_env(settings, FOREST_WORKER_CRAWLS_PER_PROCESS="1"), database_url=url, demo=demo,
                      var_dir=tmp_path)
        try:
            for name in ("hosts-a", "hosts-b"):
                stack.spawn(name, "worker", "--concurrency", "1", "--hostname", f"{name}@%h")
            ids = asyncio.run(start_crawls(settings, [demo.url("/kfs/bid/list.do"), demo.url("/euckr/bid/list.do")]))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and set(asyncio.run(states(settings, ids))) != {"succeeded"}:
                time.sleep(0.5)
            assert asyncio.run(states(settings, ids)) == ["succeeded", "succeeded"]
            logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("hosts-a", "hosts-b")}
        finally:
            stack.stop_all()
            asyncio.run(_recreate_pg(DB_NAME, drop_only=True))
        arrivals = demo.board.arrivals()
    # Each process ran one of the crawls, at the same time as the other.
    assert all("forest.crawl" in log and "succeeded" in log for log in logs.values()), logs
    times = {p: [t for t, q in arrivals if q.startswith(p)] for p in ("/kfs/bid", "/euckr/bid")}
    assert min(times["/euckr/bid"]) < max(times["/kfs/bid"]) and min(times["/kfs/bid"]) < max(times["/euckr/bid"])
    assert len(arrivals) >= 2 * 11  # each: page 1 and its 10 notices (robots.txt too, once per crawl)
    ordered = sorted(t for t, _ in arrivals)
    assert min(b - a for a, b in itertools.pairwise(ordered)) >= DELAY
