"""The demo bid board as a Starlette app: the eGovFrame and custom layouts, robots.txt, shapes, faults, control API."""

from __future__ import annotations

from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from forest.demo_site import templates
from forest.demo_site.board import Board
from forest.demo_site.control import control_routes
from forest.demo_site.faulting import REDIRECT_HOP_PATH, FaultMiddleware, install_log_filter, redirect_hop
from forest.demo_site.notices import download_bytes
from forest.demo_site.params import board_of, int_param
from forest.demo_site.shapes import Sessions, shape_routes

EGOV_PREFIXES = ("/kfs/bid", "/euckr/bid", "/private", "/framed/board")


def _egov_html(text: str, *, euckr: bool, status_code: int = 200) -> Response:
    if euckr:
        # No charset in the header on purpose: like many old boards, only the meta tag tells the truth.
        return Response(text.encode("cp949"), status_code=status_code, headers={"content-type": "text/html"})
    return HTMLResponse(text, status_code=status_code)


def _repeat_last_page(request: Request, page_index: int) -> bool:
    board = board_of(request)
    return page_index > board.last_page and board.take_fault("repeat_last_page", request.url.path) is not None


def _egov_routes(prefix: str) -> list[Route]:
    euckr = prefix.startswith("/euckr")
    meta = templates.EUCKR_META if euckr else templates.UTF8_META

    async def list_page(request: Request) -> Response:
        """A page of the notice list, newest first."""
        page_index = max(1, int_param(request, "pageIndex", 1) or 1)
        page = board_of(request).list_page(page_index, repeat_last_page=_repeat_last_page(request, page_index))
        return _egov_html(templates.egov_list(page, prefix=prefix, meta=meta), euckr=euckr)

    async def view_page(request: Request) -> Response:
        """One notice's detail page; counts a view."""
        ntt_id = int_param(request, "nttId")
        notice = board_of(request).view(ntt_id) if ntt_id is not None else None
        if notice is None:
            return _egov_html(templates.not_found(), euckr=False, status_code=404)
        page_index = max(1, int_param(request, "pageIndex", 1) or 1)
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
    file_id = int_param(request, param)
    attachment = board_of(request).attachment(file_id) if file_id is not None else None
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
    page_index = max(1, int_param(request, "page", 1) or 1)
    page = board_of(request).list_page(page_index, repeat_last_page=_repeat_last_page(request, page_index))
    return HTMLResponse(templates.custom_list(page))


async def custom_view(request: Request) -> Response:
    """The custom-layout detail page; counts a view."""
    ntt_id = int_param(request, "id")
    notice = board_of(request).view(ntt_id) if ntt_id is not None else None
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
    return PlainTextResponse(board_of(request).robots_txt)


def create_demo_app(*, notices: int = 500, seed: int = 1, robots_txt: str | None = None) -> Starlette:
    """A fresh demo board app with `notices` regular notices generated from `seed`."""
    install_log_filter()
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
            *control_routes(),
        ]
    )
    app = Starlette(routes=routes, middleware=[Middleware(FaultMiddleware, board=board)])
    app.state.board = board
    app.state.sessions = Sessions()
    return app
