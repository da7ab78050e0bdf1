"""Baseline: a minimal Starlette + asyncpg + orjson handler per list, running the API's SQL for the same page.

The runner writes each list's first-page statement, built by the product's own code (`bids.service.page_query`,
`pagination.page_query`), with its arguments into `FOREST_BENCH_STATEMENTS`; each handler runs it on a
pool and answers the bytes the API answers for that page: the same items, the same signed `next_cursor` (the
runner checks the bodies are equal before it measures). Nothing else: no authentication, no query validation,
no Link header, no middleware.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = 20


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _position(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, int | str) or value is None else str(value)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def bid_item(row: asyncpg.Record) -> dict[str, Any]:
    item = dict(row)
    item["attachments"] = [{"name": a["name"], "url": a["url"]} for a in item["attachments"]]
    item["amount"] = _money(item["amount"])
    return item


def job_item(row: asyncpg.Record) -> dict[str, Any]:
    progress = ("pages_done", "pages_total", "items_seen", "items_new", "items_updated", "errors")
    item = {k: row[k] for k in ("id", "source_id", "url", "state")}
    item["progress"] = {k: row[k] for k in progress}
    item.update({k: row[k] for k in ("attempt", "error", "created_at", "started_at", "finished_at", "retry_of")})
    return item


def alert_item(row: asyncpg.Record, defaults: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "filters": {**defaults, **row["filters"]},
            "webhook_url": row["webhook_url"],
            "webhook_secret": row["webhook_secret"] if row["webhook_url"] is not None else None,
            "created_at": row["created_at"]}


def handler(spec: dict[str, Any], key: bytes, item: Callable[[asyncpg.Record], dict[str, Any]]) -> Any:
    async def endpoint(request: Request) -> Response:
        pool: asyncpg.Pool = request.app.state.pool
        rows = await pool.fetch(spec["sql"], *spec["args"])
        next_cursor = None
        if len(rows) > PAGE:
            last = rows[PAGE - 1]
            payload = {"v": 1, "e": spec["endpoint"], "s": spec["sort"], "f": spec["fhash"],
                       "k": [_position(last[c]) for c in spec["cols"]], "d": "n"}
            body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
            next_cursor = _b64(body) + "." + _b64(hmac.digest(key, body, "sha256"))
        page = {"items": [item(row) for row in rows[:PAGE]], "next_cursor": next_cursor, "prev_cursor": None,
                "has_more": len(rows) > PAGE}
        return Response(orjson.dumps(page, default=str, option=orjson.OPT_UTC_Z), media_type="application/json")

    return endpoint


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    dsn = os.environ["FOREST_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")

    async def init(conn: asyncpg.Connection) -> None:
        for kind in ("json", "jsonb"):
            await conn.set_type_codec(kind, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
                                      schema="pg_catalog")

    app.state.pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10, init=init)
    try:
        yield
    finally:
        await app.state.pool.close()


def create_app() -> Starlette:
    """The raw handlers of the statements the runner wrote."""
    statements = json.loads(Path(os.environ["FOREST_BENCH_STATEMENTS"]).read_text())
    key = hashlib.sha256(b"forest-cursor:" + os.environ["FOREST_SECRET_KEY"].encode()).digest()
    defaults = statements["alert_filter_defaults"]
    items: dict[str, Callable[[asyncpg.Record], dict[str, Any]]] = {
        "bids": bid_item, "sources": dict, "crawls": job_item, "alerts": lambda row: alert_item(row, defaults)}
    routes = [Route(f"/raw/{name}", handler(statements[name], key, item)) for name, item in items.items()]
    return Starlette(routes=routes, lifespan=lifespan)
