"""A tiny HTTP target for replay tests: a Starlette app that notes when each request arrives."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Arrival:
    """One request as the target saw it; ``at`` is ``time.monotonic()`` (the event loop's clock)."""

    at: float
    method: str
    path: str
    query: str


@dataclass
class Target:
    """The running target: its URL, the requests it received and its slowdown factor."""

    url: str
    arrivals: list[Arrival] = field(default_factory=list)
    slowdown: float = 1.0

    def reset(self, *, slowdown: float = 1.0) -> None:
        """Forget earlier arrivals and set how much slower ``/slow`` answers."""
        self.arrivals.clear()
        self.slowdown = slowdown


def make_app(target: Target) -> ASGIApp:
    """The target's ASGI app; it appends to ``target.arrivals`` and reads ``target.slowdown``."""

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("ms", "0")) * target.slowdown / 1000)
        return PlainTextResponse("ok")

    async def fail(request: Request) -> Response:
        return PlainTextResponse("boom", status_code=500)

    async def echo(request: Request) -> Response:
        return JSONResponse({"path": request.url.path})

    async def bids(request: Request) -> Response:
        # Three pages of two bids each, linked by next_cursor like the real list endpoint.
        page = int(request.query_params.get("cursor", "page0").removeprefix("page"))
        items = [{"id": 10 * page + i, "department": f"dept-{i}"} for i in (1, 2)]
        next_cursor = f"page{page + 1}" if page < 2 else None
        return JSONResponse({"items": items, "next_cursor": next_cursor, "has_more": next_cursor is not None})

    app = Starlette(
        routes=[
            Route("/api/v1/bids", bids),
            Route("/slow", slow),
            Route("/fail", fail),
            Route("/echo/{name}", echo, methods=["GET", "POST"]),
        ]
    )

    async def record_arrival(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            target.arrivals.append(
                Arrival(time.monotonic(), scope["method"], scope["path"], scope["query_string"].decode())
            )
        await app(scope, receive, send)

    return record_arrival
