"""Migrations: upgrade, downgrade and upgrade again on both backends, and models that match them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect

from forest.cli import migrate
from forest.database import Database
from tests.conftest import _recreate_pg, make_settings, pg_url


def _tables(settings) -> set[str]:  # type: ignore[no-untyped-def]
    async def run() -> set[str]:
        db = Database.from_settings(settings)
        try:
            async with db.engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_upgrade_downgrade_upgrade_and_models_agree(backend: str, tmp_path: Path) -> None:
    if backend == "postgres":
        asyncio.run(_recreate_pg("forest_test_migrations"))
        url = pg_url("forest_test_migrations")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    settings = make_settings(url, tmp_path)
    migrate.upgrade("head", settings)
    assert {"user", "source", "bid", "crawl_job", "job_event", "alert", "idempotency_key"} <= _tables(settings)
    migrate.check(settings)  # raises if autogenerate finds any difference
    migrate.downgrade("base", settings)
    assert _tables(settings) <= {"alembic_version"}
    migrate.upgrade("head", settings)
    migrate.check(settings)


def test_sqlite_rebuild_to_autoincrement_keeps_every_row_and_reference(tmp_path: Path) -> None:
    """0005 copies user, source, alert, bid and job_event into AUTOINCREMENT tables: nothing may cascade away."""
    import sqlite3

    db = tmp_path / "m.db"
    settings = make_settings(f"sqlite+aiosqlite:///{db}", tmp_path)
    migrate.upgrade("0003", settings)
    conn = sqlite3.connect(db)
    conn.executescript("""
        PRAGMA foreign_keys=ON;
        INSERT INTO user (id, email, password_hash, is_admin, created_at)
            VALUES (1, 'a@example.com', 'h', 0, '2026-01-01'), (2, 'b@example.com', 'h', 0, '2026-01-01');
        INSERT INTO source (id, name, start_url, max_pages, timezone, polite, enabled, created_at)
            VALUES (4, 'board', 'http://board.example/', 5, 'UTC', 1, 1, '2026-01-01');
        INSERT INTO bid (id, source_id, external_id, title, department, views, post_date, url, attachments,
                         content_hash, first_seen_at, updated_at)
            VALUES (9, 4, 'n1', 't', 'd', 1, '2026-01-01', 'http://board.example/1', '[]', 'c', '2026-01-01',
                    '2026-01-01');
        INSERT INTO alert (id, user_id, name, filters, webhook_secret, created_at)
            VALUES (7, 2, 'a', '{"source_id": [4]}', 'whsec_x', '2026-01-01');
        INSERT INTO job_event (id, user_id, alert_id, type, data, at)
            VALUES (5, 2, 7, 'bid.new', '{}', '2026-01-01');
    """)
    conn.commit()
    conn.close()

    migrate.upgrade("head", settings)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys=ON")
    assert conn.execute("SELECT id, token_version FROM user ORDER BY id").fetchall() == [(1, 0), (2, 0)]
    assert conn.execute("SELECT id, source_id FROM bid").fetchall() == [(9, 4)]
    assert conn.execute("SELECT id, user_id FROM alert").fetchall() == [(7, 2)]
    assert conn.execute("SELECT id, alert_id FROM job_event").fetchall() == [(5, 7)]
    for table in ("user", "source", "alert", "bid", "job_event"):
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        assert "AUTOINCREMENT" in sql, sql
    conn.execute("DELETE FROM user WHERE id = 2")
    conn.execute("INSERT INTO user (email, password_hash, is_admin, created_at) VALUES ('c@example.com', 'h', 0, 'x')")
    assert conn.execute("SELECT id FROM user WHERE email = 'c@example.com'").fetchone() == (3,)
    conn.commit()
    conn.close()
    migrate.check(settings)
    migrate.downgrade("0003", settings)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT id FROM user ORDER BY id").fetchall() == [(1,), (3,)]
    assert conn.execute("SELECT count(*) FROM bid").fetchone() == (1,)
    conn.close()
