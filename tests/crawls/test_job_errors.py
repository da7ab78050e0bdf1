"""A board's bad answer fails its job once with the reason; a lost database is retried (the worker's runner)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from forest.config import Settings
from forest.crawls import runner
from forest.crawls.models import CrawlJob, JobEvent
from forest.database import Database, utcnow
from forest.demo_site.testing import DemoSite, running_demo_site
from forest.sources.models import Source
from forest.users.models import User
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def board(demo_boards: Callable[..., DemoSite]) -> DemoSite:
    """A small demo board on 127.0.0.1."""
    return demo_boards(notices=30, seed=3)


@pytest.fixture(scope="module")
def board_v6() -> Iterator[DemoSite]:
    """A small demo board on IPv6 loopback (this machine has ::1)."""
    with running_demo_site(notices=30, seed=4, host="::1") as site:
        yield site


def _settings(settings: Settings, tmp_path: Path, *boards: DemoSite) -> Settings:
    return make_settings(settings.database_url, tmp_path,
                         crawl_allow_hosts=[urlsplit(b.base_url).netloc for b in boards])


async def _job(db: Database, url: str, *, encoding: str | None = None) -> uuid.UUID:
    """A queued job on a new demo-board source (written directly, as a source saved before today's checks)."""
    async with db.sessionmaker() as session:
        user = User(email=f"u{uuid.uuid4().hex[:8]}@example.com", password_hash="x", is_admin=False,
                    created_at=utcnow())
        source = Source(name=f"board-{uuid.uuid4().hex[:8]}", start_url=url, preset="demo_board", encoding=encoding,
                        max_pages=5, timezone="Asia/Seoul", polite=False, delay_seconds=0.0, enabled=True,
                        created_at=utcnow())
        session.add_all([user, source])
        await session.flush()
        job = CrawlJob(user_id=user.id, source_id=source.id, url=url, max_pages=5, state="queued", created_at=utcnow())
        session.add(job)
        await session.commit()
        return job.id


async def _ended(db: Database, job_id: uuid.UUID) -> tuple[CrawlJob, list[JobEvent]]:
    async with db.sessionmaker() as session:
        job = await session.get(CrawlJob, job_id)
        assert job is not None
        events = list((await session.scalars(select(JobEvent).where(JobEvent.job_id == job_id)
                                             .order_by(JobEvent.seq))).all())
        return job, events


async def _fails_once(db: Database, settings: Settings, job_id: uuid.UUID, reason: str) -> None:
    outcome = await runner.run_job(settings, job_id)

    assert (outcome.state, outcome.requeue) == ("failed", False)
    job, events = await _ended(db, job_id)
    assert (job.state, job.attempt) == ("failed", 1)
    assert job.error is not None and reason in job.error
    assert [e.type for e in events] == ["job.started", "job.failed"]
    assert events[-1].data["error"] == job.error
    assert await runner.run_job(settings, job_id) == runner.Outcome(state=None)  # a redelivery changes nothing


async def test_board_declaring_charset_base64_fails_its_job_once(
    database: Database, settings: Settings, tmp_path: Path, board: DemoSite,
) -> None:
    board.board.reset()
    board.board.set_fault("bad_charset", charset="base64")
    job_id = await _job(database, board.url("/kfs/bid/list.do"))
    await _fails_once(database, _settings(settings, tmp_path, board), job_id,
                      "cannot decode the page: the Content-Type charset 'base64' is not a text encoding")


async def test_source_with_a_non_text_encoding_fails_its_job_once(
    database: Database, settings: Settings, tmp_path: Path, board: DemoSite,
) -> None:
    board.board.reset()
    job_id = await _job(database, board.url("/kfs/bid/list.do"), encoding="rot13")
    await _fails_once(database, _settings(settings, tmp_path, board), job_id,
                      "the configured encoding 'rot13' is not a text encoding")


async def test_ipv6_literal_url_not_allow_listed_fails_its_job_once(
    database: Database, settings: Settings, tmp_path: Path, board_v6: DemoSite,
) -> None:
    job_id = await _job(database, board_v6.url("/kfs/bid/list.do"))
    port = urlsplit(board_v6.base_url).port
    await _fails_once(database, _settings(settings, tmp_path), job_id,
                      f"port {port} is not allowed; only 80 and 443 unless [::1]:{port} is allow-listed")


async def test_allow_listed_ipv6_literal_url_is_crawled(
    database: Database, settings: Settings, tmp_path: Path, board_v6: DemoSite,
) -> None:
    board_v6.board.reset()
    job_id = await _job(database, board_v6.url("/kfs/bid/list.do"))

    outcome = await runner.run_job(_settings(settings, tmp_path, board_v6), job_id)

    assert outcome.state == "succeeded"
    job, _ = await _ended(database, job_id)
    assert (job.attempt, job.error, job.items_new) == (1, None, len(board_v6.board.notices) + len(board_v6.board.pinned))


async def test_database_timing_out_is_retried_not_failed(pg_migrated: str, tmp_path: Path, board: DemoSite) -> None:
    # PostgreSQL only: a table held locked by another session makes every read of it run into the statement
    # timeout, as an overloaded database does (SQLite would wait its 10 s busy timeout).
    settings = make_settings(pg_migrated, tmp_path, crawl_allow_hosts=[urlsplit(board.base_url).netloc],
                             db_statement_timeout_ms=300)
    board.board.reset()
    db = Database.from_settings(settings)
    locker = await asyncpg.connect(pg_migrated.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        job_id = await _job(db, board.url("/kfs/bid/list.do"))
        async with locker.transaction():
            await locker.execute("LOCK TABLE bid IN ACCESS EXCLUSIVE MODE")
            outcome = await asyncio.wait_for(runner.run_job(settings, job_id), 60)

        assert (outcome.state, outcome.requeue) == ("queued", True)
        job, events = await _ended(db, job_id)
        assert (job.state, job.attempt) == ("queued", 1)
        assert job.error is not None and "statement timeout" in job.error
        assert [e.type for e in events] == ["job.started"]

        assert (await runner.run_job(settings, job_id)).state == "succeeded"  # the next delivery, lock released
        job, _ = await _ended(db, job_id)
        assert (job.attempt, job.items_new) == (2, len(board.board.notices) + len(board.board.pinned))
    finally:
        await locker.close()
        await db.dispose()


@pytest.mark.parametrize(("exc", "retried"), [
    (sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused")), True),
    (sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")), True),
    (sa_exc.TimeoutError("QueuePool limit reached"), True),
    (ConnectionResetError("reset by peer"), True),
    (asyncpg.PostgresConnectionError("server closed the connection"), True),
    (RedisConnectionError("Redis down"), True),
    (sa_exc.DataError("INSERT", {}, Exception("invalid byte sequence for encoding UTF8: 0x00")), False),
    (sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
    (LookupError("'base64' is not a text encoding"), False),
    (ValueError("a board's odd answer"), False),
])
def test_only_the_services_own_failures_are_retried(exc: Exception, retried: bool) -> None:
    assert runner.is_infrastructure(exc) is retried
