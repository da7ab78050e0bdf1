"""Fixtures for the crawler tests: the demo board on 127.0.0.1 and scratch databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from crawler_support import fresh_tables
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import forest.models  # noqa: F401 - registers every table on Base.metadata
from forest.demo_site.testing import DemoSite, running_demo_site
from forest.sources.models import Source
from tests.conftest import PG_ADMIN_DSN, _recreate_pg, pg_url

PG_SCRATCH_DB = "forest_crawler_test"
DEMO_NOTICES = 120


@pytest.fixture(scope="session")
def demo_site() -> Iterator[DemoSite]:
    """One demo board for the whole session; tests get it reset."""
    with running_demo_site(notices=DEMO_NOTICES, seed=7) as site:
        yield site


@pytest.fixture
def demo(demo_site: DemoSite) -> DemoSite:
    """The demo board, freshly reset (notices, faults, counters, robots.txt)."""
    demo_site.board.reset()
    return demo_site


def _in_own_loop(work: Coroutine[Any, Any, None]) -> None:
    # Its own thread and loop: the fixture may be set up from inside a running test loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work).result()


@pytest.fixture(scope="module")
def pg_scratch_url() -> Iterator[str]:
    """A scratch PostgreSQL database, dropped after the module."""
    try:
        _in_own_loop(_recreate_pg(PG_SCRATCH_DB))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {exc}")
    yield pg_url(PG_SCRATCH_DB)
    _in_own_loop(_recreate_pg(PG_SCRATCH_DB, drop_only=True))


@pytest.fixture(params=["postgresql", "sqlite"])
async def sessionmaker(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Fresh tables on PostgreSQL or SQLite."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_scratch_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'crawler.db'}"
    async with fresh_tables(url, drop_after=True) as maker:
        yield maker


@pytest.fixture
async def source_id(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """One Source row to hang bids on."""
    async with sessionmaker() as session, session.begin():
        source = Source(
            name="산림청 입찰공고", start_url="https://www.forest.go.kr/kfs/bid/list.do", preset="egov_board"
        )
        session.add(source)
        await session.flush()
        return source.id
