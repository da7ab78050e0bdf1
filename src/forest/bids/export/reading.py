"""Planning an export (sort, cursor, fingerprint, where it ends) and reading its rows a chunk at a time by keyset."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from forest.bids.export.model import Export, ExportQuery, Fingerprint
from forest.bids.filters import BidFilters
from forest.bids.models import Bid
from forest.bids.service import BID_KEYSET, apply_filters, fetch_rows
from forest.database import Database, utcnow
from forest.errors import CursorError
from forest.pagination import CursorSigner, PageParams, PagePlan, plan_page, sign_position
from forest.users.models import User

CHUNK_ROWS = 5000
# Chunk queries in flight at once for an export whose bytes the database makes (`parallel_chunks`).
PARALLEL_CHUNKS = 2


async def fingerprint(*, db: Database, filters: BidFilters, salt: str, user: User | None) -> Fingerprint:
    """How many rows are selected, their newest edit and a digest over ids, edits and views: one aggregate
    over the same filtered statement as the list (`apply_filters`), far cheaper than the export itself."""
    stmt = apply_filters(select(func.count(), func.max(Bid.updated_at), func.coalesce(func.sum(Bid.id), 0),
                                func.coalesce(func.sum(Bid.views), 0)), filters, user)
    async with db.sessionmaker() as session:
        count, newest, id_sum, view_sum = (await session.execute(stmt)).one()
    newest_text = newest.isoformat() if newest is not None else ""
    digest = hashlib.sha256(f"{salt}|{count}|{newest_text}|{id_sum}|{view_sum}".encode()).hexdigest()[:32]
    return Fingerprint(count=int(count), last_modified=newest, digest=digest)


async def prepare(
    *, db: Database, user: User | None, query: ExportQuery, signer: CursorSigner, salt: str,
    ocds_prefix: str = "ocds-local-forest",
    ocds_publisher: str = "Forest", uri: str = "",
) -> Export:
    """Check the sort and cursor, take the fingerprint and, with `max_rows`, find where this response ends.

    Every refusal (bad sort, bad or mismatched cursor) happens here, before a byte is sent. `salt` is
    mixed into the ETag: the format and the query string, so one ETag never stands for two bodies.
    """
    filters = query.filters()
    params = PageParams(limit=CHUNK_ROWS, cursor=query.cursor, sort=query.sort, count="none")
    plan = plan_page(BID_KEYSET, params, filters.cursor_binding(), signer)
    if plan.backwards:
        raise CursorError("An export reads forwards: resume it with a `next` cursor, not a `prev` one.")
    export = Export(db=db, user=user, format=query.format, filters=filters, plan=plan, now=utcnow(),
                    fingerprint=await fingerprint(db=db, filters=filters, salt=salt, user=user),
                    ocds_prefix=ocds_prefix, ocds_publisher=ocds_publisher, uri=uri)
    if query.max_rows is not None:
        await _find_boundary(export, query.max_rows, signer)
    return export


def _key(plan: PagePlan, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c.key] for c in plan.cols)


def _after(plan: PagePlan, key: Sequence[Any], boundary: Sequence[Any]) -> bool:
    """Whether position `key` comes after `boundary` in the export's order (nulls last, ties by id)."""
    if len(key) == 1:
        return bool(key[0] < boundary[0] if plan.desc else key[0] > boundary[0])
    (value, id_), (b_value, b_id) = key, boundary
    if (value is None) != (b_value is None):
        return value is None
    if value is not None and value != b_value:
        return bool(value < b_value if plan.desc else value > b_value)
    return bool(id_ < b_id if plan.desc else id_ > b_id)


async def _find_boundary(export: Export, max_rows: int, signer: CursorSigner) -> None:
    """Walk the keys (sort column and id only: an index-only read) to the `max_rows`-th row.

    The body then stops at that position rather than after a count, so rows inserted before it while
    the body streams make the response longer, never leave a gap before the next cursor.
    """
    plan, seen = export.plan, 0
    while True:
        keys = await fetch_rows(db=export.db, filters=export.filters, plan=plan, user=export.user,
                                limit=min(CHUNK_ROWS, max_rows + 1 - seen), columns=plan.cols, now=export.now,
                                as_dicts=False)
        if seen + len(keys) > max_rows:
            boundary = _key(plan, keys[max_rows - seen - 1])
            export.boundary = boundary
            export.next_cursor = sign_position(plan, boundary, signer)
            return
        seen += len(keys)
        if len(keys) < CHUNK_ROWS:
            return  # fewer rows than max_rows: the export is complete
        plan = dataclasses.replace(plan, seek=_key(plan, keys[-1]))


def _cut(plan: PagePlan, rows: list[Any], end: Sequence[Any] | None) -> tuple[list[Any], bool]:
    """`rows` up to position `end` (included; None: no end), and whether any lay beyond it."""
    if end is None or not rows or not _after(plan, _key(plan, rows[-1]), end):
        return rows, False
    cut = next(i for i, row in enumerate(rows) if _after(plan, _key(plan, row), end))
    return rows[:cut], True


async def chunks(export: Export, columns: Sequence[ColumnElement[Any]]) -> AsyncGenerator[list[Any], None]:
    """The selected rows (`columns` and the keyset's), a chunk (one query) at a time, up to the boundary."""
    plan = export.plan
    keys = [c for c in plan.cols if all(c.key != have.key for have in columns)]
    while True:
        rows = await fetch_rows(db=export.db, filters=export.filters, plan=plan, limit=CHUNK_ROWS, user=export.user,
                                columns=[*columns, *keys], now=export.now, as_dicts=False)
        full = len(rows) == CHUNK_ROWS
        rows, past = _cut(plan, rows, export.boundary)
        if rows:
            yield rows
        if not full or past:
            return
        plan = dataclasses.replace(plan, seek=_key(plan, rows[-1]))


async def _spans(export: Export) -> AsyncGenerator[tuple[Any, tuple[Any, ...], int], None]:
    """The export cut into consecutive spans of up to CHUNK_ROWS rows, `(seek, last position, rows)`, by a
    walk over the keys alone (sort column and id: an index-only read, as `_find_boundary`)."""
    plan = export.plan
    while True:
        found = await fetch_rows(db=export.db, filters=export.filters, plan=plan, limit=CHUNK_ROWS,
                                 user=export.user, columns=plan.cols, now=export.now, as_dicts=False)
        full = len(found) == CHUNK_ROWS
        found, past = _cut(plan, found, export.boundary)
        if found:
            yield plan.seek, _key(plan, found[-1]), len(found)
        if not full or past:
            return
        plan = dataclasses.replace(plan, seek=_key(plan, found[-1]))


async def _span_rows(export: Export, columns: Sequence[ColumnElement[Any]], seek: Any, last: tuple[Any, ...],
                     size: int) -> list[Any]:
    """The rows after `seek` up to position `last` (included), whatever was inserted or deleted there since
    the key walk: rows past `last` are cut off, and the read goes on while rows before it keep coming."""
    plan = dataclasses.replace(export.plan, seek=seek)
    keys = [c for c in plan.cols if all(c.key != have.key for have in columns)]
    out: list[Any] = []
    while True:
        rows = await fetch_rows(db=export.db, filters=export.filters, plan=plan, limit=size, user=export.user,
                                columns=[*columns, *keys], now=export.now, as_dicts=False)
        rows, past = _cut(plan, rows, last)
        out.extend(rows)
        if past or len(rows) < size or _key(plan, rows[-1]) == last:
            return out
        plan = dataclasses.replace(plan, seek=_key(plan, rows[-1]))


async def parallel_chunks(export: Export, columns: Sequence[ColumnElement[Any]]) -> AsyncGenerator[list[Any], None]:
    """The rows of `chunks`, in the same order, with up to PARALLEL_CHUNKS chunk queries running at once.

    For exports whose bytes PostgreSQL makes (CSV): the API then does little per row, and one query at a time
    left the export waiting on a single database backend (bench/RESULTS.md, "Export"). The positions where
    chunks end come first from a cheap walk over the keys (`_spans`), so the chunks can be read side by side,
    each on its own pooled connection.
    """
    spans = _spans(export)
    running: collections.deque[asyncio.Task[list[Any]]] = collections.deque()
    try:
        async for span in spans:
            running.append(asyncio.ensure_future(_span_rows(export, columns, *span)))
            if len(running) >= PARALLEL_CHUNKS and (rows := await running.popleft()):
                yield rows
        while running:
            if rows := await running.popleft():
                yield rows
    finally:
        for task in running:
            task.cancel()  # the client went away: stop reading
        await asyncio.gather(*running, return_exceptions=True)
        await spans.aclose()

