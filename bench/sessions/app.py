"""A small FastAPI app with three ways of getting an `AsyncSession`, for `bench/sessions/run.py`.

Every route does the same work: read one bid by primary key, then the 20 newest bids, and answer with
a few numbers. Only the session handling differs:

- `/per-request/{id}`: Forest's pattern, one session per request from a dependency (`forest.dependencies`),
  closed (and its transaction rolled back) when the response is done;
- `/per-call/{id}`: a new `async_sessionmaker` and session around each query, so one request opens two
  sessions and the two reads are not one transaction;
- `/shared/{id}`: one `AsyncSession` created at startup and used by every request, never closed;
- `/shared-locked/{id}`: the same long-lived session behind an `asyncio.Lock` (requests take turns).

Started by the benchmark with `uvicorn --app-dir bench/sessions app:app`; the database comes from
`FOREST_DATABASE_URL`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forest.bids.models import Bid
from forest.config import Settings
from forest.database import Database


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = Settings(database_url=os.environ["FOREST_DATABASE_URL"], secret_key="x" * 40)  # type: ignore[arg-type]
    db = Database.from_settings(settings)
    app.state.db = db
    app.state.shared = db.sessionmaker()
    app.state.lock = asyncio.Lock()
    yield
    await app.state.shared.close()
    await db.dispose()


app = FastAPI(lifespan=lifespan)


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Session per request (as `forest.dependencies.get_session`)."""
    async with request.app.state.db.sessionmaker() as session:
        yield session


async def work(session: AsyncSession, bid_id: int) -> dict[str, Any]:
    bid = await session.get(Bid, bid_id)
    newest = (await session.scalars(select(Bid.id).order_by(Bid.id.desc()).limit(20))).all()
    return {"id": bid_id, "views": bid.views if bid else None, "newest": len(newest)}


@app.get("/per-request/{bid_id}")
async def per_request(bid_id: int, session: Annotated[AsyncSession, Depends(request_session)]) -> dict[str, Any]:
    return await work(session, bid_id)


@app.get("/per-call/{bid_id}")
async def per_call(bid_id: int, request: Request) -> dict[str, Any]:
    engine = request.app.state.db.engine
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        bid = await session.get(Bid, bid_id)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        newest = (await session.scalars(select(Bid.id).order_by(Bid.id.desc()).limit(20))).all()
    return {"id": bid_id, "views": bid.views if bid else None, "newest": len(newest)}


@app.get("/shared/{bid_id}")
async def shared(bid_id: int, request: Request) -> dict[str, Any]:
    return await work(request.app.state.shared, bid_id)


@app.get("/shared-locked/{bid_id}")
async def shared_locked(bid_id: int, request: Request) -> dict[str, Any]:
    async with request.app.state.lock:
        return await work(request.app.state.shared, bid_id)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
