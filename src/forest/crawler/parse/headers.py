"""Notice tables recognised by their header cells, and the selectors that read them."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from forest.crawler.parse.notices import LayoutNotDetected
from forest.crawler.parse.text import clean_text, node_text

HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "number": ("번호", "no", "no.", "순번", "num", "ref", "ref.", "reference"),
    "title": ("제목", "title", "공고명", "건명", "subject", "입찰공고명"),
    "department": ("담당부서", "부서", "department", "dept", "부서명", "담당", "작성부서", "공고기관",
                   "buyer", "agency", "organisation", "organization"),
    "post_date": ("작성일", "등록일", "게시일", "date", "공고일", "작성일자", "등록일자", "게시일자", "공고일자",
                  "published", "posted", "dateposted", "publicationdate"),
    "attachments": ("첨부", "첨부파일", "파일", "file", "files", "documents", "attachments"),
    "views": ("조회수", "조회", "views", "hits", "hit", "조회 수"),
}


def header_field(text: str) -> str | None:
    """Which notice field a header cell's text names, if any."""
    key = clean_text(text).replace(" ", "").lower()
    for name, aliases in HEADER_ALIASES.items():
        if key in aliases:
            return name
    return None


def header_columns(table: LexborNode) -> dict[str, int]:
    """Field name → 0-based column index from the table's header row."""
    header = table.css_first("thead tr") or table.css_first("tr")
    if header is None:
        return {}
    columns: dict[str, int] = {}
    for index, cell in enumerate(header.css("th, td")):
        name = header_field(node_text(cell))
        if name and name not in columns:
            columns[name] = index
    return columns


def find_notice_table(tree: LexborHTMLParser) -> tuple[LexborNode, dict[str, int]]:
    """The table whose header names notice columns; raises LayoutNotDetected with the reason."""
    tables = tree.css("table")
    if not tables:
        raise LayoutNotDetected("the page has no <table>; configure CSS selectors for this board")
    best: tuple[int, LexborNode, dict[str, int]] | None = None
    for table in tables:
        columns = header_columns(table)
        if "title" in columns and "post_date" in columns and len(columns) >= 3:
            score = len(columns)
            if best is None or score > best[0]:
                best = (score, table, columns)
    if best is None:
        seen = [", ".join(node_text(c) for c in (t.css_first("thead tr") or t).css("th")[:8]) for t in tables[:3]]
        raise LayoutNotDetected(
            "no table has notice headers (needs 제목/Title and 작성일/Date plus one of "
            "번호, 담당부서, 조회수); header cells seen: " + ("; ".join(s for s in seen if s) or "none")
        )
    return best[1], best[2]


def table_selector(table: LexborNode) -> str:
    """A CSS selector that finds this table again."""
    table_id = table.attributes.get("id")
    if table_id and re.fullmatch(r"[A-Za-z][\w-]*", table_id):
        return f"table#{table_id}"
    classes = [c for c in (table.attributes.get("class") or "").split() if re.fullmatch(r"[A-Za-z][\w-]*", c)]
    if classes:
        return "table." + ".".join(classes)
    return "table"


def detect_table(html: str) -> dict[str, str]:
    """Selectors for a board given only its URL, from the table whose header names notice columns."""
    tree = LexborHTMLParser(html)
    table, columns = find_notice_table(tree)
    selector = table_selector(table)
    if selector == "table":
        # No id or class to anchor on: fall back to the table's position among its siblings.
        index = tree.css("table").index(table) + 1
        selector = f"table:nth-of-type({index})"
    selectors = {"row": f"{selector} tbody tr"}
    for name in ("title", "department", "post_date", "views"):
        if name in columns:
            selectors[name] = f"td:nth-child({columns[name] + 1})"
    selectors["detail_link"] = f"td:nth-child({columns['title'] + 1}) a::attr(href)"
    return selectors
