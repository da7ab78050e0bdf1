"""The product API plus comparison endpoints that exist only in the benchmark.

`/bench/offset` pages with LIMIT/OFFSET and `/bench/fp-cursor` with the `fastapi-pagination` cursor
helper (sqlakeyset); both read the same table through the same engine and session as `/api/v1/bids`,
and authenticate the same way, so the comparison is only about how a page is found.
`/bench/no-query` is `/api/v1/bids` with the database query replaced by a page read once at start-up:
the same dependencies, validation, cursor signing, Link header and serialisation, so its throughput is
the ceiling of everything the API does around its one SQL statement.
`/bench/generic` is `/api/v1/bids` the way the other lists work: FastAPI's own request handler and
dependency resolution and a session per request (BEGIN/ROLLBACK around the statement, the statement built
and compiled through SQLAlchemy's cache): what LeanRoute and the driver path buy.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi_pagination import add_pagination
from fastapi_pagination.cursor import CursorPage
from fastapi_pagination.ext.sqlalchemy import apaginate as fp_paginate
from sqlalchemy import select

from forest.app import create_app
from forest.bids import service as bids
from forest.bids.models import Bid
from forest.bids.schemas import BidListQuery, BidRead
from forest.dependencies import CurrentUser, DbSession
from forest.pagination import Page, PageResult, page_response, paginate

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

    cached: list[PageResult[Any]] = []

    @router.get("/no-query", response_model=Page[BidRead])
    async def no_query_page(_user: CurrentUser, query: Annotated[BidListQuery, Query()], request: Request) -> Response:
        if not cached:
            cached.append(await bids.list(db=request.app.state.db, query=query, signer=request.app.state.signer))
        return page_response(cached[0], request, BidRead)

    @router.get("/generic", response_model=Page[BidRead])
    async def generic_page(
        _user: CurrentUser, session: DbSession, query: Annotated[BidListQuery, Query()], request: Request,
    ) -> Response:
        filters = query.filters()
        stmt = bids.apply_filters(select(*(Bid.__table__.c[name] for name in BidRead.model_fields)), filters)
        result = await paginate(session, stmt, keyset=bids.BID_KEYSET, params=query.page_params(),
                                filters=filters.cursor_binding(), signer=request.app.state.signer)
        return page_response(result, request, BidRead)

    app.include_router(router)
    add_pagination(app)
    return app
