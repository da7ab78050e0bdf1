"""The demo board in the shapes agency boards take in the wild, each a view of the same notices.

Every shape serves the Board's notices (`/_demo/notices` is the truth of all of them):

- `/egovpost/`: eGovFrame paging by form POST (`fn_egov_link_page(3)` sets a hidden `pageIndex`),
  detail pages by POST (`fn_egov_inqire_notice('104800', 'BBSMSTR_000000000123')`), downloads by script
  (`fn_egov_downFile('FILE_000000104800', '0')`), titles cut with `…`; a JSESSIONID session is set on
  the GET of the list: a later request without it gets a redirect to the front page (list) or the
  error page with status 200 (detail). The `drop_session` fault makes the board forget its sessions.
- `/jsonbbs/`: the list page has an empty `<tbody>`; rows come from `/jsonbbs/selectList.json?page=N`
  (`resultList`, `paginationInfo`), pinned rows flagged `noticeAt: "Y"`, detail at `/jsonbbs/view/<id>`.
- `/en/tenders`: a plain English table, ids only in the detail path (`/en/tenders/view/T-2026-104800`),
  a `rel="next"` pager whose pages are paths (`/en/tenders/page/2`).
- `/cards/`: `<div class="card">` items, pinned ones marked by a pin icon, detail at `/cards/view/<id>`.
- `/grid/`: a table whose date cell spans the rows of one day (`rowspan`), pinned rows with a
  `colspan` icon cell and class `is-top`.
- `/framed/`: the eGovFrame board inside an `<iframe>`.
"""

from __future__ import annotations

import secrets
import threading
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from forest.demo_site import templates
from forest.demo_site.board import PER_PAGE, Board, ListPage
from forest.demo_site.notices import Notice

BBS_ID = "BBSMSTR_000000000123"
SESSION_COOKIE = "JSESSIONID"
SESSION_LOST_TEXT = "세션이 만료되었습니다"
CUT_AT = 20
_HEAD = '<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><title>{title}</title></head><body>\n'


def english_id(notice: Notice) -> str:
    """The reference the English board shows for a notice."""
    return f"T-{notice.post_date.year}-{notice.ntt_id}"


def file_key(file_id: int) -> str:
    """The eGovFrame `atchFileId` of an attachment."""
    return f"FILE_{file_id:012d}"


def cut(title: str) -> str:
    """A list title as boards cut it."""
    return title if len(title) <= CUT_AT else title[:CUT_AT] + "…"


class Sessions:
    """The sessions the form-POST board has handed out."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def new(self) -> str:
        """A fresh session id."""
        session_id = secrets.token_hex(16)
        with self._lock:
            self._ids.add(session_id)
        return session_id

    def valid(self, session_id: str | None) -> bool:
        """Whether the id is a live session."""
        with self._lock:
            return session_id is not None and session_id in self._ids

    def drop_all(self) -> None:
        """Forget every session (a restarted server)."""
        with self._lock:
            self._ids.clear()


def _board(request: Request) -> Board:
    board: Board = request.app.state.board
    return board


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def _page_param(value: str | None) -> int:
    return max(1, int(value)) if value and value.isdigit() and len(value) < 7 else 1


def _views(value: int) -> str:
    return f"{value:,}"


# ---- eGovFrame form-POST board with a session -------------------------------------------------


def _session_ok(request: Request) -> bool:
    if _board(request).take_fault("drop_session", request.url.path) is not None:
        _sessions(request).drop_all()
    return _sessions(request).valid(request.cookies.get(SESSION_COOKIE))


def _post_paging(page: ListPage) -> str:
    parts = []
    if page.page_index > 1:
        parts.append(f'<a href="#" onclick="fn_egov_link_page({page.page_index - 1}); return false;">이전</a>')
    for n in range(max(1, page.page_index - 4), min(page.last_page, page.page_index + 5) + 1):
        parts.append(f"<strong>{n}</strong>" if n == page.page_index else
                     f'<a href="#" onclick="fn_egov_link_page({n}); return false;">{n}</a>')
    if page.has_next:
        parts.append(f'<a href="#" class="next" onclick="fn_egov_link_page({page.page_index + 1}); return false;">'
                     "다음</a>")
    return '<div class="paging">' + " ".join(parts) + "</div>"


def egovpost_list_html(page: ListPage) -> str:
    """The form-POST board's list page."""
    rows = []
    for number, n in [*(("공지", p) for p in page.pinned), *page.rows]:
        link = (f'<a href="#" onclick="fn_egov_inqire_notice(\'{n.ntt_id}\', \'{BBS_ID}\'); return false;">'
                f"{escape(cut(n.title))}</a>")
        row_class = ' class="notice"' if n.pinned else ""
        rows.append(f'<tr{row_class}><td class="num">{number}</td>'
                    f'<td class="subject">{link}</td><td class="dept">{escape(n.department)}</td>'
                    f'<td class="date">{n.post_date.isoformat()}</td><td class="hit">{_views(n.views)}</td></tr>')
    if not page.rows:
        rows = ['<tr><td colspan="5" class="no_data">등록된 게시물이 없습니다.</td></tr>']
    return (
        _HEAD.format(title="입찰공고 | 산림청") +
        '<form id="listForm" name="listForm" method="post" action="/egovpost/bid/list.do">'
        f'<input type="hidden" name="pageIndex" value="{page.page_index}">'
        f'<input type="hidden" name="bbsId" value="{BBS_ID}"></form>\n'
        '<form id="viewForm" method="post" action="/egovpost/bid/view.do">'
        f'<input type="hidden" name="nttId" value=""><input type="hidden" name="bbsId" value="{BBS_ID}"></form>\n'
        "<script>function fn_egov_link_page(p){document.listForm.pageIndex.value=p;document.listForm.submit();}"
        "function fn_egov_inqire_notice(id,bbs){var f=document.getElementById('viewForm');"
        "f.nttId.value=id;f.bbsId.value=bbs;f.submit();}</script>\n"
        '<table class="board_list"><thead><tr><th>번호</th><th>제목</th><th>담당부서</th><th>작성일</th>'
        "<th>조회수</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
        f"{_post_paging(page)}\n</body></html>\n"
    )


def egovpost_view_html(notice: Notice) -> str:
    """The form-POST board's detail page: script downloads."""
    files = "".join(
        f'<li><a href="#" onclick="fn_egov_downFile(\'{file_key(a.file_id)}\',\'0\'); return false;">'
        f"{escape(a.name)}</a></li>" for a in notice.attachments)
    return (
        _HEAD.format(title=escape(notice.title)) +
        '<table class="board_view"><tbody>'
        f'<tr><th>제목</th><td class="title">{escape(notice.title)}</td></tr>'
        f'<tr><th>담당부서</th><td class="dept">{escape(notice.department)}</td></tr>'
        f'<tr><th>작성일</th><td class="date">{notice.post_date.isoformat()}</td></tr>'
        f'<tr><th>조회수</th><td class="views">{_views(notice.views)}</td></tr>'
        f'<tr><th>첨부파일</th><td class="files"><ul>{files}</ul></td></tr>'
        "</tbody></table>\n"
        f'<div class="view_content">{templates.body_html(notice.body)}</div>\n</body></html>\n'
    )


async def egovpost_front(request: Request) -> Response:
    """The agency's front page, where a request without a session ends up."""
    return HTMLResponse(_HEAD.format(title="산림청") + '<p><a href="/egovpost/bid/list.do">입찰공고</a></p>'
                        "</body></html>")


async def egovpost_list(request: Request) -> Response:
    """GET opens the board (and a session); POST pages it, and needs the session."""
    board = _board(request)
    if request.method == "GET":
        page = board.list_page(_page_param(request.query_params.get("pageIndex")))
        response = HTMLResponse(egovpost_list_html(page))
        if not _sessions(request).valid(request.cookies.get(SESSION_COOKIE)):
            response.set_cookie(SESSION_COOKIE, _sessions(request).new(), path="/egovpost", httponly=True)
        return response
    if not _session_ok(request):
        return RedirectResponse("/egovpost/index.do", status_code=302)
    form = await request.form()
    if form.get("bbsId") != BBS_ID:
        return HTMLResponse(templates.not_found("게시판을 찾을 수 없습니다."), status_code=404)
    page = board.list_page(_page_param(str(form.get("pageIndex") or "")))
    return HTMLResponse(egovpost_list_html(page))


async def egovpost_view(request: Request) -> Response:
    """POST nttId and bbsId; without a session the board answers its error page with status 200."""
    if not _session_ok(request):
        return HTMLResponse(_HEAD.format(title="오류") + f"<p class=\"error\">{SESSION_LOST_TEXT}. "
                            "처음부터 다시 이용해 주세요.</p></body></html>")
    form = await request.form()
    ntt_id = str(form.get("nttId") or "")
    notice = _board(request).view(int(ntt_id)) if ntt_id.isdigit() and form.get("bbsId") == BBS_ID else None
    if notice is None:
        return HTMLResponse(templates.not_found(), status_code=404)
    return HTMLResponse(egovpost_view_html(notice))


async def egovpost_file(request: Request) -> Response:
    """An attachment by atchFileId."""
    key = request.query_params.get("atchFileId", "")
    file_id = int(key[5:]) if key.startswith("FILE_") and key[5:].isdigit() else None
    attachment = _board(request).attachment(file_id) if file_id is not None else None
    if attachment is None:
        return HTMLResponse(templates.not_found("파일을 찾을 수 없습니다."), status_code=404)
    return Response(attachment.name.encode(), media_type="application/octet-stream")


# ---- JSON list board --------------------------------------------------------------------------


async def jsonbbs_page(request: Request) -> Response:
    """The HTML shell: an empty table the page's script fills from the JSON list."""
    return HTMLResponse(
        _HEAD.format(title="입찰공고") +
        '<table class="bbs"><thead><tr><th>번호</th><th>제목</th><th>부서</th><th>등록일</th><th>조회</th></tr></thead>'
        '<tbody id="list"></tbody></table><div id="paging"></div>\n'
        "<script>function load(page){fetch('/jsonbbs/selectList.json?page=' + page)"
        ".then(function(r){return r.json();}).then(render);}load(1);"
        "function goView(id){location.href='/jsonbbs/view/' + id;}</script>\n</body></html>\n")


async def jsonbbs_list(request: Request) -> Response:
    """`{"resultList": [...], "paginationInfo": {...}}` for page `page`."""
    page = _board(request).list_page(_page_param(request.query_params.get("page")))
    beyond = _page_param(request.query_params.get("page")) > page.last_page

    def item(n: Notice) -> dict[str, object]:
        return {"nttId": n.ntt_id, "nttSj": n.title, "deptNm": n.department,
                "frstRegistPnttm": f"{n.post_date.isoformat()} 09:00:00", "inqireCo": n.views,
                "noticeAt": "Y" if n.pinned else "N", "atchFileCnt": len(n.attachments)}

    rows = [] if beyond else [*(item(n) for n in page.pinned), *(item(n) for _, n in page.rows)]
    return JSONResponse({"resultList": rows, "paginationInfo": {
        "currentPageNo": page.page_index, "recordCountPerPage": PER_PAGE, "totalRecordCount": page.total,
        "totalPageCount": page.last_page}})


async def jsonbbs_view(request: Request) -> Response:
    """The detail page, id in the path."""
    raw = request.path_params["ntt_id"]
    notice = _board(request).view(int(raw)) if raw.isdigit() else None
    if notice is None:
        return HTMLResponse(templates.not_found(), status_code=404)
    files = "".join(f'<li><a class="file" href="/jsonbbs/file/{a.file_id}">{escape(a.name)}</a></li>'
                    for a in notice.attachments)
    return HTMLResponse(
        _HEAD.format(title=escape(notice.title)) +
        f'<div class="view"><h2 class="subject">{escape(notice.title)}</h2>'
        f'<dl><dt>부서</dt><dd class="dept">{escape(notice.department)}</dd>'
        f'<dt>등록일</dt><dd class="date">{notice.post_date.isoformat()}</dd>'
        f'<dt>조회</dt><dd class="hit">{_views(notice.views)}</dd></dl>'
        f'<div class="content">{templates.body_html(notice.body)}</div><ul class="files">{files}</ul></div>'
        "</body></html>\n")


async def shape_file(request: Request) -> Response:
    """An attachment by file id in the path (JSON, English, card and grid boards)."""
    raw = request.path_params["file_id"]
    attachment = _board(request).attachment(int(raw)) if raw.isdigit() else None
    if attachment is None:
        return HTMLResponse(templates.not_found("파일을 찾을 수 없습니다."), status_code=404)
    return Response(attachment.name.encode(), media_type="application/octet-stream")


# ---- English table, ids in the path, rel="next" -------------------------------------------------


def _english_page(request: Request, page_index: int) -> Response:
    page = _board(request).list_page(page_index)
    rows = "".join(
        f"<tr><td>{english_id(n)}</td>"
        f'<td><a href="/en/tenders/view/{english_id(n)}">{escape(n.title)}</a></td>'
        f"<td>{escape(n.department)}</td><td>{n.post_date.isoformat()}</td><td>{_views(n.views)}</td></tr>"
        for _, n in page.rows)
    links = []
    if page.page_index > 1:
        links.append(f'<a rel="prev" href="/en/tenders/page/{page.page_index - 1}">‹ Previous</a>')
    if page.has_next:
        links.append(f'<a rel="next" href="/en/tenders/page/{page.page_index + 1}">Next ›</a>')
    return HTMLResponse(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Tenders</title></head><body>\n'
        '<h1>Open tenders</h1><table class="tenders"><thead><tr><th>Ref.</th><th>Title</th><th>Buyer</th>'
        f"<th>Published</th><th>Views</th></tr></thead><tbody>{rows}</tbody></table>\n"
        f'<nav class="pages">{" ".join(links)}</nav>\n</body></html>\n')


async def english_first(request: Request) -> Response:
    """Page 1 of the English tender table."""
    return _english_page(request, 1)


async def english_page(request: Request) -> Response:
    """Page N, at a path."""
    return _english_page(request, _page_param(request.path_params["page"]))


async def english_view(request: Request) -> Response:
    """A tender's detail page, its reference in the path."""
    ref: str = request.path_params["ref"]
    raw = ref.rsplit("-", 1)[-1]
    notice = _board(request).view(int(raw)) if raw.isdigit() else None
    if notice is None or english_id(notice) != ref:
        return HTMLResponse(templates.not_found("No such tender."), status_code=404)
    docs = "".join(f'<li><a href="/shapes/file/{a.file_id}">{escape(a.name)}</a></li>' for a in notice.attachments)
    return HTMLResponse(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(notice.title)}</title></head>'
        f"<body><h1>{escape(notice.title)}</h1>\n<table class=\"details\"><tbody>"
        f"<tr><th>Title</th><td>{escape(notice.title)}</td></tr>"
        f"<tr><th>Buyer</th><td>{escape(notice.department)}</td></tr>"
        f"<tr><th>Published</th><td>{notice.post_date.isoformat()}</td></tr>"
        f"<tr><th>Views</th><td>{_views(notice.views)}</td></tr>"
        f"<tr><th>Documents</th><td><ul>{docs}</ul></td></tr></tbody></table>\n"
        f'<div class="notice-body">{templates.body_html(notice.body)}</div></body></html>\n')


# ---- cards with pin icons -----------------------------------------------------------------------


async def cards_list(request: Request) -> Response:
    """`<div class="card">` items; pinned ones carry a pin icon, not the word 공지."""
    page = _board(request).list_page(_page_param(request.query_params.get("page")))
    cards = []
    for n in (*page.pinned, *(n for _, n in page.rows)):
        pin = '<img class="pin" src="/img/pin.svg" alt="">' if n.pinned else ""
        cards.append(
            f'<div class="card">{pin}<a class="card-link" href="/cards/view/{n.ntt_id}">'
            f'<h3 class="card-title">{escape(cut(n.title))}</h3></a>'
            f'<p class="card-meta"><span class="org">{escape(n.department)}</span>'
            f'<time datetime="{n.post_date.isoformat()}">{n.post_date.strftime("%Y.%m.%d")}</time>'
            f'<span class="views">조회 {_views(n.views)}</span></p></div>')
    more = (f'<a class="more" href="/cards/list?page={page.page_index + 1}">다음 ›</a>' if page.has_next else "")
    return HTMLResponse(_HEAD.format(title="입찰 소식") + '<div class="cards">' + "".join(cards) + "</div>"
                        f'<div class="pager">{more}</div></body></html>\n')


async def cards_view(request: Request) -> Response:
    """A card's detail page."""
    raw = request.path_params["ntt_id"]
    notice = _board(request).view(int(raw)) if raw.isdigit() else None
    if notice is None:
        return HTMLResponse(templates.not_found(), status_code=404)
    files = "".join(f'<a class="download" href="/shapes/file/{a.file_id}">{escape(a.name)}</a>'
                    for a in notice.attachments)
    return HTMLResponse(
        _HEAD.format(title=escape(notice.title)) +
        f'<article><h1 class="headline">{escape(notice.title)}</h1>'
        f'<p class="byline"><span class="org">{escape(notice.department)}</span> '
        f'<time datetime="{notice.post_date.isoformat()}">{notice.post_date.isoformat()}</time> '
        f'<span class="views">조회 {_views(notice.views)}</span></p>'
        f'<div class="body">{templates.body_html(notice.body)}</div><div class="downloads">{files}</div></article>'
        "</body></html>\n")


# ---- a table with rowspan dates and colspan pinned rows -------------------------------------------


async def grid_list(request: Request) -> Response:
    """One date cell spans every row of that day; pinned rows have class is-top and a colspan icon cell."""
    page = _board(request).list_page(_page_param(request.query_params.get("page")))
    rows = [
        f'<tr class="is-top"><td colspan="2"><img src="/img/top.png" alt="상단고정"> '
        f'<a href="/grid/view.do?no={n.ntt_id}">{escape(n.title)}</a></td>'
        f"<td>{escape(n.department)}</td><td>{n.post_date.isoformat()}</td><td>{_views(n.views)}</td></tr>"
        for n in page.pinned]
    regular = [n for _, n in page.rows]
    for i, (number, n) in enumerate(page.rows):
        span = 1
        while i + span < len(regular) and regular[i + span].post_date == n.post_date:
            span += 1
        first_of_day = i == 0 or regular[i - 1].post_date != n.post_date
        date_cell = (f'<td rowspan="{span}" class="day">{n.post_date.isoformat()}</td>' if first_of_day else "")
        rows.append(f"<tr><td>{number}</td><td><a href=\"/grid/view.do?no={n.ntt_id}\">{escape(n.title)}</a></td>"
                    f"<td>{escape(n.department)}</td>{date_cell}<td>{_views(n.views)}</td></tr>")
    pager = " ".join(f"<strong>{k}</strong>" if k == page.page_index else f'<a href="/grid/list.do?page={k}">{k}</a>'
                     for k in range(1, page.last_page + 1))
    return HTMLResponse(
        _HEAD.format(title="입찰공고") + '<table class="grid"><thead><tr><th>번호</th><th>제목</th><th>담당부서</th>'
        '<th>게시일</th><th>조회수</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
        f'<div class="pagination">{pager}</div></body></html>\n')


async def grid_view(request: Request) -> Response:
    """The grid board's detail page."""
    raw = request.query_params.get("no", "")
    notice = _board(request).view(int(raw)) if raw.isdigit() else None
    if notice is None:
        return HTMLResponse(templates.not_found(), status_code=404)
    files = "".join(f'<li><a href="/shapes/file/{a.file_id}">{escape(a.name)}</a></li>' for a in notice.attachments)
    return HTMLResponse(
        _HEAD.format(title=escape(notice.title)) + '<table class="board_view"><tbody>'
        f'<tr><th>제목</th><td class="title">{escape(notice.title)}</td></tr>'
        f'<tr><th>담당부서</th><td class="dept">{escape(notice.department)}</td></tr>'
        f'<tr><th>게시일</th><td class="date">{notice.post_date.isoformat()}</td></tr>'
        f'<tr><th>조회수</th><td class="views">{_views(notice.views)}</td></tr>'
        f'<tr><th>첨부파일</th><td class="files"><ul>{files}</ul></td></tr></tbody></table>'
        f"<div>{templates.body_html(notice.body)}</div></body></html>\n")


# ---- the board inside an iframe -----------------------------------------------------------------


async def framed_index(request: Request) -> Response:
    """A portal page whose board lives in an iframe."""
    return HTMLResponse(
        _HEAD.format(title="입찰공고 | 포털") + '<header><h1>산림청 포털</h1></header>'
        '<iframe id="boardFrame" title="입찰공고" src="/framed/board/list.do" width="100%" height="800"></iframe>'
        "</body></html>\n")


def shape_routes() -> list[Route]:
    """The routes of every shape (the framed board's inner pages are the eGovFrame routes under /framed/board)."""
    return [
        Route("/egovpost/index.do", egovpost_front),
        Route("/egovpost/bid/list.do", egovpost_list, methods=["GET", "POST"]),
        Route("/egovpost/bid/view.do", egovpost_view, methods=["POST"]),
        Route("/cmm/fms/FileDown.do", egovpost_file),
        Route("/jsonbbs/list.do", jsonbbs_page),
        Route("/jsonbbs/selectList.json", jsonbbs_list),
        Route("/jsonbbs/view/{ntt_id}", jsonbbs_view),
        Route("/jsonbbs/file/{file_id}", shape_file),
        Route("/shapes/file/{file_id}", shape_file),
        Route("/en/tenders", english_first),
        Route("/en/tenders/page/{page}", english_page),
        Route("/en/tenders/view/{ref}", english_view),
        Route("/cards/list", cards_list),
        Route("/cards/view/{ntt_id}", cards_view),
        Route("/grid/list.do", grid_list),
        Route("/grid/view.do", grid_view),
        Route("/framed/", framed_index),
    ]


__all__ = ["BBS_ID", "SESSION_LOST_TEXT", "Sessions", "cut", "english_id", "file_key", "shape_routes"]
