"""Bid queries: filtering, keyset lists and lookups. The only code that reads bids for the API."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import BigInteger, Date, Integer, Select, String, Text, any_, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from forest.bids.filters import BidFilters, like_pattern, matches
from forest.bids.models import Bid
from forest.bids.schemas import BidListQuery, BidRead
from forest.database import Database
from forest.errors import NotFound
from forest.pagination import (
    CursorSigner,
    Keyset,
    PagePlan,
    PageResult,
    SortKey,
    count_rows,
    finish_page,
    paginate,
    plan_page,
)
from forest.sources.models import Source
from forest.sources.service import shared_or_owned_by, visible_source_ids
from forest.users.models import User

__all__ = ["BID_KEYSET", "BidFilters", "apply_filters", "filter_clauses", "get", "get_or_raise", "list", "matches",
           "page_query", "visible_to"]

BID_KEYSET = Keyset(
    endpoint="/api/v1/bids",
    id_column=Bid.id,
    id_kind="int",
    sorts={
        "post_date": SortKey(Bid.post_date, "date"),
        "views": SortKey(Bid.views, "int"),
        "id": SortKey(Bid.id, "int"),
    },
    default="-post_date",
    allowed=("-post_date", "post_date", "-views", "views", "id", "-id"),
)


def filter_clauses(filters: BidFilters, *, bound: bool = False) -> builtins.list[ColumnElement[bool]]:
    """The WHERE clauses of `filters` over `Bid`.

    `bound` (PostgreSQL only) renders every value as a named bind parameter, so the SQL is the same for any
    values of one set of filters and can be compiled once (`_bind_values` gives the values). A repeatable
    filter with one value is an equality, which the planner serves from its `(column, post_date, id)` index
    in order; several values are `= ANY(array)`, as `IN (…)` would be.
    """
    out: builtins.list[ColumnElement[bool]] = []
    repeatable: tuple[tuple[Any, builtins.list[Any], type[TypeEngine[Any]]], ...] = (
        (Bid.department, filters.department, String), (Bid.source_id, filters.source_id, BigInteger))
    for column, chosen, type_ in repeatable:
        if not chosen:
            continue
        if not bound:
            out.append(column.in_(chosen))
        elif len(chosen) == 1:
            out.append(column == bindparam(column.key, type_=type_))
        else:
            out.append(column == any_(bindparam(column.key, type_=ARRAY(type_))))
    if filters.views_gte is not None:
        out.append(Bid.views >= (bindparam("views_gte", type_=Integer) if bound else filters.views_gte))
    if filters.views_lte is not None:
        out.append(Bid.views <= (bindparam("views_lte", type_=Integer) if bound else filters.views_lte))
    if filters.posted_from is not None:
        out.append(Bid.post_date >= (bindparam("posted_from", type_=Date) if bound else filters.posted_from))
    if filters.posted_to is not None:
        out.append(Bid.post_date <= (bindparam("posted_to", type_=Date) if bound else filters.posted_to))
    if filters.q is not None:
        # ILIKE is served by the trigram index on PostgreSQL, whose default LIKE escape is the backslash
        # that `like_pattern` uses; SQLite has no default escape and lowers both sides.
        out.append(Bid.title.ilike(bindparam("q", type_=Text)) if bound
                   else Bid.title.ilike(like_pattern(filters.q), escape="\\"))
    return out


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


def _bind_values(filters: BidFilters) -> dict[str, Any]:
    values = filters.cursor_binding()
    for name in ("department", "source_id"):
        if len(values.get(name, ())) == 1:
            values[name] = values[name][0]  # bound as an equality, see filter_clauses
    if filters.q is not None:
        values["q"] = like_pattern(filters.q)
    return values


def apply_filters(stmt: Select[Any], filters: BidFilters, user: User | None = None) -> Select[Any]:
    """Add the WHERE clauses of `filters` (and, given a user, of what they may see) to a select over `Bid`."""
    stmt = stmt.where(*filter_clauses(filters))
    if user is not None and (visible := visible_to(user)) is not None:
        stmt = stmt.where(visible)
    return stmt


# The columns the API shows (not content_hash).
_COLUMNS = [Bid.__table__.c[name] for name in BidRead.model_fields]
# Compiled page statements by shape: sort, direction, whether there is a seek position, which filters are set
# (and whether a repeatable one has several values).
_compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}


def _page_sql(
    dialect: Dialect, plan: PagePlan, filters: BidFilters, values: dict[str, Any], user: User,
) -> tuple[str, tuple[str, ...]]:
    """The page's SQL and its parameter names in `$n` order, compiled once per shape."""
    key = (plan.sort_name, plan.backwards, plan.seek is not None, user.is_admin,
           tuple((name, isinstance(value, builtins.list)) for name, value in values.items()))
    hit = _compiled.get(key)
    if hit is None:
        stmt = select(*_COLUMNS).where(*filter_clauses(filters, bound=True))
        if (visible := visible_to(user, bound=True)) is not None:
            stmt = stmt.where(visible)
        if plan.seek is not None:
            stmt = stmt.where(plan.seek_clause([bindparam(f"seek_{i}", type_=c.type) for i, c in enumerate(plan.cols)]))
        compiled = stmt.order_by(*plan.order_by()).limit(bindparam("page_limit", type_=Integer)).compile(
            dialect=dialect)
        hit = _compiled[key] = (compiled.string, tuple(compiled.positiontup or ()))
    return hit


def page_query(
    dialect: Dialect, plan: PagePlan, filters: BidFilters, user: User,
) -> tuple[str, builtins.list[Any]]:
    """The PostgreSQL statement of one page (`$n` parameters) for `user` and its arguments, as `list` runs it."""
    values = _bind_values(filters)
    sql, names = _page_sql(dialect, plan, filters, values, user)
    values["viewer_id"] = user.id
    if plan.seek is not None:
        values.update({f"seek_{i}": v for i, v in enumerate(plan.seek)})
    values["page_limit"] = plan.limit + 1
    return sql, [values[name] for name in names]


async def list(
    *, db: Database, user: User, query: BidListQuery, signer: CursorSigner, count_timeout_ms: int = 250,
) -> PageResult[Any]:
    """One keyset page of the bids `user` may see selected by the query's filters, rows as dicts."""
    filters = query.filters()
    params = query.page_params()
    if db.engine.dialect.name != "postgresql":
        async with db.sessionmaker() as session:
            stmt = apply_filters(select(*_COLUMNS), filters, user)
            result = await paginate(session, stmt, keyset=BID_KEYSET, params=params, filters=filters.cursor_binding(),
                                    signer=signer, count_timeout_ms=count_timeout_ms)
        result.items = [row._asdict() for row in result.items]
        return result
    # PostgreSQL: one statement per shape compiled once, run on the driver (see Database.fetch).
    plan = plan_page(BID_KEYSET, params, filters.cursor_binding(), signer)
    sql, args = page_query(db.engine.dialect, plan, filters, user)
    rows = [dict(row) for row in await db.fetch(sql, *args)]
    result = finish_page(plan, rows, signer, _item)
    if params.count != "none":
        async with db.sessionmaker() as session:
            result.count = await count_rows(session, apply_filters(select(Bid.id), filters, user), params.count,
                                            count_timeout_ms)
    return result


def _item(row: dict[str, Any], name: str) -> Any:
    return row[name]


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

