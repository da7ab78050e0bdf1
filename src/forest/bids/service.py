"""Bid queries: filtering, keyset lists and lookups. The only code that reads bids for the API."""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    any_,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from forest.bids import search
from forest.bids.filters import BidFilters, bind_values, filter_clauses, matches
from forest.bids.models import Bid, BidDetail
from forest.bids.schemas import BidListQuery, BidRead
from forest.crawler.facts import TenderFacts
from forest.database import Database, utcnow
from forest.errors import NotFound
from forest.pagination import (
    CursorSigner,
    DriverRun,
    DriverStatement,
    Keyset,
    ListSelect,
    PagePlan,
    PageResult,
    Segment,
    SortKey,
    fetch_page,
    paginate,
)
from forest.sources.models import Source
from forest.sources.service import shared_or_owned_by, visible_source_ids
from forest.users.models import User

__all__ = ["BID_KEYSET", "BidFilters", "apply_filters", "fetch_rows", "filter_clauses", "get", "get_detail",
           "get_or_raise", "list", "list_statement", "matches", "page_query", "visible_to"]

BID_KEYSET = Keyset(
    endpoint="/api/v1/bids",
    id_column=Bid.id,
    id_kind="int",
    sorts={
        "post_date": SortKey(Bid.post_date, "date"),
        "views": SortKey(Bid.views, "int"),
        "id": SortKey(Bid.id, "int"),
        # Nulls last either way: a notice without a known deadline or amount never leads a list.
        "closes_at": SortKey(Bid.closes_at, "datetime", nullable=True),
        "amount": SortKey(Bid.amount, "decimal", nullable=True),
    },
    default="-post_date",
    allowed=("-post_date", "post_date", "-views", "views", "id", "-id", "closes_at", "-closes_at", "amount",
             "-amount"),
)


def visible_to(user: User, *, bound: bool = False) -> ColumnElement[bool] | None:
    """The WHERE clause of the bids `user` may see: those of shared sources and of the user's own ad-hoc
    sources (None for admins, who see all).

    `bound` (PostgreSQL, see `filter_clauses`) names the user id `viewer_id` and reads the few visible
    source ids once per statement into an array (`source_id = ANY((SELECT array_agg(id) …))`, an InitPlan):
    the keyset index scan on `(sort column, id)` keeps its order and its LIMIT with a plain `Filter` on
    each row, where `source_id IN (SELECT …)` became a nested-loop join against `source` per row
    (docs/query-plans.md, "Bid list visibility").
    """
    if not bound:
        visible = visible_source_ids(user)
        return None if visible is None else Bid.source_id.in_(visible)
    if user.is_admin:
        return None
    ids = select(func.array_agg(Source.id)).where(shared_or_owned_by(bindparam("viewer_id", type_=BigInteger)))
    # The CAST makes it an array expression: a bare `ANY (SELECT …)` would compare with each row instead.
    return Bid.source_id == any_(cast(ids.scalar_subquery(), ARRAY(BigInteger)))


def apply_filters(stmt: Select[Any], filters: BidFilters, user: User | None = None) -> Select[Any]:
    """Add the WHERE clauses of `filters` (and, given a user, of what they may see) to a select over `Bid`."""
    stmt = stmt.where(*filter_clauses(filters))
    if user is not None and (visible := visible_to(user)) is not None:
        stmt = stmt.where(visible)
    return stmt


# The columns the API shows (not content_hash).
_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(Bid.__table__.c[name] for name in BidRead.model_fields)
# Compiled page statements by shape: sort, direction, whether there is a seek position, which filters are set
# (and whether a repeatable one has several values).
_compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}


def _page_sql(
    dialect: Dialect, plan: PagePlan, segment: Segment, filters: BidFilters, values: dict[str, Any],
    now: dt.datetime, user: User | None, columns: Sequence[ColumnElement[Any]], walk: bool = False,
) -> tuple[str, tuple[str, ...]]:
    """The SQL of one segment of a page for `user` (None: every bid) and its parameter names in `$n` order,
    compiled once per shape. `walk`: the first step of a `q` page (`search.walk_statement`)."""
    key = (tuple(c.key for c in columns), plan.sort_name, plan.backwards, segment.kind, segment.seek is not None,
           user is None or user.is_admin, walk,
           tuple((name, isinstance(value, builtins.list) or (name == "~exclusive" and value))
                 for name, value in values.items()))
    hit = _compiled.get(key)
    if hit is None:
        where = filter_clauses(filters.model_copy(update={"q": None}) if walk else filters, bound=True, now=now)
        if user is not None and (visible := visible_to(user, bound=True)) is not None:
            where.append(visible)
        seek = None if segment.seek is None else [bindparam(f"seek_{i}", type_=c.type)
                                                  for i, c in enumerate(plan.cols)]
        where.extend(plan.segment_clauses(segment, seek))
        if walk:
            keys = plan.cols[-1:] if segment.kind == "nulls" else plan.cols
            stmt = search.walk_statement(columns, where, keys, plan.order_desc, carry=plan.cols)
        else:
            stmt = select(*columns).where(*where).order_by(*plan.segment_order_by(segment)).limit(
                bindparam("page_limit", type_=Integer))
        compiled = stmt.compile(dialect=dialect)
        hit = _compiled[key] = (compiled.string, tuple(compiled.positiontup or ()))
    return hit


def page_query(
    dialect: Dialect, plan: PagePlan, filters: BidFilters, user: User | None, *, segment: Segment | None = None,
    now: dt.datetime | None = None, limit: int | None = None, columns: Sequence[ColumnElement[Any]] | None = None,
    walk_budget: int | None = None,
) -> tuple[str, builtins.list[Any]]:
    """The PostgreSQL statement (`$n` parameters) of one run of a page for `user` (None: every bid; the
    page's first run by default) and its arguments, as `fetch_rows` runs it. `walk_budget` (with `q`): the
    statement of the walk reading at most that many rows (`search.fetch_run`)."""
    now = now or utcnow()
    segment = segment or plan.segments()[0]
    values = bind_values(filters, now)
    sql, names = _page_sql(dialect, plan, segment, filters, values, now, user,
                           _COLUMNS if columns is None else columns, walk=walk_budget is not None)
    values["q_budget"] = walk_budget
    values["viewer_id"] = user.id if user is not None else None
    if segment.seek is not None:
        values.update({f"seek_{i}": v for i, v in enumerate(segment.seek)})
    values["page_limit"] = plan.limit + 1 if limit is None else limit
    return sql, [values[name] for name in names]


def list_statement(filters: BidFilters, user: User | None, *, now: dt.datetime | None = None,
                   columns: Sequence[ColumnElement[Any]] | None = None) -> Select[Any]:
    """The Core select of `columns` (by default the API's) of the bids `filters` select that `user` may see (None:
    every bid), before order and limit: what the session engine runs and what counts are taken of."""
    stmt = select(*(_COLUMNS if columns is None else columns)).where(*filter_clauses(filters, now=now or utcnow()))
    if user is not None and (visible := visible_to(user)) is not None:
        stmt = stmt.where(visible)
    return stmt


def _list_select(filters: BidFilters, user: User | None, now: dt.datetime,
                 columns: Sequence[ColumnElement[Any]] | None) -> ListSelect:
    """The session engine's statement, built only when read (the driver engine runs `page_query`'s SQL)."""
    def build() -> Select[Any]:
        return list_statement(filters, user, now=now, columns=columns)
    return ListSelect(build, cached=False)


def _driver(dialect: Dialect, filters: BidFilters, user: User | None, now: dt.datetime,
            columns: Sequence[ColumnElement[Any]] | None) -> DriverStatement:
    """The bid list's own statement for the driver engine (`page_query`: compiled once per shape)."""
    def statement(plan: PagePlan, segment: Segment, limit: int) -> tuple[str, builtins.list[Any]]:
        return page_query(dialect, plan, filters, user, segment=segment, now=now, limit=limit, columns=columns)
    return statement


def _q_run(db: Database, filters: BidFilters, user: User | None, now: dt.datetime,
           columns: Sequence[ColumnElement[Any]] | None) -> DriverRun | None:
    """With `q`, the driver engine reads each run of a page in up to two statements (`search.fetch_run`: a walk
    of the sort's index, then the index's matches from where it stopped); rows hold `columns` only."""
    if filters.q is None:
        return None
    q = filters.q
    names = [str(c.key) for c in (_COLUMNS if columns is None else columns)]

    async def run(plan: PagePlan, segment: Segment, limit: int) -> builtins.list[Any]:
        async def statement(at: Segment, want: int, walk_budget: int | None,
                            timeout_ms: int | None) -> Sequence[Any]:
            sql, args = page_query(db.engine.dialect, plan, filters, user, segment=at, now=now, limit=want,
                                   columns=columns, walk_budget=walk_budget)
            return await db.fetch(sql, *args, timeout_ms=timeout_ms)

        found = await search.fetch_run(db, statement, q, segment, plan.cols, limit)
        return [{name: row[name] for name in names} for row in found]

    return run


async def list(
    *, db: Database, user: User, query: BidListQuery, signer: CursorSigner, count_timeout_ms: int = 250,
) -> PageResult[Any]:
    """One keyset page of the bids `user` may see selected by the query's filters (rows by column name)."""
    filters = query.filters()
    now = utcnow()
    return await paginate(db, _list_select(filters, user, now, None), keyset=BID_KEYSET,
                          params=query.page_params(), filters=filters.cursor_binding(), signer=signer,
                          count_timeout_ms=count_timeout_ms,
                          driver=_driver(db.engine.dialect, filters, user, now, None),
                          run=_q_run(db, filters, user, now, None))


async def fetch_rows(
    *, db: Database, filters: BidFilters, plan: PagePlan, limit: int, user: User | None,
    columns: Sequence[ColumnElement[Any]] | None = None, now: dt.datetime | None = None, as_dicts: bool = True,
) -> builtins.list[Any]:
    """Up to `limit` rows (dicts of `columns`, by default the API's) of the bids selected by `filters` that
    `user` may see (None: every bid, for the operator's CLI), in the order of `plan` from its seek position:
    the one statement builder of lists, exports and feeds (`pagination.fetch_page` with the bid statements).

    `as_dicts=False` leaves PostgreSQL's rows as the driver's records (read by column name like a dict, and
    no copy per row: what a bulk export wants)."""
    now = now or utcnow()
    return await fetch_page(db, _list_select(filters, user, now, columns), plan, limit=limit,
                            driver=_driver(db.engine.dialect, filters, user, now, columns), as_dicts=as_dicts,
                            run=_q_run(db, filters, user, now, columns))


async def get(*, session: AsyncSession, bid_id: int, user: User | None = None) -> Bid | None:
    """The bid with this id, if any (and, given a user, if they may see it)."""
    if user is None:
        return await session.get(Bid, bid_id)
    bid: Bid | None = await session.scalar(apply_filters(select(Bid).where(Bid.id == bid_id), BidFilters(), user))
    return bid


async def get_or_raise(*, session: AsyncSession, bid_id: int, user: User | None = None) -> Bid:
    """The bid with this id, or NotFound (also when it is in another user's ad-hoc source)."""
    bid = await get(session=session, bid_id=bid_id, user=user)
    if bid is None:
        raise NotFound(f"No bid with id {bid_id}.")
    return bid


# Every fact `GET /bids/{id}` shows, in the extractor's order.
FACT_NAMES = tuple(f.name for f in dataclasses.fields(TenderFacts) if f.name != "evidence")


async def get_detail(*, session: AsyncSession, bid_id: int, user: User | None = None) -> dict[str, Any]:
    """The bid with its notice body and every fact with its evidence (BidDetailRead), or NotFound (also when
    it is in another user's ad-hoc source)."""
    bid = await get_or_raise(session=session, bid_id=bid_id, user=user)
    detail = await session.get(BidDetail, bid_id)
    stored: dict[str, Any] = detail.facts if detail is not None else {}
    evidence = stored.get("evidence") or {}
    out = {name: getattr(bid, name) for name in BidRead.model_fields}
    # Every bid has a bid_detail row (migration 0006); an empty body means no detail page was read.
    out["body"] = detail.body if detail is not None and detail.body else None
    out["facts"] = {name: {"value": stored.get(name), "evidence": evidence.get(name)} for name in FACT_NAMES}
    return out

