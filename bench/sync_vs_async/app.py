"""One bid list endpoint served two ways, for `bench/sync_vs_async/run.py`.

`GET /bids?limit=20&department=X` runs the SQL of the API's first keyset page
(`GET /api/v1/bids?limit=20&department=X`: `WHERE department IN (X) ORDER BY post_date DESC, id DESC
LIMIT 21`, built with `forest.bids.service.apply_filters`) and answers the same `Page[BidRead]` body,
next cursor signed as the API signs it. Only the way it reaches the database differs:

- `async_app`: an `async def` endpoint on Forest's async engine (asyncpg, `forest.database.create_engine`);
- `sync_app`: a plain `def` endpoint, which FastAPI runs in anyio's worker threads (one capacity limiter
  per process, 40 tokens by default), on a synchronous SQLAlchemy engine with psycopg 3
  (`postgresql+psycopg`).

Both use the same pool (Forest's settings: `db_pool_size`, `db_pool_max_overflow`, `db_pool_pre_ping`,
the same timeouts) and open one session per request inside the endpoint. Neither authenticates: the
comparison is about the database access, not the rest of the API.

`/stats` (an `async def`, so it needs no worker thread) reports what a sampler saw every 10 ms since the
last reset: worker threads busy (limiter tokens borrowed), requests waiting for a thread, and pooled
connections checked out.

Started by the benchmark with `uvicorn --app-dir bench/sync_vs_async app:async_app` (or `app:sync_app`);
settings come from the `FOREST_*` environment variables.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio.to_thread
from fastapi import FastAPI, Query, Request
from sqlalchemy import Engine, Select, select
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import Pool

from forest.bids.filters import BidFilters
from forest.bids.models import Bid
from forest.bids.schemas import BidRead
from forest.bids.service import BID_KEYSET, apply_filters
from forest.config import Settings
from forest.database import Database
from forest.pagination import CURSOR_VERSION, CursorSigner, Page, filter_hash

SAMPLE_S = 0.01
Limit = Annotated[int, Query(ge=1, le=100)]


def first_page(filters: BidFilters, limit: int) -> Select[Any]:
    """The statement of the API's first page: filters, `-post_date` order with `id` as tie-break, one extra row."""
    stmt = apply_filters(select(Bid), filters)
    return stmt.order_by(Bid.post_date.desc(), Bid.id.desc()).limit(limit + 1)


def page_body(rows: list[Bid], filters: BidFilters, limit: int, signer: CursorSigner) -> dict[str, Any]:
    """The list body the API answers for a first page (as `forest.pagination.paginate` + `page_response`)."""
    items = rows[:limit]
    has_more = len(rows) > limit
    next_cursor = None
    if items and has_more:
        last = items[-1]
        next_cursor = signer.dumps({"v": CURSOR_VERSION, "e": BID_KEYSET.endpoint, "s": "-post_date",
                                    "f": filter_hash(filters.cursor_binding()),
                                    "k": [last.post_date.isoformat(), last.id], "d": "n"})
    return {"items": [BidRead.model_validate(b) for b in items], "next_cursor": next_cursor, "prev_cursor": None,
            "has_more": has_more}


def sync_engine(settings: Settings) -> Engine:
    """A synchronous psycopg 3 engine with the pool and timeouts of `forest.database.create_engine`."""
    url = settings.database_url.replace("postgresql+asyncpg://", "postgresql+psycopg://")
    return create_sync_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=settings.db_pool_pre_ping,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": max(1, round(settings.db_connect_timeout_seconds)),
            "application_name": "forest",
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms} "
                       "-c idle_in_transaction_session_timeout=60000",
        },
    )


class Sampler:
    """Maxima and means of worker-thread and pool use, sampled on the event loop."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.reset()

    def reset(self) -> None:
        self.samples = 0
        self.sums = {"threads_busy": 0.0, "waiting_for_thread": 0.0, "connections_out": 0.0}
        self.maxima = dict.fromkeys(self.sums, 0)
        self.os_threads_max = 0

    async def run(self) -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        while True:
            now = {"threads_busy": int(limiter.borrowed_tokens),
                   "waiting_for_thread": limiter.statistics().tasks_waiting,
                   "connections_out": self.pool.checkedout()}  # type: ignore[attr-defined]
            self.samples += 1
            for key, value in now.items():
                self.sums[key] += value
                self.maxima[key] = max(self.maxima[key], value)
            self.os_threads_max = max(self.os_threads_max, threading.active_count())
            await asyncio.sleep(SAMPLE_S)

    def report(self) -> dict[str, Any]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        return {"thread_tokens": int(limiter.total_tokens), "samples": self.samples,
                "max": dict(self.maxima), "os_threads_max": self.os_threads_max,
                "mean": {k: v / self.samples if self.samples else 0.0 for k, v in self.sums.items()}}


def _lifespan(open_db: Callable[[FastAPI, Settings], Pool],
              close_db: Callable[[FastAPI], Any]) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = Settings()
        app.state.signer = CursorSigner(settings.signing_keys())
        app.state.sampler = Sampler(open_db(app, settings))
        task = asyncio.create_task(app.state.sampler.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            result = close_db(app)
            if asyncio.iscoroutine(result):
                await result

    return lifespan


def _add_common(app: FastAPI) -> None:
    @app.get("/stats")
    async def stats(request: Request, reset: bool = False) -> dict[str, Any]:
        sampler: Sampler = request.app.state.sampler
        out = sampler.report()
        if reset:
            sampler.reset()
        return out

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}


# --- async def on asyncpg -------------------------------------------------------------------------------


def _open_async(app: FastAPI, settings: Settings) -> Pool:
    app.state.db = Database.from_settings(settings)
    return app.state.db.engine.sync_engine.pool  # type: ignore[no-any-return]


async_app = FastAPI(lifespan=_lifespan(_open_async, lambda app: app.state.db.dispose()))
_add_common(async_app)


@async_app.get("/bids", response_model=Page[BidRead])
async def list_bids_async(request: Request, department: str, limit: Limit = 20) -> dict[str, Any]:
    """First page of one department's bids, newest first (asyncpg, on the event loop)."""
    filters = BidFilters(department=[department])
    async with request.app.state.db.sessionmaker() as session:
        rows = list((await session.scalars(first_page(filters, limit))).all())
        return page_body(rows, filters, limit, request.app.state.signer)


# --- def on the threadpool with psycopg 3 ----------------------------------------------------------------


def _open_sync(app: FastAPI, settings: Settings) -> Pool:
    app.state.engine = sync_engine(settings)
    app.state.sessionmaker = sessionmaker(app.state.engine, expire_on_commit=False)
    return app.state.engine.pool  # type: ignore[no-any-return]


sync_app = FastAPI(lifespan=_lifespan(_open_sync, lambda app: app.state.engine.dispose()))
_add_common(sync_app)


@sync_app.get("/bids", response_model=Page[BidRead])
def list_bids_sync(request: Request, department: str, limit: Limit = 20) -> dict[str, Any]:
    """First page of one department's bids, newest first (psycopg 3, in a worker thread)."""
    filters = BidFilters(department=[department])
    session: Session
    with request.app.state.sessionmaker() as session:
        rows = list(session.scalars(first_page(filters, limit)).all())
        return page_body(rows, filters, limit, request.app.state.signer)
