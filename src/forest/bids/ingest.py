"""The database sink of the crawler: crawled notices into the `bid` table, idempotently."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, case, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forest.backends import backend_of
from forest.bids.models import Bid, BidDetail
from forest.crawler.parse import Notice
from forest.crawler.store import KnownNotice, UpsertResult
from forest.database import utcnow

# Rows per statement of `upsert_rows`: far below the bind-parameter limits of asyncpg (32767) and SQLite (32766).
_CHUNK = 500
# The list-facing tender facts (forest.crawler.facts) copied onto `bid`; they change with the body, i.e.
# only on a real edit.
FACT_COLUMNS = ("closes_at", "opens_at", "amount", "amount_kind", "currency", "category", "contract_method")
MAX_AMOUNT = 10**18  # bid.amount is NUMERIC(20, 2)
_CONTENT_COLUMNS = ("title", "department", "post_date", "url", "attachments", "content_hash", *FACT_COLUMNS)
# What an upsert writes only on a real edit (the content hash moved), on both paths: a views-only tick never
# bumps updated_at.
_ON_EDIT = (*_CONTENT_COLUMNS, "updated_at")

# PostgreSQL: the whole batch in one statement, one array parameter per column, whatever the batch size.
# `stored` reads the hashes in the statement's snapshot, i.e. before its own writes, so new vs updated
# is decided exactly as on SQLite (hashes read first in the same transaction). It probes the unique
# index row by row (LATERAL): with `external_id = ANY(array)` and statistics from before a burst of
# inserts, the planner scanned every row of the source for each batch (~6x slower at 40,000 rows).
# The DO UPDATE sets the columns of `_ON_EDIT` only when the content hash moved, as `upsert_rows` does.
# The DO UPDATE's WHERE skips rows where nothing at all changed, so a re-run writes no row versions
# (and no index entries, the trigram GIN's included).
_PG_UPSERT = text(
    """
WITH batch AS (
    SELECT * FROM unnest(
        CAST(:external_id AS text[]), CAST(:title AS text[]), CAST(:department AS text[]),
        CAST(:views AS integer[]), CAST(:post_date AS date[]), CAST(:url AS text[]),
        CAST(:attachments AS text[]), CAST(:content_hash AS text[]),
        CAST(:closes_at AS timestamptz[]), CAST(:opens_at AS timestamptz[]), CAST(:amount AS numeric[]),
        CAST(:amount_kind AS text[]), CAST(:currency AS text[]), CAST(:category AS text[]),
        CAST(:contract_method AS text[])
    ) AS b(external_id, title, department, views, post_date, url, attachments, content_hash,
           closes_at, opens_at, amount, amount_kind, currency, category, contract_method)
), stored AS (
    SELECT batch.external_id, found.content_hash FROM batch CROSS JOIN LATERAL (
        SELECT content_hash FROM bid
        WHERE bid.source_id = CAST(:source_id AS bigint) AND bid.external_id = batch.external_id
    ) AS found
), written AS (
    INSERT INTO bid AS bid (source_id, external_id, title, department, views, post_date, url, attachments,
                            content_hash, first_seen_at, updated_at,
                            closes_at, opens_at, amount, amount_kind, currency, category, contract_method)
    SELECT CAST(:source_id AS bigint), external_id, title, department, views, post_date, url,
           CAST(attachments AS jsonb), content_hash, CAST(:now AS timestamptz), CAST(:now AS timestamptz),
           closes_at, opens_at, amount, amount_kind, currency, category, contract_method
    FROM batch
    ON CONFLICT (source_id, external_id) DO UPDATE SET
        views = excluded.views,
        {on_edit}
    WHERE bid.views IS DISTINCT FROM excluded.views OR bid.content_hash IS DISTINCT FROM excluded.content_hash
    RETURNING bid.id, bid.external_id, bid.content_hash
)
SELECT written.id, written.external_id, stored.content_hash IS NULL AS is_new
FROM written LEFT JOIN stored ON stored.external_id = written.external_id
WHERE stored.content_hash IS DISTINCT FROM written.content_hash
""".replace("{on_edit}", ",\n        ".join(
        f"{column} = CASE WHEN bid.content_hash IS DISTINCT FROM excluded.content_hash "
        f"THEN excluded.{column} ELSE bid.{column} END" for column in _ON_EDIT))
)
# Views of rows that were listed but not re-fetched; rows whose count did not move are not written.
_PG_VIEWS = text(
    """
UPDATE bid SET views = ticks.views
FROM unnest(CAST(:external_id AS text[]), CAST(:views AS integer[])) AS ticks(external_id, views)
WHERE bid.source_id = CAST(:source_id AS bigint) AND bid.external_id = ticks.external_id
  AND bid.views IS DISTINCT FROM ticks.views
"""
)


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


def fact_values(notice: Notice) -> dict[str, Any]:
    """The `FACT_COLUMNS` of a notice (all None when it has no facts)."""
    found = notice.facts
    if found is None:
        return dict.fromkeys(FACT_COLUMNS)
    # Out-of-range values (a run of digits read as an amount, an overlong method name) would fail the
    # whole batch in the database; the column stays empty and bid_detail keeps what was read.
    amount = found.amount if found.amount is not None and abs(found.amount) < MAX_AMOUNT else None
    method = found.contract_method if found.contract_method and len(found.contract_method) <= 40 else None
    return {"closes_at": found.closes_at, "opens_at": found.opens_at, "amount": amount,
            "amount_kind": found.amount_kind, "currency": found.currency, "category": found.category,
            "contract_method": method}


def _row(source_id: int, notice: Notice, now: dt.datetime) -> dict[str, Any]:
    return {
        **fact_values(notice),
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

    New and updated are decided against the hashes stored before the batch, in the same transaction,
    so the answer is the same on PostgreSQL and SQLite, and re-running a batch reports nothing.
    """
    batch = list({n.external_id: n for n in notices}.values())
    in_batch = {n.external_id for n in batch}
    ticks = {external_id: count for external_id, count in (views or {}).items() if external_id not in in_batch}
    if backend_of(session).array_batches:
        return await _upsert_postgresql(session, source_id, batch, ticks)
    return await upsert_rows(session, source_id, batch, ticks)


async def _upsert_postgresql(
    session: AsyncSession, source_id: int, batch: list[Notice], ticks: Mapping[str, int]
) -> UpsertResult:
    result = UpsertResult()
    if batch:
        rows = await session.execute(
            _PG_UPSERT,
            {
                "source_id": source_id,
                "now": utcnow(),
                "external_id": [n.external_id for n in batch],
                "title": [n.title for n in batch],
                "department": [n.department for n in batch],
                "views": [n.views for n in batch],
                "post_date": [n.post_date for n in batch],
                "url": [n.url for n in batch],
                "attachments": [_attachments_json(n) for n in batch],
                "content_hash": [n.content_hash for n in batch],
                **{name: [fact_values(n)[name] for n in batch] for name in FACT_COLUMNS},
            },
        )
        written = {external_id: (bid_id, is_new) for bid_id, external_id, is_new in rows}
        for notice in batch:
            if (hit := written.get(notice.external_id)) is not None:
                bid_id, is_new = hit
                (result.new if is_new else result.updated).append(notice)
                (result.new_ids if is_new else result.updated_ids).append(bid_id)
        await write_details(session, result)
    if ticks:
        await session.execute(
            _PG_VIEWS, {"source_id": source_id, "external_id": list(ticks), "views": list(ticks.values())}
        )
    return result


def _attachments_json(notice: Notice) -> str:
    return json.dumps([{"name": a.name, "url": a.url} for a in notice.attachments], ensure_ascii=False)


async def upsert_rows(
    session: AsyncSession, source_id: int, batch: list[Notice], ticks: Mapping[str, int]
) -> UpsertResult:
    """The portable path (SQLite; on PostgreSQL the crawl benchmark's baseline): stored hashes first,
    then multi-row INSERT … ON CONFLICT with bind parameters per row. `batch` has unique ids and
    `ticks` none of them."""
    table = _table()
    now = utcnow()
    known = await known_notices(session, source_id, [*(n.external_id for n in batch), *ticks])
    insert = backend_of(session).insert
    result = UpsertResult()
    if batch:
        ids: dict[str, int] = {}
        for chunk in _chunks(batch):
            stmt = insert(table).values([_row(source_id, n, now) for n in chunk])
            changed = table.c.content_hash.is_distinct_from(stmt.excluded.content_hash)
            # One statement for both cases: views always, the rest only on a real edit (`_ON_EDIT`).
            assignments: dict[str, Any] = {"views": stmt.excluded.views}
            for column in _ON_EDIT:
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
        await write_details(session, result)
    changed_views = [
        {"b_source_id": source_id, "b_external_id": external_id, "b_views": count}
        for external_id, count in ticks.items()
        if external_id in known and known[external_id].views != count
    ]
    if changed_views:
        await session.execute(
            update(table)
            .where(
                table.c.source_id == bindparam("b_source_id"),
                table.c.external_id == bindparam("b_external_id"),
            )
            .values(views=bindparam("b_views")),
            changed_views,
        )
    return result


async def write_details(session: AsyncSession, result: UpsertResult) -> None:
    """Store the body and facts of every new or edited notice of a batch in `bid_detail`.

    Only rows whose content changed get here, so a views tick never rewrites a body. An edit that came
    without a body (a crawl without detail pages) empties the old one, which no longer matches the row; the
    row itself stays, as every bid has one (it carries the title `q` searches, see migration 0006).
    """
    table = BidDetail.__table__
    assert isinstance(table, Table)
    written = list(zip([*result.new_ids, *result.updated_ids], [*result.new, *result.updated], strict=True))
    rows = [{"bid_id": bid_id, "title": n.title, "body": n.body,
             "facts": n.facts.to_json() if n.facts is not None else {}}
            for bid_id, n in written if n.body is not None]
    bodiless = [bid_id for bid_id, n in zip(result.updated_ids, result.updated, strict=True) if n.body is None]
    if bodiless:
        await session.execute(update(table).where(table.c.bid_id.in_(bodiless)).values(body="", facts={}))
    insert = backend_of(session).insert
    # Four columns a row: 500 rows are far below either driver's bind-parameter limit.
    for chunk in _chunks(rows):
        stmt = insert(table).values(list(chunk))
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["bid_id"], set_={"body": stmt.excluded.body, "facts": stmt.excluded.facts}))


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
