"""Bid routes: the keyset-paginated list and the detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from forest.bids import service
from forest.bids.filters import MAX_INT64
from forest.bids.models import Bid
from forest.bids.schemas import BidListQuery, BidRead
from forest.dependencies import API_PREFIX, CurrentUser, DbSession
from forest.pagination import Page, page_response
from forest.routing import LeanRoute

# The list is the busiest route: LeanRoute resolves its simple signature itself (the detail falls back to FastAPI).
router = APIRouter(prefix=API_PREFIX, tags=["bids"], route_class=LeanRoute)


@router.get("/bids", response_model=Page[BidRead])
async def list_bids(user: CurrentUser, query: Annotated[BidListQuery, Query()], request: Request) -> Response:
    """Crawled notices, keyset-paginated: those of shared sources and of your own ad-hoc crawls (admins: all).

    Sorts: `-post_date` (default), `post_date`, `-views`, `views`, `id`, `-id`; ties are broken by `id`.
    Filters combine with AND; repeated `department` or `source_id` values mean "any of". A cursor only
    works with the sort and filters it was issued for; the `Link` header carries them for you.
    """
    # The query string is one model; the database, signer and settings are read from the app instead of
    # through dependencies; the body is serialised once (see bench/RESULTS.md, Pagination).
    state = request.app.state
    result = await service.list(db=state.db, user=user, query=query, signer=state.signer,
                                count_timeout_ms=state.settings.count_timeout_ms)
    return page_response(result, request, BidRead)


@router.get("/bids/{bid_id}", response_model=BidRead)
async def get_bid(
    user: CurrentUser, session: DbSession, bid_id: Annotated[int, Path(ge=1, le=MAX_INT64)],
) -> Bid:
    """One notice by id (404 for a notice of another user's ad-hoc source)."""
    return await service.get_or_raise(session=session, bid_id=bid_id, user=user)
