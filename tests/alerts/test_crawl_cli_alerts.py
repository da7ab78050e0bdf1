"""`forest crawl` raises alerts for new bids exactly like a worker's crawl of the same board (both backends).

Two sources read the same demo board: one is crawled as a worker does (a job submitted through
`crawls.lifecycle`, its delivery run by `crawls.runner.run_job`, the body of the Celery task), the other by
`forest crawl` run as a real process. Each source's alert events and webhook deliveries must be the same,
on the first crawl and on a later one that finds a few new notices (a bid the CLI stored is not new any
more, so an alert it failed to raise would be lost for good).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from forest.alerts import service as alerts
from forest.alerts.models import WebhookDelivery
from forest.alerts.schemas import AlertCreate
from forest.bids.filters import BidFilters
from forest.config import Settings
from forest.crawls import lifecycle, runner
from forest.crawls.models import CrawlJob
from forest.crawls.schemas import CrawlCreate
from forest.database import Database, utcnow
from forest.demo_site.testing import DemoSite
from forest.events import Event, Publisher
from forest.sources.models import Source
from forest.users import service as users
from forest.users.models import User
from tests.alerts.conftest import Receiver
from tests.conftest import SECRET, make_settings
from tests.plugin import RecordingQueue

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture
def settings(database_url: str, tmp_path: Path, receiver: Receiver, demo_board: DemoSite) -> Settings:
    """The test database, with the demo board and the webhook receiver allow-listed."""
    demo_board.board.reset()
    return make_settings(database_url, tmp_path, crawl_allow_hosts=[demo_board.base_url.removeprefix("http://")],
                         webhook_allow_hosts=[receiver.host_port])


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """A database handle for the test's own reads and writes."""
    db = Database.from_settings(settings)
    yield db
    await db.dispose()


async def _setup(db: Database, settings: Settings, demo: DemoSite, receiver: Receiver) -> tuple[User, int, int]:
    """An admin, a watcher with two alerts (one department, everything), and two sources of the same board."""
    department = demo.board.notices[0].department
    async with db.sessionmaker() as session:
        admin = await users.create(session=session, email="admin@example.com", password="admin-password-1",
                                   is_admin=True)
        watcher = await users.create(session=session, email="watcher@example.com", password="watch-password-1")
        for name, filters in (("one department", BidFilters(department=[department])), ("all", BidFilters())):
            await alerts.create(session=session, settings=settings, user=watcher,
                                alert_in=AlertCreate(name=name, filters=filters, webhook_url=receiver.url()))
        ids = []
        for name in ("by the worker", "by forest crawl"):
            source = Source(name=name, start_url=demo.url("/kfs/bid/list.do"), preset="demo_board", max_pages=50,
                            timezone="Asia/Seoul", polite=False, delay_seconds=0.0, enabled=True,
                            created_at=utcnow())
            session.add(source)
            await session.commit()
            ids.append(source.id)
    return admin, ids[0], ids[1]


async def _worker_crawl(db: Database, settings: Settings, admin: User, source_id: int) -> None:
    """A crawl as the API and a worker run it: submit, then the delivery the queue got."""
    queue = RecordingQueue()
    async with db.sessionmaker() as session:
        job = await lifecycle.submit(session=session, settings=settings, user=admin,
                                     job_in=CrawlCreate(source_id=source_id), idempotency_key=None, queue=queue,
                                     announcer=Publisher(None))
    assert queue.sent == [job.id]
    assert (await runner.run_job(settings, job.id)).state == "succeeded"


def _cli_crawl(settings: Settings, demo: DemoSite, receiver: Receiver, source_id: int) -> dict[str, Any]:
    env = {**os.environ, "FOREST_DATABASE_URL": settings.database_url, "FOREST_SECRET_KEY": SECRET,
           "FOREST_VAR_DIR": str(settings.var_dir), "FOREST_ENVIRONMENT": "local",
           "FOREST_BROKER_URL": settings.broker_url, "FOREST_REDIS_URL": settings.redis_url or "",
           "FOREST_CRAWL_ALLOW_HOSTS": demo.base_url.removeprefix("http://"),
           "FOREST_WEBHOOK_ALLOW_HOSTS": receiver.host_port}
    done = subprocess.run([sys.executable, "-m", "forest.cli.main", "crawl", "--source", str(source_id), "--json"],
                          cwd=settings.var_dir, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _bids(data: dict[str, Any]) -> list[dict[str, Any]]:
    return list(data.get("bids", [data["bid"]]))


async def _alerted(db: Database, source_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The alert events and webhook deliveries raised for a source's bids, without ids that differ by source."""
    async with db.sessionmaker() as session:
        rows = (await session.scalars(select(Event).where(Event.alert_id.is_not(None)).order_by(Event.id))).all()
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
    raised = [(e.type, e.alert_id, e.data.get("count") or 0, tuple(b["url"] for b in _bids(e.data))) for e in rows
              if e.data["bid"]["source_id"] == source_id]
    sent = []
    for delivery in deliveries:
        entries = json.loads(delivery.payload)["events"]
        if entries[0]["bid"]["source_id"] == source_id:
            sent.append((delivery.alert_id, delivery.bid_count, delivery.state,
                         tuple(sorted(entry["bid"]["url"] for entry in entries))))
    return sorted(raised), sorted(sent)


async def test_forest_crawl_raises_the_alerts_a_worker_crawl_raises(
    database: Database, settings: Settings, demo_board: DemoSite, receiver: Receiver,
) -> None:
    admin, by_worker, by_cli = await _setup(database, settings, demo_board, receiver)

    await _worker_crawl(database, settings, admin, by_worker)
    report = _cli_crawl(settings, demo_board, receiver, by_cli)
    expected = len(demo_board.board.notices) + len(demo_board.board.pinned)
    assert report["ok"] is True and report["progress"]["items_new"] == expected
    events, deliveries = await _alerted(database, by_worker)
    assert events and deliveries  # the board's notices match both alerts
    assert await _alerted(database, by_cli) == (events, deliveries)
    first = len(events)

    # The CLI ran a job of its own, owned by the admin, with the events of a worker's job.
    async with database.sessionmaker() as session:
        job = await session.get(CrawlJob, uuid.UUID(report["job_id"]))
        assert job is not None and job.state == "succeeded" and job.user_id == admin.id and job.attempt == 1
        assert job.source_id == by_cli and job.items_new == expected
        kinds = (await session.scalars(select(Event.type).where(Event.job_id == job.id).order_by(Event.seq))).all()
    assert kinds[:2] == ["job.queued", "job.started"] and kinds[-1] == "job.succeeded"

    # New notices later: each path alerts on those alone, the same way.
    demo_board.board.add_notices(3)
    await _worker_crawl(database, settings, admin, by_worker)
    assert _cli_crawl(settings, demo_board, receiver, by_cli)["progress"]["items_new"] == 3
    events, deliveries = await _alerted(database, by_worker)
    assert len(events) > first
    assert await _alerted(database, by_cli) == (events, deliveries)
