"""Forest as it was before keyset pagination and workers: the "before" side of the replay benchmark.

`create_before_app()` builds the product app with `forest.app.create_app` and swaps two routes:

- `GET /api/v1/bids` pages with LIMIT/OFFSET. The same filters, sorts and response shape as the product
  (`items`, `next_cursor`, `prev_cursor`, `has_more`, `Link` header), but the cursor is the row offset as
  a plain number, so following `next_cursor` to page N makes PostgreSQL walk and discard N×limit rows.
- `POST /api/v1/crawls` runs the crawl inside the request: Forest's own `crawls.lifecycle.submit` writes
  the job, and instead of sending it to the broker the handler awaits `crawls.runner.run_job` (exactly
  the code a worker runs) in the API's event loop, then answers 200 with the finished job.

Everything else (auth, the detail route, analytics, error handling, middleware) is the product's.
Serve it with `uvicorn bench.replay_before_after.before_app:create_before_app --factory`.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response
from sqlalchemy import select

from forest.app import create_app
from forest.bids.models import Bid
from forest.bids.schemas import BidListQuery, BidRead
from forest.bids.service import BID_KEYSET, apply_filters
from forest.config import Settings
from forest.crawls import lifecycle, runner
from forest.crawls.models import CrawlJob
from forest.crawls.schemas import CrawlCreate, CrawlJobRead
from forest.dependencies import API_PREFIX, CurrentUser, DbSession, SettingsDep
from forest.errors import CursorError
from forest.events import Publisher
from forest.pagination import Page, PageResult, page_response

INLINE_TASK_ID = "inline"


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 12:
        raise CursorError("The cursor is malformed.")
    return int(cursor)


def create_before_app(settings: Settings | None = None) -> FastAPI:
    """The Forest app with an OFFSET bid list and crawls that run inside the submitting request."""
    app = create_app(settings)
    router = APIRouter(prefix=API_PREFIX, tags=["before (benchmark only)"])

    @router.get("/bids", response_model=Page[BidRead])
    async def list_bids_offset(
        _user: CurrentUser, session: DbSession, query: Annotated[BidListQuery, Query()], request: Request,
    ) -> Response:
        """Bids, LIMIT/OFFSET-paginated; `next_cursor` is the next page's row offset."""
        offset, limit = _offset(query.cursor), query.limit
        _name, key, desc = BID_KEYSET.resolve(query.sort)
        order = (key.column.desc(), Bid.id.desc()) if desc else (key.column.asc(), Bid.id.asc())
        columns = [Bid.__table__.c[name] for name in BidRead.model_fields]
        stmt = apply_filters(select(*columns), query.filters()).order_by(*order).offset(offset).limit(limit + 1)
        rows = list((await session.execute(stmt)).mappings().all())
        has_more = len(rows) > limit
        result = PageResult(items=rows[:limit], next_cursor=str(offset + limit) if has_more else None,
                            prev_cursor=str(max(offset - limit, 0)) if offset else None, has_more=has_more,
                            count=None)
        return page_response(result, request, BidRead)

    @router.post("/crawls", response_model=CrawlJobRead)
    async def crawl_in_request(
        job_in: CrawlCreate, user: CurrentUser, session: DbSession, settings: SettingsDep, request: Request,
    ) -> CrawlJobRead:
        """Create the job and crawl the board before answering (what a worker does, done in the request)."""

        class RunNow:
            async def send(self, job_id: uuid.UUID, task_id: str) -> None:
                await runner.run_job(settings, job_id)

            async def revoke(self, task_id: str) -> None:
                return None

        publisher: Publisher = request.app.state.publisher
        job = await lifecycle.submit(session=session, settings=settings, user=user, job_in=job_in,
                                     idempotency_key=None, queue=RunNow(), announcer=publisher)
        fresh = await session.scalar(select(CrawlJob).where(CrawlJob.id == job.id)
                                     .execution_options(populate_existing=True))
        return CrawlJobRead.of(fresh or job)

    # The router tries routes in order and the first match wins, so the replacements go in front of the
    # product's routes (which stay registered, shadowed, under the same paths).
    routes = app.router.routes
    count = len(routes)
    app.include_router(router)
    routes[:] = routes[count:] + routes[:count]
    return app
