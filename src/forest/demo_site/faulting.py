"""How the demo board acts out its faults: the middleware, the responses that replace a page, redirect chains."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gzip
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forest.demo_site import templates
from forest.demo_site.board import Board
from forest.demo_site.faults import Fault
from forest.demo_site.params import board_of, int_param

OVERSIZED_BYTES = 12 * 1024 * 1024
# Inflates past a 10 MiB body limit while staying a few KiB on the wire.
GZIP_BOMB_BYTES = 11 * 1024 * 1024
_CHUNK = 64 * 1024
CONTROL_PREFIX = "/_demo/"
REDIRECT_HOP_PATH = "/_demo/redirect"

# Set while a request is being cut off on purpose, so uvicorn's complaint about it stays out of the logs.
_dropping_connection: contextvars.ContextVar[bool] = contextvars.ContextVar("_dropping_connection", default=False)


class _DroppedConnectionFilter(logging.Filter):
    """Hides uvicorn's error record for connections the reset fault cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _dropping_connection.get()


def install_log_filter() -> None:
    """Keep uvicorn's error records for connections the reset fault cuts out of the logs."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DroppedConnectionFilter) for f in logger.filters):
        logger.addFilter(_DroppedConnectionFilter())


async def redirect_hop(request: Request) -> Response:
    """One hop of an injected redirect chain."""
    left = int_param(request, "left", 1) or 1
    target = request.query_params.get("to", "/")
    location = request.query_params.get("location")
    return _redirect(board_of(request), left=left, target=target, location=location)


def _redirect(board: Board, *, left: int, target: str, location: str | None) -> Response:
    if left > 1:
        query = {"left": str(left - 1), "to": target}
        if location is not None:
            query["location"] = location
        return RedirectResponse(f"{REDIRECT_HOP_PATH}?{urlencode(query)}", status_code=302)
    if location is not None:
        return RedirectResponse(location, status_code=302)
    board.allow_redirect_target(target)
    return RedirectResponse(target, status_code=302)


@functools.cache
def _gzip_bomb() -> bytes:
    return gzip.compress(b"<html><body>" + b" " * GZIP_BOMB_BYTES + b"</body></html>", compresslevel=9)


async def _oversized_chunks() -> AsyncIterator[bytes]:
    head = b'<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><title>oversized</title></head><body><!--'
    tail = b"--></body></html>\n"
    yield head
    left = OVERSIZED_BYTES - len(head) - len(tail)
    filler = b"x" * _CHUNK
    while left > 0:
        chunk = filler[: min(_CHUNK, left)]
        left -= len(chunk)
        yield chunk
    yield tail


def _fault_response(board: Board, fault: Fault, target: str) -> Response | None:
    if fault.kind == "unavailable":
        return HTMLResponse(
            templates.fault_page(503, "서비스 점검 중입니다."), status_code=503, headers={"retry-after": "1"}
        )
    if fault.kind == "rate_limited":
        return HTMLResponse(
            templates.fault_page(429, "요청이 너무 많습니다."), status_code=429, headers={"retry-after": "1"}
        )
    if fault.kind == "redirect_chain":
        return _redirect(board, left=fault.hops, target=target, location=fault.location)
    if fault.kind == "oversized":
        if fault.gzip:
            return Response(_gzip_bomb(), media_type="text/html", headers={"content-encoding": "gzip"})
        return StreamingResponse(
            _oversized_chunks(), media_type="text/html", headers={"content-length": str(OVERSIZED_BYTES)}
        )
    return None


async def _drop_connection(send: Send) -> None:
    """Start a response, send part of it, then stop, so the server closes the socket mid-body."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"65536")],
        }
    )
    await send({"type": "http.response.body", "body": b"<!DOCTYPE html><html><body>", "more_body": True})
    _dropping_connection.set(True)


def _declaring_charset(send: Send, charset: str) -> Send:
    """A `send` that makes the response declare `charset` in its Content-Type, whatever its bytes are."""

    async def declaring(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-type"]
            headers.append((b"content-type", f"text/html; charset={charset}".encode("ascii")))
            message = {**message, "headers": headers}
        await send(message)

    return declaring


class FaultMiddleware:
    """Counts requests per path and applies the board's active faults before the routes see them."""

    def __init__(self, app: ASGIApp, board: Board) -> None:
        self.app = app
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_control = path.startswith(CONTROL_PREFIX) and path != REDIRECT_HOP_PATH
        if is_control:
            await self.app(scope, receive, send)
            return
        self.board.record_request(path)
        if path == REDIRECT_HOP_PATH:
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = f"{path}?{query}" if query else path
        decided = self.board.take_request_faults(path, target)
        if decided.delay:
            await asyncio.sleep(decided.delay)
        fault = decided.action
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "reset":
            await _drop_connection(send)
            return
        if fault.kind == "bad_charset":
            await self.app(scope, receive, _declaring_charset(send, fault.charset))
            return
        response = _fault_response(self.board, fault, target)
        if response is None:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
