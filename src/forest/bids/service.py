"""Bid queries: filtering, keyset lists and lookups. The only code that reads bids for the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from forest.bids.filters import BidFilters, like_pattern, matches
from forest.bids.models import Bid
from forest.errors import NotFound
from forest.pagination import CursorSigner, Keyset, PageParams, PageResult, SortKey, paginate

__all__ = ["BID_KEYSET", "BidFilters", "apply_filters", "get", "get_or_raise", "list", "matches"]

_BID_TABLE = Bid.__table__
BID_KEYSET = Keyset(
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


def apply_filters(stmt: Select[Any], filters: BidFilters) -> Select[Any]:
    """Add the WHERE clauses of `filters` to a select over `Bid`."""
    if filters.department:
        stmt = stmt.where(Bid.department.in_(filters.department))
    if filters.source_id:
        stmt = stmt.where(Bid.source_id.in_(filters.source_id))
    if filters.views_gte is not None:
        stmt = stmt.where(Bid.views >= filters.views_gte)
    if filters.views_lte is not None:
        stmt = stmt.where(Bid.views <= filters.views_lte)
    if filters.posted_from is not None:
        stmt = stmt.where(Bid.post_date >= filters.posted_from)
    if filters.posted_to is not None:
        stmt = stmt.where(Bid.post_date <= filters.posted_to)
    if filters.q is not None:
        # ILIKE is served by the trigram index on PostgreSQL; SQLite lowers both sides.
        stmt = stmt.where(Bid.title.ilike(like_pattern(filters.q), escape="\\"))
    return stmt


async def list(
    *, session: AsyncSession, filters: BidFilters, params: PageParams, signer: CursorSigner,
    count_timeout_ms: int = 250,
) -> PageResult[Any]:
    """One keyset page of the bids selected by `filters`."""
    # Rows, not ORM objects: a page is read once and serialised, so identity-map bookkeeping is waste.
    stmt = apply_filters(select(*_BID_TABLE.c), filters)
    return await paginate(session, stmt, keyset=BID_KEYSET, params=params, filters=filters.cursor_binding(),
                          signer=signer, count_timeout_ms=count_timeout_ms)


async def get(*, session: AsyncSession, bid_id: int) -> Bid | None:
    """The bid with this id, if any."""
    return await session.get(Bid, bid_id)


async def get_or_raise(*, session: AsyncSession, bid_id: int) -> Bid:
    """The bid with this id, or NotFound."""
    bid = await get(session=session, bid_id=bid_id)
    if bid is None:
        raise NotFound(f"No bid with id {bid_id}.")
    return bid

