"""eGovFrame boards: the list/detail layout most Korean public agencies run (Korea Forest Service style)."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from forest.crawler.parse import (
    Attachment,
    DetailPage,
    ListPage,
    Notice,
    RowError,
    attachment_url,
    body_text,
    find_notice_table,
    header_columns,
    header_field,
    id_from_link,
    is_js_link,
    is_pinned_row,
    node_text,
    paging_next,
    parse_date,
    parse_views,
    snippet,
    with_query,
)

# Column order of the stock eGovFrame board, used when a table has no recognisable header.
DEFAULT_COLUMNS = {"number": 0, "title": 1, "department": 2, "post_date": 3, "attachments": 4, "views": 5}
_LIST_PAGE = re.compile(r"(?i)list(\.do|\.jsp|\.php)?$")
_ATTACHMENT_LINKS = (
    "td.files a, .files a, a.file, .file a, .attach a, .file_list a, "
    "a[href*=download], a[href*=Download], a[href*=FileDown], a[href*=fileDown], a[onclick*=downFile], "
    ".downloads a, a.download, a[download]"
)


def detail_url_for(list_url: str, external_id: str) -> str:
    """Best guess at the detail URL when a row only has a JavaScript link: `…list.do` → `…view.do?nttId=`."""
    parts = urlsplit(list_url)
    head, _, tail = parts.path.rpartition("/")
    match = _LIST_PAGE.search(tail)
    if match:
        stem = tail[: match.start()]
        view = "View" if tail[match.start()] == "L" else "view"
        tail = f"{stem}{view}{match.group(1) or ''}"
    base = urlunsplit(parts._replace(path=f"{head}/{tail}", query="", fragment=""))
    return with_query(base, nttId=external_id)


class EgovBoardParser:
    """Parses eGovFrame list tables by their header names, and detail tables by class or label."""

    def __init__(self, *, table: str = "table.board_list") -> None:
        self._table = table

    def parse_list(self, html: str, url: str) -> ListPage:
        """Parse a list page; unparseable rows become RowErrors."""
        tree = LexborHTMLParser(html)
        page = ListPage()
        table = tree.css_first(self._table)
        if table is not None:
            columns = {**DEFAULT_COLUMNS, **header_columns(table)} if header_columns(table) else DEFAULT_COLUMNS
        else:
            table, columns = find_notice_table(tree)
        body = table.css_first("tbody") or table
        for row in body.css("tr"):
            cells = row.css("td")
            if not cells or row.css_first("td.no_data, td.nodata") is not None:
                continue
            if len(cells) == 1 and cells[0].attributes.get("colspan"):
                continue  # "등록된 게시물이 없습니다"
            try:
                page.notices.append(self._parse_row(row, cells, columns, url))
            except ValueError as exc:
                page.errors.append(RowError(reason=str(exc), snippet=snippet(row)))
        page.next_url, page.last_page = paging_next(tree, url)
        return page

    def _parse_row(self, row: LexborNode, cells: list[LexborNode], columns: dict[str, int], url: str) -> Notice:
        def cell(name: str) -> LexborNode | None:
            index = columns.get(name)
            return cells[index] if index is not None and index < len(cells) else None

        title_cell = row.css_first("td.subject, td.title, td.tit") or cell("title")
        if title_cell is None:
            raise ValueError(f"row has {len(cells)} cells, no title cell")
        anchor = title_cell.css_first("a")
        title = node_text(anchor or title_cell)
        if not title:
            raise ValueError("row has an empty title")
        href = anchor.attributes.get("href") if anchor is not None else None
        onclick = anchor.attributes.get("onclick") if anchor is not None else None
        external_id = id_from_link(href, onclick)
        if not external_id:
            raise ValueError(f"row {title!r} has no notice id in its link")
        detail = urljoin(url, href.strip()) if href and not is_js_link(href) else detail_url_for(url, external_id)
        number_cell = row.css_first("td.num") or cell("number")
        date_cell = row.css_first("td.date") or cell("post_date")
        if date_cell is None:
            raise ValueError(f"row {title!r} has no date cell")
        views_cell = row.css_first("td.hit, td.views") or cell("views")
        dept_cell = row.css_first("td.dept, td.writer") or cell("department")
        return Notice(
            external_id=external_id,
            title=title,
            department=node_text(dept_cell),
            post_date=parse_date(node_text(date_cell)),
            views=parse_views(node_text(views_cell)) if views_cell is not None else 0,
            url=detail,
            pinned=is_pinned_row(row, node_text(number_cell)),
        )

    def parse_detail(self, html: str, url: str) -> DetailPage:
        """Parse a detail page."""
        return parse_egov_detail(html, url)


def _labelled(tree: LexborHTMLParser) -> dict[str, LexborNode]:
    """Cells of a `<th>label</th><td>value</td>` detail table, keyed by notice field."""
    found: dict[str, LexborNode] = {}
    for th in tree.css("th"):
        name = header_field(node_text(th))
        value = th.next
        while value is not None and value.tag != "td":
            value = value.next
        if name and value is not None and name not in found:
            found[name] = value
    return found


def parse_egov_detail(html: str, url: str) -> DetailPage:
    """Detail fields from `td.title/dept/date/views/files` classes, else `<th>` labels; None where absent."""
    tree = LexborHTMLParser(html)
    labelled = _labelled(tree)
    view = tree.css_first("table.board_view, .board_view, .view, .bbs_view") or tree.root

    def field(classes: str, name: str) -> str | None:
        node = view.css_first(classes) if view is not None else None
        text = node_text(node or labelled.get(name))
        return text or None

    date_text = field("td.date, .date, .reg-date", "post_date")
    views_text = field("td.views, td.hit, .views, .hit", "views")
    try:
        post_date = parse_date(date_text) if date_text else None
    except ValueError:
        post_date = None
    try:
        views = parse_views(views_text) if views_text else None
    except ValueError:
        views = None
    attachments: list[Attachment] = []
    seen: set[str] = set()
    scope = labelled.get("attachments")
    links = (scope.css("a") if scope is not None else []) or tree.css(_ATTACHMENT_LINKS)
    for link in links:
        target = attachment_url(link.attributes.get("href"), link.attributes.get("onclick"), url)
        name = node_text(link)
        if target and name and target not in seen:
            seen.add(target)
            attachments.append(Attachment(name=name, url=target))
    return DetailPage(
        title=field("td.title, .title, .subject, .bid-title", "title"),
        department=field("td.dept, .dept, .org", "department"),
        post_date=post_date,
        views=views,
        attachments=tuple(attachments),
        body=body_text(tree),
    )
