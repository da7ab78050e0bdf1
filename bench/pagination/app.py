"""The product API plus comparison endpoints that exist only in the benchmark.

`/bench/offset` pages with LIMIT/OFFSET and `/bench/fp-cursor` with the `fastapi-pagination` cursor
helper (sqlakeyset); both read the same table through the same engine and session as `/api/v1/bids`,
and authenticate the same way, so the comparison is only about how a page is found.
Throughput is measured on `forest api` itself (bench/pagination/lists.py), not on this app.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query
from fastapi_pagination import add_pagination
from fastapi_pagination.cursor import CursorPage
from fastapi_pagination.ext.sqlalchemy import apaginate as fp_paginate
from sqlalchemy import select

from forest.app import create_app
from forest.bids.models import Bid
from forest.bids.schemas import BidRead
from forest.dependencies import CurrentUser, DbSession

ORDER = (Bid.post_date.desc(), Bid.id.desc())


def create_bench_app() -> FastAPI:
    """The Forest app with the benchmark-only comparison routes."""
    app = create_app()
    router = APIRouter(prefix="/bench", tags=["benchmark"])

    @router.get("/offset", response_model=list[BidRead])
    async def offset_page(
        _user: CurrentUser, session: DbSession,
        limit: Annotated[int, Query(ge=1, le=100)] = 20, offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[Bid]:
        return list((await session.scalars(select(Bid).order_by(*ORDER).offset(offset).limit(limit))).all())

    @router.get("/fp-cursor", response_model=CursorPage[BidRead])
    async def fp_cursor_page(_user: CurrentUser, session: DbSession) -> CursorPage[BidRead]:
        page: CursorPage[BidRead] = await fp_paginate(session, select(Bid).order_by(*ORDER))
        return page

    app.include_router(router)
    add_pagination(app)
    return app
