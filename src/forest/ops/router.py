"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request

from forest.dependencies import SettingsDep, bearer_token, get_database
from forest.errors import Unauthorized, problem
from forest.ops.metrics import refresh_fleet
from forest.worker.broker import check_broker

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database or broker unreachable"}})
async def readyz(request: Request, settings: SettingsDep) -> Response:
    """The database and the broker are reachable; 503 otherwise."""
    checks: dict[str, str] = {}
    db = await get_database(request)
    try:
        async with asyncio.timeout(3):
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason goes to the client
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        await check_broker(settings.broker_url, timeout=3)
        checks["broker"] = "ok"
    except Exception as exc:  # same: report, never raise
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    failing = ", ".join(k for k, v in checks.items() if v != "ok")
    resp = problem(503, "service_unavailable", f"Not ready: {failing} unreachable.", headers={"Retry-After": "5"})
    return resp


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, settings: SettingsDep) -> Response:
    """Prometheus metrics of this process, and of the crawl fleet (worker processes, crawls running in each,
    jobs queued and running). With `FOREST_METRICS_TOKEN` set, only for
    `Authorization: Bearer <that token>` (401 otherwise)."""
    if settings.metrics_token is not None:
        sent = (bearer_token(request) or "").encode()
        if not hmac.compare_digest(sent, settings.metrics_token.get_secret_value().encode()):
            raise Unauthorized("Send `Authorization: Bearer <FOREST_METRICS_TOKEN>` to read the metrics.")
    await refresh_fleet(settings, await get_database(request))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
