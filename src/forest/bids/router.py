"""Bid routes: the keyset-paginated list and the detail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from forest.bids import service
from forest.bids.filters import MAX_INT64
from forest.bids.schemas import BidDetailRead, BidListQuery, BidRead
from forest.dependencies import API_PREFIX, CurrentUser, Db, DbSession, SettingsDep, Signer
from forest.pagination import Page, page_response
from forest.routing import LeanRoute

# LeanRoute resolves the list's simple signature itself (the detail falls back to FastAPI).
router = APIRouter(prefix=API_PREFIX, tags=["bids"], route_class=LeanRoute)


@router.get("/bids", response_model=Page[BidRead])
async def list_bids(user: CurrentUser, query: Annotated[BidListQuery, Query()], db: Db, signer: Signer,
                    settings: SettingsDep, request: Request) -> Response:
    """Crawled notices, keyset-paginated: those of shared sources and of your own ad-hoc crawls (admins: all).

    Sorts: `-post_date` (default), `post_date`, `-views`, `views`, `id`, `-id`, `closes_at` (closing soonest
    first), `-closes_at`, `amount`, `-amount`; ties are broken by `id`, and bids without a deadline (or
    amount) come last in both directions. Filters combine with AND; repeated `department`, `source_id`,
    `category` or `contract_method` values mean "any of". `q` matches the title or the notice body. A cursor
    only works with the sort and filters it was issued for; the `Link` header carries them for you.
    """
    result = await service.list(db=db, user=user, query=query, signer=signer,
                                count_timeout_ms=settings.count_timeout_ms)
    return page_response(result, request, BidRead)


@router.get("/bids/{bid_id}", response_model=BidDetailRead)
async def get_bid(
    user: CurrentUser, session: DbSession, bid_id: Annotated[int, Path(ge=1, le=MAX_INT64)],
) -> dict[str, Any]:
    """One notice by id, with its body (clean text of the detail page) and every tender fact read from it:
    `facts.{name}.value` and `facts.{name}.evidence` (`{start, end, text}`, offsets into `body`). 404 for a
    notice of another user's ad-hoc source."""
    return await service.get_detail(session=session, bid_id=bid_id, user=user)
