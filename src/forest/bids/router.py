"""Bid routes: the keyset-paginated list and the detail."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import ValidationError

from forest.bids import service
from forest.bids.filters import MAX_INT32, MAX_INT64, BidFilters
from forest.bids.models import Bid
from forest.bids.schemas import BidRead
from forest.dependencies import API_PREFIX, CurrentUser, DbSession, ListParams, SettingsDep, Signer
from forest.errors import ValidationFailed
from forest.pagination import Page, to_page

router = APIRouter(prefix=API_PREFIX, tags=["bids"])


async def bid_filters(
    department: Annotated[list[str] | None, Query(description="Department, exact; repeat for any of several.")] = None,
    source_id: Annotated[list[int] | None, Query(description="Source id; repeat for any of several.")] = None,
    views_gte: Annotated[int | None, Query(ge=0, le=MAX_INT32, description="At least this many views.")] = None,
    views_lte: Annotated[int | None, Query(ge=0, le=MAX_INT32, description="At most this many views.")] = None,
    posted_from: Annotated[dt.date | None, Query(description="Posted on or after (inclusive).")] = None,
    posted_to: Annotated[dt.date | None, Query(description="Posted on or before (inclusive).")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Case-insensitive substring of the title.")] = None,
) -> BidFilters:
    """Dependency reading the bid filters from the query string (async: no threadpool hop per request)."""
    try:
        return BidFilters(department=department or [], source_id=source_id or [], views_gte=views_gte,
                          views_lte=views_lte, posted_from=posted_from, posted_to=posted_to, q=q)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = [str(part) for part in err["loc"]]
            errors.append({"loc": ["query", *loc], "field": ".".join(loc) or "query",
                           "message": err["msg"].removeprefix("Value error, "), "type": err["type"]})
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors) from exc


Filters = Annotated[BidFilters, Depends(bid_filters)]


@router.get("/bids", response_model=Page[BidRead])
async def list_bids(
    _user: CurrentUser, session: DbSession, params: ListParams, filters: Filters, signer: Signer,
    settings: SettingsDep, request: Request, response: Response,
) -> dict[str, Any]:
    """Crawled notices, keyset-paginated.

    Sorts: `-post_date` (default), `post_date`, `-views`, `views`, `id`, `-id`; ties are broken by `id`.
    Filters combine with AND; repeated `department` or `source_id` values mean "any of". A cursor only
    works with the sort and filters it was issued for; the `Link` header carries them for you.
    """
    result = await service.list(session=session, filters=filters, params=params, signer=signer,
                                count_timeout_ms=settings.count_timeout_ms)
    return to_page(result, response, request, BidRead)


@router.get("/bids/{bid_id}", response_model=BidRead)
async def get_bid(
    _user: CurrentUser, session: DbSession, bid_id: Annotated[int, Path(ge=1, le=MAX_INT64)],
) -> Bid:
    """One notice by id."""
    return await service.get_or_raise(session=session, bid_id=bid_id)
