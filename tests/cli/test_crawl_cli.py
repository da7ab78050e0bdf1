"""`forest crawl`: a foreground crawl of the demo board into a migrated SQLite file, run as a real process."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from forest.bids.models import Bid
from forest.crawler.presets.demo import DEMO_LIST_PATH
from forest.crawls.models import CrawlJob
from forest.database import Database, utcnow
from forest.demo_site.testing import DemoSite
from forest.sources.models import Source
from forest.users.models import User
from tests.conftest import SECRET, make_settings
from tests.plugin import fresh_sqlite_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(demo_boards: Callable[..., DemoSite]) -> DemoSite:
    """A demo board with 30 notices (three list pages plus pinned notices)."""
    return demo_boards(notices=30, seed=5)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh migrated SQLite database file."""
    return fresh_sqlite_database(tmp_path / "forest.db")


def _run_db(url: str, tmp_path: Path, work: Any) -> Any:
    async def go() -> Any:
        db = Database.from_settings(make_settings(url, tmp_path))
        try:
            async with db.sessionmaker() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(go())


def _forest(demo: DemoSite, url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FOREST_DATABASE_URL": url, "FOREST_CRAWL_ALLOW_HOSTS": urlsplit(demo.base_url).netloc,
           "FOREST_SECRET_KEY": SECRET, "FOREST_VAR_DIR": str(tmp_path), "FOREST_ENVIRONMENT": "local",
           "FOREST_CRAWL_POLITE_DELAY_SECONDS": "0.02"}
    return subprocess.run([sys.executable, "-m", "forest.cli.main", "crawl", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_crawl_cli_source_json_counts_match_the_database(demo: DemoSite, db_url: str, tmp_path: Path) -> None:
    demo.board.reset()

    async def add_source(session: Any) -> int:
        source = Source(name="demo", start_url=demo.url(DEMO_LIST_PATH), preset="demo_board", max_pages=20,
                        timezone="Asia/Seoul", polite=False, enabled=True, created_at=utcnow())
        session.add(source)
        await session.commit()
        return int(source.id)

    source_id = _run_db(db_url, tmp_path, add_source)
    done = _forest(demo, db_url, tmp_path, "--source", str(source_id), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    expected = len(demo.board.notices) + len(demo.board.pinned)
    assert report["ok"] is True and report["source_id"] == source_id
    assert report["stopped_reason"] == "last_page" and report["errors"] == []
    assert report["progress"]["pages_done"] == 3
    assert report["progress"]["items_new"] == expected and report["progress"]["items_updated"] == 0

    async def stored(session: Any) -> tuple[int, int, Any]:
        count = await session.scalar(select(func.count()).select_from(Bid).where(Bid.source_id == source_id))
        with_files = await session.scalar(select(func.count()).select_from(Bid).where(Bid.attachments != "[]"))
        crawled = (await session.get(Source, source_id)).last_crawled_at
        return int(count), int(with_files), crawled

    count, with_files, crawled = _run_db(db_url, tmp_path, stored)
    assert count == expected and with_files > 0  # detail pages were read: attachments are stored
    assert crawled is not None

    demo.board.add_notices(4)
    again = json.loads(_forest(demo, db_url, tmp_path, "--source", str(source_id), "--json").stdout)
    assert again["progress"]["items_new"] == 4 and again["stopped_reason"] in ("caught_up", "last_page")
    assert _run_db(db_url, tmp_path, stored)[0] == expected + 4


def test_crawl_cli_refused_url_fails_with_a_message(demo: DemoSite, db_url: str, tmp_path: Path) -> None:
    done = _forest(demo, db_url, tmp_path, "http://169.254.169.254/latest/meta-data/")
    assert done.returncode == 2
    assert "cannot crawl" in done.stderr and "link-local" in done.stderr
    done = _forest(demo, db_url, tmp_path, "--source", "99", "--json")
    assert done.returncode == 2 and json.loads(done.stdout)["error"] == "source 99 does not exist"
    assert _forest(demo, db_url, tmp_path).returncode == 2


def test_crawl_cli_bare_url_uses_the_ad_hoc_source(demo: DemoSite, db_url: str, tmp_path: Path) -> None:
    demo.board.reset()
    done = _forest(demo, db_url, tmp_path, demo.url(DEMO_LIST_PATH), "--max-pages", "1")
    assert done.returncode == 0, done.stderr
    assert "stopped" in done.stdout and "max_pages" in done.stdout

    async def sources(session: Any) -> list[tuple[str, bool, int | None]]:
        return [(s.name, s.enabled, s.owner_id) for s in (await session.scalars(select(Source))).all()]

    # Keyed by the full URL; the operator's ad-hoc sources are shared, like an admin's.
    assert _run_db(db_url, tmp_path, sources) == [(f"url:{demo.url(DEMO_LIST_PATH)}", True, None)]


def test_crawl_cli_delivers_a_source_s_lost_job_and_leaves_a_live_one_alone(
    demo: DemoSite, db_url: str, tmp_path: Path,
) -> None:
    demo.board.reset()

    async def add_jobs(session: Any) -> tuple[int, int, str, str]:
        admin = User(email="admin@example.com", password_hash="x", is_admin=True, created_at=utcnow())
        lost_source = Source(name="lost", start_url=demo.url(DEMO_LIST_PATH), preset="demo_board", max_pages=1,
                             timezone="Asia/Seoul", polite=False, enabled=True, created_at=utcnow())
        live_source = Source(name="live", start_url=demo.url(DEMO_LIST_PATH), preset="demo_board", max_pages=1,
                             timezone="Asia/Seoul", polite=False, enabled=True, created_at=utcnow())
        session.add_all([admin, lost_source, live_source])
        await session.flush()
        long_ago = utcnow() - dt.timedelta(hours=1)
        jobs = [CrawlJob(id=uuid.uuid4(), user_id=admin.id, source_id=source.id, url=source.start_url, max_pages=1,
                         state="running", attempt=1, last_seq=2, heartbeat_at=beat, started_at=long_ago,
                         created_at=long_ago) for source, beat in ((lost_source, long_ago), (live_source, utcnow()))]
        session.add_all(jobs)
        await session.commit()
        return lost_source.id, live_source.id, str(jobs[0].id), str(jobs[1].id)

    lost_source, live_source, lost_job, live_job = _run_db(db_url, tmp_path, add_jobs)
    # A job whose worker was lost is delivered here: its next attempt crawls the board.
    done = _forest(demo, db_url, tmp_path, "--source", str(lost_source), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["job_id"] == lost_job
    # A live attempt (its heartbeat is fresh) keeps its job: the CLI refuses instead of crawling twice.
    done = _forest(demo, db_url, tmp_path, "--source", str(live_source), "--json")
    assert done.returncode == 2 and live_job in json.loads(done.stdout)["error"]

    async def states(session: Any) -> list[tuple[str, int]]:
        rows = (await session.scalars(select(CrawlJob).order_by(CrawlJob.source_id))).all()
        return [(job.state, job.attempt) for job in rows]

    assert _run_db(db_url, tmp_path, states) == [("succeeded", 2), ("running", 1)]
