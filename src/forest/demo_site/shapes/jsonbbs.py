"""The board whose list page is an empty table filled by script from a JSON list (`/jsonbbs/`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from forest.demo_site.board import PER_PAGE
from forest.demo_site.notices import Notice
from forest.demo_site.params import board_of
from forest.demo_site.shapes.common import HEAD, detail_page, notice_fields, page_param


async def jsonbbs_page(request: Request) -> Response:
    """The HTML shell: an empty table the page's script fills from the JSON list."""
    return HTMLResponse(
        HEAD.format(title="입찰공고") +
        '<table class="bbs"><thead><tr><th>번호</th><th>제목</th><th>부서</th><th>등록일</th><th>조회</th></tr></thead>'
        '<tbody id="list"></tbody></table><div id="paging"></div>\n'
        "<script>function load(page){fetch('/jsonbbs/selectList.json?page=' + page)"
        ".then(function(r){return r.json();}).then(render);}load(1);"
        "function goView(id){location.href='/jsonbbs/view/' + id;}</script>\n</body></html>\n")


async def jsonbbs_list(request: Request) -> Response:
    """`{"resultList": [...], "paginationInfo": {...}}` for page `page`."""
    page = board_of(request).list_page(page_param(request.query_params.get("page")))
    beyond = page_param(request.query_params.get("page")) > page.last_page

    def item(n: Notice) -> dict[str, object]:
        return {"nttId": n.ntt_id, "nttSj": n.title, "deptNm": n.department,
                "frstRegistPnttm": f"{n.post_date.isoformat()} 09:00:00", "inqireCo": n.views,
                "noticeAt": "Y" if n.pinned else "N", "atchFileCnt": len(n.attachments)}

    rows = [] if beyond else [*(item(n) for n in page.pinned), *(item(n) for _, n in page.rows)]
    return JSONResponse({"resultList": rows, "paginationInfo": {
        "currentPageNo": page.page_index, "recordCountPerPage": PER_PAGE, "totalRecordCount": page.total,
        "totalPageCount": page.last_page}})


_FILE_ITEM = '<li><a class="file" href="/jsonbbs/file/{file_id}">{name}</a></li>'
_VIEW = (HEAD + '<div class="view"><h2 class="subject">{title}</h2>'
         '<dl><dt>부서</dt><dd class="dept">{department}</dd><dt>등록일</dt><dd class="date">{date}</dd>'
         '<dt>조회</dt><dd class="hit">{views}</dd></dl>'
         '<div class="content">{body}</div><ul class="files">{files}</ul></div></body></html>\n')


def _view_html(notice: Notice) -> str:
    return _VIEW.format(**notice_fields(notice, _FILE_ITEM))


async def jsonbbs_view(request: Request) -> Response:
    """The detail page, id in the path."""
    return detail_page(request, request.path_params["ntt_id"], _view_html)
