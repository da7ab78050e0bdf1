"""Revision 0004 on data: existing ad-hoc sources get an owner and a full-URL key, alerts get their routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from forest.cli import migrate
from forest.config import Settings
from forest.database import Database
from forest.sources import urls
from tests.plugin import database_name, make_settings, pg_url, recreate_database

# Its own database: it migrates step by step from 0003, so no copy of the migrated template.
TENANCY_DB = database_name("migrations_tenancy")

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


async def _run(settings: Settings, sql: str, rows: list[dict[str, Any]] | None = None) -> list[Any]:
    db = Database.from_settings(settings)
    try:
        async with db.engine.begin() as conn:
            if rows is not None:
                await conn.execute(text(sql), rows)
                return []
            return list((await conn.execute(text(sql))).all())
    finally:
        await db.dispose()


def _seed(settings: Settings) -> None:
    users = [{"id": i, "email": f"u{i}@example.com", "h": "x", "a": i == 3, "t": T0} for i in (1, 2, 3)]
    sources = [  # the old naming: host + path, the query string dropped
        {"id": 10, "name": "url:board.example.kr/bbs/list.do", "u": "http://Board.example.kr:80/bbs/list.do?bbsId=A"},
        {"id": 11, "name": "url:other.example.kr/list", "u": "https://other.example.kr/list"},
        {"id": 12, "name": "url:admin.example.kr/list", "u": "https://admin.example.kr/list"},
        {"id": 13, "name": "Shared board", "u": "https://shared.example.kr/list"},
    ]
    def job_id() -> uuid.UUID | str:
        return uuid.uuid4().hex if settings.is_sqlite else uuid.uuid4()  # SQLite stores UUIDs as hex text

    jobs = [  # source 10: user 1 first, then user 2 got merged into it; 12: by the admin; 11: no job
        {"id": job_id(), "u": 1, "s": 10, "t": T0}, {"id": job_id(), "u": 2, "s": 10, "t": T0 + dt.timedelta(1)},
        {"id": job_id(), "u": 3, "s": 12, "t": T0},
    ]
    alerts = [{"id": 1, "u": 1, "f": json.dumps({"department": ["산불방지과", "목재산업과"]})},
              {"id": 2, "u": 2, "f": json.dumps({"source_id": [13], "department": ["산불방지과"]})},
              {"id": 3, "u": 2, "f": json.dumps({"q": "숲"})}]

    async def run() -> None:
        await _run(settings, 'INSERT INTO "user" (id, email, password_hash, is_admin, created_at) '
                             "VALUES (:id, :email, :h, :a, :t)", users)
        await _run(settings, "INSERT INTO source (id, name, start_url, max_pages, timezone, polite, enabled, created_at)"
                             " VALUES (:id, :name, :u, 10, 'Asia/Seoul', true, false, '2026-11-01')", sources)
        await _run(settings, "INSERT INTO crawl_job (id, user_id, source_id, url, max_pages, state, pages_done, "
                             "items_seen, items_new, items_updated, errors, attempt, cancel_requested, last_seq, "
                             "created_at) VALUES (:id, :u, :s, 'http://x', 1, 'succeeded', 0, 0, 0, 0, 0, 1, false, "
                             "1, :t)", jobs)
        await _run(settings, "INSERT INTO bid (source_id, external_id, title, department, views, post_date, url, "
                             "attachments, content_hash, first_seen_at, updated_at) VALUES (10, '1', 't', 'd', 0, "
                             "'2026-11-01', 'http://x', '[]', 'h', '2026-11-01', '2026-11-01')", [{}])
        await _run(settings, "INSERT INTO alert (id, user_id, name, filters, webhook_secret, created_at) "
                             "VALUES (:id, :u, 'a', :f, 'whsec_x', '2026-11-01')", alerts)

    asyncio.run(run())


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_0004_gives_adhoc_sources_owners_and_keys_and_alerts_routes(backend: str, tmp_path: Path) -> None:
    if backend == "postgres":
        asyncio.run(recreate_database(TENANCY_DB))
        url = pg_url(TENANCY_DB)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    settings = make_settings(url, tmp_path)
    migrate.upgrade("0003", settings)
    _seed(settings)
    migrate.upgrade("head", settings)

    rows = asyncio.run(_run(settings, "SELECT id, name, owner_id, url_key, enabled FROM source ORDER BY id"))
    by_id = {r[0]: r for r in rows}
    board = urls.normalise("http://Board.example.kr:80/bbs/list.do?bbsId=A")
    assert board == "http://board.example.kr/bbs/list.do?bbsId=A"
    assert by_id[10][1:] == (f"url:u1:{board}", 1, urls.key(board), True)  # its first job's user owns it
    assert by_id[11][2] is None and by_id[11][3] == urls.key("https://other.example.kr/list")  # untraceable: shared
    assert by_id[12][1:3] == ("url:https://admin.example.kr/list", None)  # an admin's: shared
    assert by_id[13][1:] == ("Shared board", None, None, False)  # an admin's source is untouched
    # Nothing lost on the way (SQLite rebuilds the source table).
    assert asyncio.run(_run(settings, "SELECT count(*) FROM bid WHERE source_id = 10"))[0][0] == 1
    assert asyncio.run(_run(settings, "SELECT count(*) FROM crawl_job WHERE source_id IS NOT NULL"))[0][0] == 3
    routes = asyncio.run(_run(settings, "SELECT alert_id, kind, value FROM alert_route ORDER BY alert_id, kind, value"))
    assert [tuple(r) for r in routes] == [(1, "department", "목재산업과"), (1, "department", "산불방지과"),
                                         (2, "source", "13"), (3, "any", "")]
    migrate.check(settings)
    migrate.downgrade("0003", settings)
    migrate.upgrade("head", settings)
    migrate.check(settings)
    assert asyncio.run(_run(settings, "SELECT count(*) FROM bid WHERE source_id = 10"))[0][0] == 1
