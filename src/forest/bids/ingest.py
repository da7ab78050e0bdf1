"""The database sink of the crawler: crawled notices into the `bid` table, idempotently."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forest.bids.models import Bid
from forest.crawler.parse import Notice
from forest.crawler.store import KnownNotice, UpsertResult
from forest.database import utcnow

# Rows per statement: far below the bind-parameter limits of asyncpg (32767) and SQLite (32766).
_CHUNK = 500
_CONTENT_COLUMNS = ("title", "department", "post_date", "url", "attachments", "content_hash")


def _table() -> Table:
    table = Bid.__table__
    assert isinstance(table, Table)
    return table


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


async def known_notices(session: AsyncSession, source_id: int, external_ids: Sequence[str]) -> dict[str, KnownNotice]:
    """The stored state of those of `external_ids` that exist for this source."""
    found: dict[str, KnownNotice] = {}
    for chunk in _chunks(list(dict.fromkeys(external_ids))):
        rows = await session.execute(
            select(Bid.external_id, Bid.content_hash, Bid.post_date, Bid.views, Bid.title, Bid.department).where(
                Bid.source_id == source_id, Bid.external_id.in_(chunk)
            )
        )
        for external_id, content_hash, post_date, views, title, department in rows:
            found[external_id] = KnownNotice(
                content_hash=content_hash, post_date=post_date, views=views, title=title, department=department
            )
    return found


def _row(source_id: int, notice: Notice, now: dt.datetime) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "external_id": notice.external_id,
        "title": notice.title,
        "department": notice.department,
        "views": notice.views,
        "post_date": notice.post_date,
        "url": notice.url,
        "attachments": [{"name": a.name, "url": a.url} for a in notice.attachments],
        "content_hash": notice.content_hash,
        "first_seen_at": now,
        "updated_at": now,
    }


async def upsert_notices(
    session: AsyncSession,
    source_id: int,
    notices: Sequence[Notice],
    *,
    views: Mapping[str, int] | None = None,
) -> UpsertResult:
    """Insert or update a batch inside the caller's transaction; views refresh without counting as an edit.

    New and updated are decided against the hashes read first in the same transaction, so the
    answer is the same on PostgreSQL and SQLite, and re-running a batch reports nothing.
    """
    table = _table()
    now = utcnow()
    batch = list({n.external_id: n for n in notices}.values())
    known = await known_notices(session, source_id, [*(n.external_id for n in batch), *(views or {})])
    result = UpsertResult()
    if batch:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        ids: dict[str, int] = {}
        for chunk in _chunks(batch):
            stmt = insert(table).values([_row(source_id, n, now) for n in chunk])
            changed = table.c.content_hash.is_distinct_from(stmt.excluded.content_hash)
            # One statement for both cases: views always, content columns only on a real edit, so a
            # views-only tick never bumps updated_at.
            assignments: dict[str, Any] = {"views": stmt.excluded.views}
            for column in (*_CONTENT_COLUMNS, "updated_at"):
                assignments[column] = case((changed, stmt.excluded[column]), else_=table.c[column])
            stmt = stmt.on_conflict_do_update(index_elements=["source_id", "external_id"], set_=assignments)
            rows = await session.execute(stmt.returning(table.c.id, table.c.external_id))
            ids.update({external_id: bid_id for bid_id, external_id in rows})
        for notice in batch:
            old = known.get(notice.external_id)
            if old is None:
                result.new.append(notice)
                result.new_ids.append(ids[notice.external_id])
            elif old.content_hash != notice.content_hash:
                result.updated.append(notice)
                result.updated_ids.append(ids[notice.external_id])
    in_batch = {n.external_id for n in batch}
    ticks = [
        {"b_source_id": source_id, "b_external_id": external_id, "b_views": count}
        for external_id, count in (views or {}).items()
        if external_id not in in_batch and external_id in known and known[external_id].views != count
    ]
    if ticks:
        await session.execute(
            update(table)
            .where(
                table.c.source_id == bindparam("b_source_id"),
                table.c.external_id == bindparam("b_external_id"),
            )
            .values(views=bindparam("b_views")),
            ticks,
        )
    return result


class DbNoticeStore:
    """The NoticeStore of one source, one short transaction per call."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], source_id: int) -> None:
        self._sessionmaker = sessionmaker
        self.source_id = source_id

    async def known(self, external_ids: Sequence[str]) -> Mapping[str, KnownNotice]:
        """The stored state of those of `external_ids` that are stored."""
        async with self._sessionmaker() as session:
            return await known_notices(session, self.source_id, external_ids)

    async def newest_post_date(self) -> dt.date | None:
        """The newest stored post date of this source."""
        async with self._sessionmaker() as session:
            newest: dt.date | None = await session.scalar(
                select(func.max(Bid.post_date)).where(Bid.source_id == self.source_id)
            )
            return newest

    async def upsert(self, notices: Sequence[Notice], *, views: Mapping[str, int] | None = None) -> UpsertResult:
        """Upsert one page's batch in one transaction."""
        async with self._sessionmaker() as session, session.begin():
            return await upsert_notices(session, self.source_id, notices, views=views)
