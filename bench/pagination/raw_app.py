"""Baseline: a minimal Starlette + asyncpg handler running the same SQL as the API's first bid page."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The statement SQLAlchemy emits for GET /api/v1/bids?limit=20&department=X (one page + 1 to see more).
SQL = """SELECT id, source_id, external_id, title, department, views, post_date, url, attachments,
       first_seen_at, updated_at, closes_at, amount, amount_kind, currency, category
FROM bid WHERE department IN ($1) ORDER BY post_date DESC, id DESC LIMIT $2"""


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # a decimal string, as the API sends amounts
    raise TypeError(type(value))


async def bids(request: Request) -> Response:
    """First page of one department's bids, newest first."""
    limit = int(request.query_params.get("limit", "20"))
    department = request.query_params["department"]
    pool: asyncpg.Pool = request.app.state.pool
    rows = await pool.fetch(SQL, department, limit + 1)
    items = []
    for row in rows[:limit]:
        item = dict(row)
        item["attachments"] = json.loads(item["attachments"])
        items.append(item)
    body = {"items": items, "next_cursor": None, "prev_cursor": None, "has_more": len(rows) > limit}
    return Response(json.dumps(body, default=_iso, ensure_ascii=False), media_type="application/json")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    dsn = os.environ["FOREST_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    app.state.pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(routes=[Route("/raw/bids", bids)], lifespan=lifespan)
