"""A PostgreSQL database for plan tests: migrated to head, seeded once, statistics from every row.

The statistics are exact (ANALYZE samples 30,000 rows per table by default and no table here is bigger),
so the planner sees the same numbers on every run and machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from forest.bids.seed import seed_bids
from forest.database import Database
from tests.plugin import database_name, fresh_pg_database, make_settings

PLANS_DB = database_name("plans")
TODAY = dt.date(2026, 11, 26)
N_BIDS = 30_000

# Enough rows in the other lists' tables for an index to beat a scan: 20 busy users with 1,000 jobs and
# 1,000 alerts each (a per-user list must stay an index walk however much one user has), each job with
# one event, 10 alerts with 2,000 webhook deliveries each.
_OTHERS = [
    """INSERT INTO "user" (email, password_hash, is_admin, created_at)
       SELECT 'user' || g || '@example.com', 'x', false, now() FROM generate_series(1, 2000) g""",
    """INSERT INTO source (name, start_url, max_pages, timezone, polite, enabled, created_at)
       SELECT 'board ' || g, 'https://board.example.kr/' || g, 10, 'Asia/Seoul', true, g % 2 = 0, now()
       FROM generate_series(1, 5000) g""",
    """INSERT INTO alert (user_id, name, filters, webhook_secret, created_at)
       SELECT 1 + g % 20, 'alert ' || g, '{}', 'whsec_x', now() FROM generate_series(1, 20000) g""",
    """INSERT INTO crawl_job (id, user_id, url, max_pages, state, pages_done, items_seen, items_new, items_updated,
                             errors, attempt, cancel_requested, last_seq, created_at)
       SELECT gen_random_uuid(), 1 + g % 20, 'https://board.example.kr/', 10,
              (ARRAY['succeeded', 'failed', 'cancelled', 'succeeded', 'running'])[1 + g % 5], 0, 0, 0, 0, 0, 1,
              false, 0, timestamptz '2026-11-26' - g * interval '1 minute'
       FROM generate_series(1, 20000) g""",
    """INSERT INTO job_event (user_id, job_id, type, seq, data, at)
       SELECT j.user_id, j.id, 'job.progress', s, '{}', j.created_at FROM crawl_job j, generate_series(1, 1) s""",
    """INSERT INTO webhook_delivery (id, alert_id, url, payload, bid_count, state, attempts, next_attempt_at,
                                    created_at)
       SELECT gen_random_uuid(), 1 + g % 10, 'https://hooks.example.com/', '{}', 1, 'delivered', 1,
              timestamptz '2026-11-26', timestamptz '2026-11-26' - g * interval '1 second'
       FROM generate_series(1, 20000) g""",
]


async def _seed(db: Database) -> None:
    async with db.sessionmaker() as session:
        await seed_bids(session=session, n=N_BIDS, sources=5, seed=1, today=TODAY)
    async with db.engine.begin() as conn:
        for statement in _OTHERS:
            await conn.execute(text(statement))
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))


@pytest.fixture(scope="session")
def plans_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The seeded plan-test database (its own name per engineer, from FOREST_TEST_PG_DB)."""
    var: Path = tmp_path_factory.mktemp("plans")
    url = fresh_pg_database(PLANS_DB)
    settings = make_settings(url, var)

    async def run() -> None:
        db = Database.from_settings(settings)
        try:
            await _seed(db)
        finally:
            await db.dispose()

    asyncio.run(run())
    return url


@pytest.fixture
async def plans_db(plans_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The seeded database's engine for this test."""
    db = Database.from_settings(make_settings(plans_url, tmp_path))
    yield db
    await db.dispose()
