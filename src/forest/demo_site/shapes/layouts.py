"""Three more list layouts: cards with pin icons (`/cards/`), a table with rowspan dates (`/grid/`), an iframe."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from forest.demo_site import templates
from forest.demo_site.notices import Notice
from forest.demo_site.params import board_of
from forest.demo_site.shapes.common import (
    HEAD,
    cut,
    detail_page,
    detail_table,
    file_links,
    notice_fields,
    page_param,
    views,
)


async def cards_list(request: Request) -> Response:
    """`<div class="card">` items; pinned ones carry a pin icon, not the word 공지."""
    page = board_of(request).list_page(page_param(request.query_params.get("page")))
    cards = []
    for n in (*page.pinned, *(n for _, n in page.rows)):
        pin = '<img class="pin" src="/img/pin.svg" alt="">' if n.pinned else ""
        cards.append(
            f'<div class="card">{pin}<a class="card-link" href="/cards/view/{n.ntt_id}">'
            f'<h3 class="card-title">{escape(cut(n.title))}</h3></a>'
            f'<p class="card-meta"><span class="org">{escape(n.department)}</span>'
            f'<time datetime="{n.post_date.isoformat()}">{n.post_date.strftime("%Y.%m.%d")}</time>'
            f'<span class="views">조회 {views(n.views)}</span></p></div>')
    more = (f'<a class="more" href="/cards/list?page={page.page_index + 1}">다음 ›</a>' if page.has_next else "")
    return HTMLResponse(HEAD.format(title="입찰 소식") + '<div class="cards">' + "".join(cards) + "</div>"
                        f'<div class="pager">{more}</div></body></html>\n')


_CARD_FILE = '<a class="download" href="/shapes/file/{file_id}">{name}</a>'
_CARD = (HEAD + '<article><h1 class="headline">{title}</h1>'
         '<p class="byline"><span class="org">{department}</span> <time datetime="{date}">{date}</time> '
         '<span class="views">조회 {views}</span></p>'
         '<div class="body">{body}</div><div class="downloads">{files}</div></article></body></html>\n')


def _card_html(notice: Notice) -> str:
    return _CARD.format(**notice_fields(notice, _CARD_FILE))


async def cards_view(request: Request) -> Response:
    """A card's detail page."""
    return detail_page(request, request.path_params["ntt_id"], _card_html)


async def grid_list(request: Request) -> Response:
    """One date cell spans every row of that day; pinned rows have class is-top and a colspan icon cell."""
    page = board_of(request).list_page(page_param(request.query_params.get("page")))
    rows = [
        f'<tr class="is-top"><td colspan="2"><img src="/img/top.png" alt="상단고정"> '
        f'<a href="/grid/view.do?no={n.ntt_id}">{escape(n.title)}</a></td>'
        f"<td>{escape(n.department)}</td><td>{n.post_date.isoformat()}</td><td>{views(n.views)}</td></tr>"
        for n in page.pinned]
    regular = [n for _, n in page.rows]
    for i, (number, n) in enumerate(page.rows):
        span = 1
        while i + span < len(regular) and regular[i + span].post_date == n.post_date:
            span += 1
        first_of_day = i == 0 or regular[i - 1].post_date != n.post_date
        date_cell = (f'<td rowspan="{span}" class="day">{n.post_date.isoformat()}</td>' if first_of_day else "")
        rows.append(f"<tr><td>{number}</td><td><a href=\"/grid/view.do?no={n.ntt_id}\">{escape(n.title)}</a></td>"
                    f"<td>{escape(n.department)}</td>{date_cell}<td>{views(n.views)}</td></tr>")
    pager = " ".join(f"<strong>{k}</strong>" if k == page.page_index else f'<a href="/grid/list.do?page={k}">{k}</a>'
                     for k in range(1, page.last_page + 1))
    return HTMLResponse(
        HEAD.format(title="입찰공고") + '<table class="grid"><thead><tr><th>번호</th><th>제목</th><th>담당부서</th>'
        '<th>게시일</th><th>조회수</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
        f'<div class="pagination">{pager}</div></body></html>\n')


def _grid_view_html(notice: Notice) -> str:
    return (HEAD.format(title=escape(notice.title))
            + detail_table(notice, file_links(notice), ("제목", "담당부서", "게시일", "조회수", "첨부파일"),
                           table_class="board_view")
            + f"<div>{templates.body_html(notice.body)}</div></body></html>\n")


async def grid_view(request: Request) -> Response:
    """The grid board's detail page."""
    return detail_page(request, request.query_params.get("no", ""), _grid_view_html)


async def framed_index(request: Request) -> Response:
    """A portal page whose board lives in an iframe."""
    return HTMLResponse(
        HEAD.format(title="입찰공고 | 포털") + '<header><h1>산림청 포털</h1></header>'
        '<iframe id="boardFrame" title="입찰공고" src="/framed/board/list.do" width="100%" height="800"></iframe>'
        "</body></html>\n")
