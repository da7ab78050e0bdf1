"""The fixtures plugin's isolation: between tests every table is emptied, whichever tables the migrations made."""

from __future__ import annotations

import asyncpg

from tests.plugin import blocking, database_name, empty_every_table, fresh_pg_database, recreate_database

_ROWS = [
    """INSERT INTO "user" (email, password_hash, is_admin, created_at) VALUES ('a@example.com', 'x', false, now())""",
    """INSERT INTO alert (user_id, name, filters, webhook_secret, created_at) VALUES (1, 'a', '{}', 'whsec_x', now())""",
    """INSERT INTO webhook_delivery (id, alert_id, url, payload, bid_count, state, attempts, next_attempt_at, created_at)
       VALUES (gen_random_uuid(), 1, 'https://hooks.example.com/', '{}', 1, 'pending', 0, now(), now())""",
    # A table a later migration adds, which no list in the tests names.
    "CREATE TABLE future_table (id bigserial PRIMARY KEY, note text)",
    "INSERT INTO future_table (note) VALUES ('left behind?')",
]


async def _fill_empty_and_count(url: str) -> tuple[dict[str, int], int, int]:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        for statement in _ROWS:
            await conn.execute(statement)
    finally:
        await conn.close()
    await empty_every_table(url)
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'")]
        counts = {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}
        versions = int(await conn.fetchval("SELECT count(*) FROM alembic_version"))
        next_id = int(await conn.fetchval("INSERT INTO future_table (note) VALUES ('x') RETURNING id"))
    finally:
        await conn.close()
    return counts, versions, next_id


def test_empty_every_table_leaves_no_row_in_any_table_and_keeps_the_schema_version() -> None:
    name = database_name("isolation")
    url = fresh_pg_database(name)
    try:
        counts, versions, next_id = blocking(_fill_empty_and_count(url))
    finally:
        blocking(recreate_database(name, drop_only=True))
    assert {"user", "alert", "webhook_delivery", "future_table"} <= set(counts)
    assert {t: n for t, n in counts.items() if n} == {}
    assert versions == 1
    assert next_id == 1  # sequences restart too
