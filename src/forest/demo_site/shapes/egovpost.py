"""The eGovFrame board paged by form POST, with a JSESSIONID session and script downloads (`/egovpost/`)."""

from __future__ import annotations

import secrets
import threading
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from forest.demo_site import templates
from forest.demo_site.board import ListPage
from forest.demo_site.notices import Notice
from forest.demo_site.params import board_of
from forest.demo_site.shapes.common import HEAD, cut, detail_table, page_param, views

BBS_ID = "BBSMSTR_000000000123"
SESSION_COOKIE = "JSESSIONID"
SESSION_LOST_TEXT = "세션이 만료되었습니다"


def file_key(file_id: int) -> str:
    """The eGovFrame `atchFileId` of an attachment."""
    return f"FILE_{file_id:012d}"


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


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def _session_ok(request: Request) -> bool:
    if board_of(request).take_fault("drop_session", request.url.path) is not None:
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
                    f'<td class="date">{n.post_date.isoformat()}</td><td class="hit">{views(n.views)}</td></tr>')
    if not page.rows:
        rows = ['<tr><td colspan="5" class="no_data">등록된 게시물이 없습니다.</td></tr>']
    return (
        HEAD.format(title="입찰공고 | 산림청") +
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
    table = detail_table(notice, files, ("제목", "담당부서", "작성일", "조회수", "첨부파일"), table_class="board_view")
    return (
        HEAD.format(title=escape(notice.title)) + table + "\n"
        f'<div class="view_content">{templates.body_html(notice.body)}</div>\n</body></html>\n'
    )


async def egovpost_front(request: Request) -> Response:
    """The agency's front page, where a request without a session ends up."""
    return HTMLResponse(HEAD.format(title="산림청") + '<p><a href="/egovpost/bid/list.do">입찰공고</a></p>'
                        "</body></html>")


async def egovpost_list(request: Request) -> Response:
    """GET opens the board (and a session); POST pages it, and needs the session."""
    board = board_of(request)
    if request.method == "GET":
        page = board.list_page(page_param(request.query_params.get("pageIndex")))
        response = HTMLResponse(egovpost_list_html(page))
        if not _sessions(request).valid(request.cookies.get(SESSION_COOKIE)):
            response.set_cookie(SESSION_COOKIE, _sessions(request).new(), path="/egovpost", httponly=True)
        return response
    if not _session_ok(request):
        return RedirectResponse("/egovpost/index.do", status_code=302)
    form = await request.form()
    if form.get("bbsId") != BBS_ID:
        return HTMLResponse(templates.not_found("게시판을 찾을 수 없습니다."), status_code=404)
    page = board.list_page(page_param(str(form.get("pageIndex") or "")))
    return HTMLResponse(egovpost_list_html(page))


async def egovpost_view(request: Request) -> Response:
    """POST nttId and bbsId; without a session the board answers its error page with status 200."""
    if not _session_ok(request):
        return HTMLResponse(HEAD.format(title="오류") + f"<p class=\"error\">{SESSION_LOST_TEXT}. "
                            "처음부터 다시 이용해 주세요.</p></body></html>")
    form = await request.form()
    ntt_id = str(form.get("nttId") or "")
    notice = board_of(request).view(int(ntt_id)) if ntt_id.isdigit() and form.get("bbsId") == BBS_ID else None
    if notice is None:
        return HTMLResponse(templates.not_found(), status_code=404)
    return HTMLResponse(egovpost_view_html(notice))


async def egovpost_file(request: Request) -> Response:
    """An attachment by atchFileId."""
    key = request.query_params.get("atchFileId", "")
    file_id = int(key[5:]) if key.startswith("FILE_") and key[5:].isdigit() else None
    attachment = board_of(request).attachment(file_id) if file_id is not None else None
    if attachment is None:
        return HTMLResponse(templates.not_found("파일을 찾을 수 없습니다."), status_code=404)
    return Response(attachment.name.encode(), media_type="application/octet-stream")
