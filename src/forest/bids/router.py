"""Bid routes: the keyset-paginated list and the detail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from forest.bids import service
from forest.bids.filters import MAX_INT64
from forest.bids.schemas import BidDetailRead, BidListQuery, BidRead
from forest.dependencies import API_PREFIX, CurrentUser, DbSession
from forest.pagination import Page, page_response
from forest.routing import LeanRoute

# The list is the busiest route: LeanRoute resolves its simple signature itself (the detail falls back to FastAPI).
router = APIRouter(prefix=API_PREFIX, tags=["bids"], route_class=LeanRoute)


@router.get("/bids", response_model=Page[BidRead])
async def list_bids(_user: CurrentUser, query: Annotated[BidListQuery, Query()], request: Request) -> Response:
    """Crawled notices, keyset-paginated.

    Sorts: `-post_date` (default), `post_date`, `-views`, `views`, `id`, `-id`, `closes_at` (closing soonest
    first), `-closes_at`, `amount`, `-amount`; ties are broken by `id`, and bids without a deadline (or
    amount) come last in both directions. Filters combine with AND; repeated `department`, `source_id`,
    `category` or `contract_method` values mean "any of". `q` matches the title or the notice body. A cursor
    only works with the sort and filters it was issued for; the `Link` header carries them for you.
    """
    # The query string is one model; the database, signer and settings are read from the app instead of
    # through dependencies; the body is serialised once (see bench/RESULTS.md, Pagination).
    state = request.app.state
    result = await service.list(db=state.db, query=query, signer=state.signer,
                                count_timeout_ms=state.settings.count_timeout_ms)
    return page_response(result, request, BidRead)


@router.get("/bids/{bid_id}", response_model=BidDetailRead)
async def get_bid(
    _user: CurrentUser, session: DbSession, bid_id: Annotated[int, Path(ge=1, le=MAX_INT64)],
) -> dict[str, Any]:
    """One notice by id, with its body (clean text of the detail page) and every tender fact read from it:
    `facts.{name}.value` and `facts.{name}.evidence` (`{start, end, text}`, offsets into `body`)."""
    return await service.get_detail(session=session, bid_id=bid_id)
