"""The demo bid board as a Starlette app: three board layouts, robots.txt, faults and a control API."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gzip
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forest.demo_site import templates
from forest.demo_site.board import Board
from forest.demo_site.faults import Fault, FaultKind
from forest.demo_site.notices import download_bytes
from forest.demo_site.shapes import Sessions, shape_routes

OVERSIZED_BYTES = 12 * 1024 * 1024
# Inflates past a 10 MiB body limit while staying a few KiB on the wire.
GZIP_BOMB_BYTES = 11 * 1024 * 1024
_CHUNK = 64 * 1024
EGOV_PREFIXES = ("/kfs/bid", "/euckr/bid", "/private", "/framed/board")
CONTROL_PREFIX = "/_demo/"
REDIRECT_HOP_PATH = "/_demo/redirect"

# Set while a request is being cut off on purpose, so uvicorn's complaint about it stays out of the logs.
_dropping_connection: contextvars.ContextVar[bool] = contextvars.ContextVar("_dropping_connection", default=False)


class _DroppedConnectionFilter(logging.Filter):
    """Hides uvicorn's error record for connections the reset fault cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _dropping_connection.get()


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DroppedConnectionFilter) for f in logger.filters):
        logger.addFilter(_DroppedConnectionFilter())


def get_board(app: Starlette) -> Board:
    """The live Board behind an app made by create_demo_app."""
    board: Board = app.state.board
    return board


def _board(request: Request) -> Board:
    return get_board(request.app)


def _int_param(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return default


def _egov_html(text: str, *, euckr: bool, status_code: int = 200) -> Response:
    if euckr:
        # No charset in the header on purpose: like many old boards, only the meta tag tells the truth.
        return Response(text.encode("cp949"), status_code=status_code, headers={"content-type": "text/html"})
    return HTMLResponse(text, status_code=status_code)


def _repeat_last_page(request: Request, page_index: int) -> bool:
    board = _board(request)
    return page_index > board.last_page and board.take_fault("repeat_last_page", request.url.path) is not None


def _egov_routes(prefix: str) -> list[Route]:
    euckr = prefix.startswith("/euckr")
    meta = templates.EUCKR_META if euckr else templates.UTF8_META

    async def list_page(request: Request) -> Response:
        """A page of the notice list, newest first."""
        page_index = max(1, _int_param(request, "pageIndex", 1) or 1)
        page = _board(request).list_page(page_index, repeat_last_page=_repeat_last_page(request, page_index))
        return _egov_html(templates.egov_list(page, prefix=prefix, meta=meta), euckr=euckr)

    async def view_page(request: Request) -> Response:
        """One notice's detail page; counts a view."""
        ntt_id = _int_param(request, "nttId")
        notice = _board(request).view(ntt_id) if ntt_id is not None else None
        if notice is None:
            return _egov_html(templates.not_found(), euckr=False, status_code=404)
        page_index = max(1, _int_param(request, "pageIndex", 1) or 1)
        return _egov_html(templates.egov_view(notice, prefix=prefix, page_index=page_index, meta=meta), euckr=euckr)

    async def download(request: Request) -> Response:
        """An attachment's bytes."""
        return _file_response(request, "fileId")

    return [
        Route(f"{prefix}/list.do", list_page),
        Route(f"{prefix}/view.do", view_page),
        Route(f"{prefix}/download.do", download),
    ]


def _file_response(request: Request, param: str) -> Response:
    file_id = _int_param(request, param)
    attachment = _board(request).attachment(file_id) if file_id is not None else None
    if attachment is None:
        return HTMLResponse(templates.not_found("파일을 찾을 수 없습니다."), status_code=404)
    disposition = f"attachment; filename*=UTF-8''{quote(attachment.name)}"
    return Response(
        download_bytes(attachment),
        media_type="application/octet-stream",
        headers={"content-disposition": disposition},
    )


async def custom_list(request: Request) -> Response:
    """The custom-layout bid list."""
    page_index = max(1, _int_param(request, "page", 1) or 1)
    page = _board(request).list_page(page_index, repeat_last_page=_repeat_last_page(request, page_index))
    return HTMLResponse(templates.custom_list(page))


async def custom_view(request: Request) -> Response:
    """The custom-layout detail page; counts a view."""
    ntt_id = _int_param(request, "id")
    notice = _board(request).view(ntt_id) if ntt_id is not None else None
    if notice is None:
        return HTMLResponse(templates.not_found(), status_code=404)
    return HTMLResponse(templates.custom_view(notice))


async def custom_file(request: Request) -> Response:
    """An attachment of the custom-layout board."""
    return _file_response(request, "id")


async def index(request: Request) -> Response:
    """Links to the demo boards."""
    return HTMLResponse(templates.index())


async def robots_page(request: Request) -> Response:
    """The site's robots.txt, changeable at runtime."""
    return PlainTextResponse(_board(request).robots_txt)


async def redirect_hop(request: Request) -> Response:
    """One hop of an injected redirect chain."""
    left = _int_param(request, "left", 1) or 1
    target = request.query_params.get("to", "/")
    location = request.query_params.get("location")
    return _redirect(_board(request), left=left, target=target, location=location)


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


async def control_state(request: Request) -> Response:
    """Board size, newest id, active faults and per-path request counters."""
    return JSONResponse(_board(request).state())


def _count_param(request: Request) -> int | Response:
    count = _int_param(request, "count", 1)
    if count is None or count < 0 or count > 100_000:
        return JSONResponse({"detail": "count must be an integer between 0 and 100000"}, status_code=422)
    return count


async def control_add(request: Request) -> Response:
    """Post `count` new notices on top of the board."""
    count = _count_param(request)
    if isinstance(count, Response):
        return count
    board = _board(request)
    added = board.add_notices(count)
    return JSONResponse({"added": [n.ntt_id for n in added], "total": board.total, "newest_id": board.newest_id})


async def control_truth(request: Request) -> Response:
    """Every notice with the facts its body states (`TenderFacts.to_json()` without evidence)."""
    return JSONResponse({"notices": _board(request).truth()})


async def control_correct(request: Request) -> Response:
    """Post a 정정공고 for notice `ntt_id`: its deadline (and opening) move by `days` (default 7)."""
    ntt_id = _int_param(request, "ntt_id")
    days = _int_param(request, "days", 7)
    if ntt_id is None or days is None:
        return JSONResponse({"detail": "ntt_id and days must be integers"}, status_code=422)
    try:
        notice = _board(request).correct_deadline(ntt_id, days=days)
    except LookupError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return JSONResponse({"corrected": notice.ntt_id, "title": notice.title, "facts": notice.facts.without_evidence()})


async def control_edit(request: Request) -> Response:
    """Correct `count` recent notices."""
    count = _count_param(request)
    if isinstance(count, Response):
        return count
    edited = _board(request).edit_notices(count)
    return JSONResponse({"edited": [n.ntt_id for n in edited]})


class _FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    remaining: int | None = None
    path_prefix: str | None = None
    delay: float = 1.0
    hops: int = 3
    location: str | None = None
    gzip: bool = False
    charset: str = "base64"


_FAULTS_IN: TypeAdapter[dict[FaultKind, _FaultIn | None]] = TypeAdapter(dict[FaultKind, _FaultIn | None])


async def control_faults(request: Request) -> Response:
    """Turn faults on (an object of parameters) or off (null); other faults stay as they are."""
    board = _board(request)
    if request.method == "DELETE":
        board.clear_faults()
        return JSONResponse({"faults": {}})
    try:
        faults_in = _FAULTS_IN.validate_json(await request.body())
        for kind, fault_in in faults_in.items():
            if fault_in is None:
                board.clear_fault(kind)
            else:
                board.set_fault(kind, **fault_in.model_dump())
    except ValidationError as exc:
        return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, status_code=422)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return JSONResponse({"faults": {kind: f.to_json() for kind, f in board.faults.items()}})


async def control_robots(request: Request) -> Response:
    """Replace robots.txt with the request body."""
    board = _board(request)
    board.robots_txt = (await request.body()).decode()
    return PlainTextResponse(board.robots_txt)


async def control_reset(request: Request) -> Response:
    """Regenerate the board from its seed and clear faults, counters and robots.txt changes."""
    board = _board(request)
    board.reset()
    return JSONResponse(board.state())


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


def create_demo_app(*, notices: int = 500, seed: int = 1, robots_txt: str | None = None) -> Starlette:
    """A fresh demo board app with `notices` regular notices generated from `seed`."""
    _install_log_filter()
    board = Board(notices=notices, seed=seed, robots_txt=robots_txt)
    routes = [Route("/", index), Route("/robots.txt", robots_page)]
    for prefix in EGOV_PREFIXES:
        routes.extend(_egov_routes(prefix))
    routes.extend(
        [
            Route("/custom/bids", custom_list),
            Route("/custom/bid", custom_view),
            Route("/custom/file", custom_file),
            *shape_routes(),
            Route(REDIRECT_HOP_PATH, redirect_hop),
            Route("/_demo/state", control_state),
            Route("/_demo/notices", control_add, methods=["POST"]),
            Route("/_demo/notices", control_truth, methods=["GET"]),
            Route("/_demo/corrections", control_correct, methods=["POST"]),
            Route("/_demo/edits", control_edit, methods=["POST"]),
            Route("/_demo/faults", control_faults, methods=["POST", "DELETE"]),
            Route("/_demo/robots", control_robots, methods=["PUT"]),
            Route("/_demo/reset", control_reset, methods=["POST"]),
        ]
    )
    app = Starlette(routes=routes, middleware=[Middleware(FaultMiddleware, board=board)])
    app.state.board = board
    app.state.sessions = Sessions()
    return app
