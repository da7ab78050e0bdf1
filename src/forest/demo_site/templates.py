"""HTML for the demo board, built as plain strings so the markup contract stays byte-exact."""

from __future__ import annotations

from html import escape

from forest.demo_site.board import PER_PAGE, ListPage
from forest.demo_site.notices import Notice

UTF8_META = '<meta charset="utf-8">'
EUCKR_META = '<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">'
# eGovFrame pagers show page numbers in blocks of ten.
PAGE_BLOCK = 10
_NO_DATA = '<tr><td colspan="6" class="no_data">등록된 게시물이 없습니다.</td></tr>'
_FILE_ICON = '<img src="/img/ico_file.gif" alt="첨부파일 있음">'


def _views(value: int) -> str:
    return f"{value:,}"


def _page_block(page: ListPage) -> range:
    current = min(page.page_index, page.last_page)
    first = (current - 1) // PAGE_BLOCK * PAGE_BLOCK + 1
    return range(first, min(first + PAGE_BLOCK - 1, page.last_page) + 1)


def _egov_paging(page: ListPage, prefix: str) -> str:
    def href(n: int) -> str:
        return f"{prefix}/list.do?pageIndex={n}"

    prev_index = max(1, min(page.page_index - 1, page.last_page))
    parts = [
        f'<a href="{href(1)}" class="first">처음</a>',
        f'<a href="{href(prev_index)}" class="prev">이전</a>',
    ]
    for n in _page_block(page):
        parts.append(f"<strong>{n}</strong>" if n == page.page_index else f'<a href="{href(n)}">{n}</a>')
    if page.has_next:
        parts.append(f'<a href="{href(page.page_index + 1)}" class="next">다음</a>')
    parts.append(f'<a href="{href(page.last_page)}" class="last">끝</a>')
    return '<div class="paging">' + " ".join(parts) + "</div>"


def _egov_row(number_cell: str, notice: Notice, prefix: str, page_index: int, row_class: str) -> str:
    link = f"{prefix}/view.do?nttId={notice.ntt_id}&amp;pageIndex={page_index}"
    files = _FILE_ICON if notice.attachments else ""
    return (
        f"<tr{row_class}>"
        f'<td class="num">{number_cell}</td>'
        f'<td class="subject"><a href="{link}">{escape(notice.title)}</a></td>'
        f"<td>{escape(notice.department)}</td>"
        f"<td>{notice.post_date.isoformat()}</td>"
        f"<td>{files}</td>"
        f"<td>{_views(notice.views)}</td>"
        "</tr>"
    )


def egov_list(page: ListPage, *, prefix: str, meta: str = UTF8_META) -> str:
    """The eGovFrame list page for `page`, with links under `prefix` (e.g. /kfs/bid)."""
    rows = [
        _egov_row('<span class="ico_notice">공지</span>', n, prefix, page.page_index, ' class="notice"')
        for n in page.pinned
    ]
    rows.extend(_egov_row(str(number), n, prefix, page.page_index, "") for number, n in page.rows)
    if not page.rows:
        rows = [_NO_DATA]
    return (
        f'<!DOCTYPE html><html lang="ko"><head>{meta}<title>입찰공고 | 산림청</title></head><body>\n'
        '<div id="content"><h3>입찰공고</h3>\n'
        '<div class="board_list_wrap"><table class="board_list" summary="번호, 제목, 담당부서, 작성일, 첨부, 조회수">\n'
        "<caption>입찰공고 목록</caption>\n"
        '<thead><tr><th scope="col">번호</th><th scope="col">제목</th><th scope="col">담당부서</th>'
        '<th scope="col">작성일</th><th scope="col">첨부</th><th scope="col">조회수</th></tr></thead>\n'
        "<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>\n"
        f"{_egov_paging(page, prefix)}\n"
        "</div></body></html>\n"
    )


def _table_html(rows: list[str]) -> str:
    cells = (line.split("\t") for line in rows)
    trs = "".join(
        f"<tr><th>{escape(head)}</th>" + "".join(f"<td>{escape(cell)}</td>" for cell in rest) + "</tr>"
        for head, *rest in cells
    )
    return f'<table class="bid_info"><tbody>{trs}</tbody></table>'


def _body_html(body: str) -> str:
    """Paragraphs, and a key-value table for each run of lines holding tabs (as KONEPS-style notices show)."""
    parts: list[str] = []
    rows: list[str] = []
    for line in body.split("\n"):
        if "\t" in line:
            rows.append(line)
            continue
        if rows:
            parts.append(_table_html(rows))
            rows = []
        parts.append(f"<p>{escape(line)}</p>")
    if rows:
        parts.append(_table_html(rows))
    return "".join(parts)


body_html = _body_html


def egov_view(notice: Notice, *, prefix: str, page_index: int = 1, meta: str = UTF8_META) -> str:
    """The eGovFrame detail page of one notice."""
    files = "".join(
        f'<li><a href="{prefix}/download.do?fileId={a.file_id}">{escape(a.name)}</a></li>' for a in notice.attachments
    )
    files_cell = f"<ul>{files}</ul>" if files else ""
    return (
        f'<!DOCTYPE html><html lang="ko"><head>{meta}<title>{escape(notice.title)} | 산림청</title></head><body>\n'
        '<div id="content"><h3>입찰공고</h3>\n'
        '<div class="board_view_wrap"><table class="board_view" summary="제목, 담당부서, 작성일, 조회수, 첨부파일">\n'
        "<caption>입찰공고 상세</caption>\n<tbody>\n"
        f'<tr><th>제목</th><td class="title">{escape(notice.title)}</td></tr>\n'
        f'<tr><th>담당부서</th><td class="dept">{escape(notice.department)}</td></tr>\n'
        f'<tr><th>작성일</th><td class="date">{notice.post_date.isoformat()}</td></tr>\n'
        f'<tr><th>조회수</th><td class="views">{_views(notice.views)}</td></tr>\n'
        f'<tr><th>첨부파일</th><td class="files">{files_cell}</td></tr>\n'
        "</tbody></table></div>\n"
        f'<div class="view_content">{_body_html(notice.body)}</div>\n'
        f'<div class="btn_area"><a href="{prefix}/list.do?pageIndex={page_index}" class="btn_list">목록</a></div>\n'
        "</div></body></html>\n"
    )


def not_found(message: str = "요청하신 게시물을 찾을 수 없습니다.") -> str:
    """A small 404 page."""
    return (
        f'<!DOCTYPE html><html lang="ko"><head>{UTF8_META}<title>오류 | 산림청</title></head><body>\n'
        f'<div id="content"><p class="error">{escape(message)}</p></div></body></html>\n'
    )


def _custom_date(notice: Notice) -> str:
    return notice.post_date.strftime("%Y.%m.%d")


_CUSTOM_SCRIPT = (
    "<script>function goDetail(id){location.href='/custom/bid?id='+encodeURIComponent(id);}"
    "function goPage(p){location.href='/custom/bids?page='+p;}</script>"
)


def custom_list(page: ListPage) -> str:
    """The custom-layout list page, whose links live in JavaScript handlers."""
    items = [
        '<li class="bid-item">'
        f'<span class="no">{number}</span>'
        f'<a class="bid-title" href="javascript:void(0)" onclick="goDetail(\'{n.ntt_id}\')">{escape(n.title)}</a>'
        f'<span class="org">{escape(n.department)}</span>'
        f'<span class="reg-date">{_custom_date(n)}</span>'
        f'<em class="hit">{_views(n.views)}</em>'
        "</li>"
        for number, n in page.rows
    ]
    if not items:
        items = ['<li class="no-data">등록된 입찰정보가 없습니다.</li>']
    pager: list[str] = []
    if page.page_index > 1:
        prev_index = min(page.page_index - 1, page.last_page)
        pager.append(f'<a href="javascript:goPage({prev_index})" class="btn-prev">이전</a>')
    for n in _page_block(page):
        pager.append(f"<strong>{n}</strong>" if n == page.page_index else f'<a href="javascript:goPage({n})">{n}</a>')
    if page.has_next:
        pager.append(f'<a href="javascript:goPage({page.page_index + 1})" class="btn-next">다음</a>')
    return (
        f'<!DOCTYPE html><html lang="ko"><head>{UTF8_META}<title>입찰정보 | 국유림관리소</title>'
        f"{_CUSTOM_SCRIPT}</head><body>\n"
        f'<div class="bid-wrap"><h2>입찰정보</h2><p class="count">전체 {page.total:,}건, {PER_PAGE}건씩</p>\n'
        '<ul class="bid-list">' + "".join(items) + "</ul>\n"
        '<div class="pager">' + " ".join(pager) + "</div>\n"
        "</div></body></html>\n"
    )


def custom_view(notice: Notice) -> str:
    """The custom-layout detail page of one notice."""
    files = "".join(
        f'<li><a class="file" href="/custom/file?id={a.file_id}">{escape(a.name)}</a></li>' for a in notice.attachments
    )
    return (
        f'<!DOCTYPE html><html lang="ko"><head>{UTF8_META}<title>입찰정보 | 국유림관리소</title></head><body>\n'
        '<div class="bid-view">'
        f'<h2 class="bid-title">{escape(notice.title)}</h2>\n'
        f'<p class="bid-meta"><span class="org">{escape(notice.department)}</span> '
        f'<span class="reg-date">{_custom_date(notice)}</span> 조회 <em class="hit">{_views(notice.views)}</em></p>\n'
        f'<div class="bid-content">{_body_html(notice.body)}</div>\n'
        f'<ul class="bid-files">{files}</ul>\n'
        '<a href="/custom/bids" class="btn-list">목록</a>'
        "</div></body></html>\n"
    )


def index() -> str:
    """The demo site's front page."""
    links = (
        ("/kfs/bid/list.do", "입찰공고 (eGovFrame 게시판, UTF-8)"),
        ("/euckr/bid/list.do", "입찰공고 (EUC-KR 게시판)"),
        ("/custom/bids", "입찰정보 (사용자 정의 레이아웃)"),
        ("/robots.txt", "robots.txt"),
        ("/_demo/state", "데모 상태 (JSON)"),
    )
    items = "".join(f'<li><a href="{href}">{escape(label)}</a></li>' for href, label in links)
    return (
        f'<!DOCTYPE html><html lang="ko"><head>{UTF8_META}<title>Forest 데모 입찰 게시판</title></head><body>\n'
        f"<h1>Forest 데모 입찰 게시판</h1>\n<ul>{items}</ul>\n</body></html>\n"
    )


def fault_page(status: int, message: str) -> str:
    """The body of an injected error response."""
    return (
        f'<!DOCTYPE html><html lang="ko"><head>{UTF8_META}<title>{status}</title></head><body>'
        f"<h1>{status}</h1><p>{escape(message)}</p></body></html>\n"
    )
