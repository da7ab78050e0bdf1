"""Notices, list and detail pages, and the building blocks every board parser shares.

Parsers are pure functions of (HTML, page URL): no I/O, so they are tested on fixtures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from forest.crawler.request import PageRequest

if TYPE_CHECKING:
    from forest.crawler.facts import TenderFacts


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a notice."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice as crawled; `url` is the absolute detail URL."""

    external_id: str
    title: str
    department: str
    post_date: dt.date
    views: int
    url: str
    attachments: tuple[Attachment, ...] = ()
    pinned: bool = False
    # The detail page's text (`detail_text`) and what `facts.extract` found in it; None without a detail page.
    body: str | None = None
    facts: TenderFacts | None = None

    @property
    def content_hash(self) -> str:
        """sha256 of the fields whose change is a real edit; views are left out on purpose.

        The body counts when there is one (a correction that moves the deadline is an edit); a notice
        without a body hashes as before bodies were kept, so rows stored earlier do not all turn "updated".
        """
        fields: list[object] = [
            self.title,
            self.department,
            self.post_date.isoformat(),
            [[a.name, a.url] for a in self.attachments],
        ]
        if self.body is not None:
            fields.append(self.body)
        payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RowError:
    """A list row that could not be parsed; the crawl records it and goes on."""

    reason: str
    snippet: str


@dataclass(slots=True)
class ListPage:
    """The parsed rows of one list page and where the next page is."""

    notices: list[Notice] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    next_url: str | None = None
    last_page: int | None = None
    # Set instead of next_url when the next page is a POST or a numbered request (source definitions).
    next_request: PageRequest | None = None


@dataclass(frozen=True, slots=True)
class DetailPage:
    """What a detail page says; None where the page did not say it."""

    title: str | None = None
    department: str | None = None
    post_date: dt.date | None = None
    views: int | None = None
    attachments: tuple[Attachment, ...] | None = None
    body: str | None = None


class BoardParser(Protocol):
    """Turns one board's list and detail pages into notices."""

    def parse_list(self, html: str, url: str) -> ListPage:
        """Parse a list page fetched from `url`."""
        ...

    def parse_detail(self, html: str, url: str) -> DetailPage:
        """Parse a detail page fetched from `url`."""
        ...


class LayoutNotDetected(Exception):
    """No notice table could be recognised on the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def apply_detail(notice: Notice, detail: DetailPage) -> Notice:
    """The notice with the detail page's fields, which are authoritative where present."""
    return replace(
        notice,
        title=detail.title or notice.title,
        department=detail.department or notice.department,
        post_date=detail.post_date or notice.post_date,
        views=max(notice.views, detail.views or 0),
        attachments=detail.attachments if detail.attachments is not None else notice.attachments,
        body=detail.body if detail.body is not None else notice.body,
    )


# ---- text, dates, numbers ----------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_DATE_PATTERNS = (
    re.compile(r"(?P<y>\d{4})\s*[-./]\s*(?P<m>\d{1,2})\s*[-./]\s*(?P<d>\d{1,2})"),
    re.compile(r"(?P<y>\d{4})\s*년\s*(?P<m>\d{1,2})\s*월\s*(?P<d>\d{1,2})\s*일?"),
    re.compile(r"(?<!\d)(?P<y>\d{2})\s*[-./]\s*(?P<m>\d{1,2})\s*[-./]\s*(?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?<!\d)(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?!\d)"),
)
_VIEWS = re.compile(r"\d[\d,]*")


def clean_text(value: str | None) -> str:
    """Whitespace collapsed and trimmed (boards indent cell text heavily)."""
    return _SPACES.sub(" ", value or "").strip()


def parse_date(value: str) -> dt.date:
    """A board date such as 2026-11-20, 2026.11.20, 26.11.20 or 2026년 11월 20일 (a trailing time is ignored)."""
    text = clean_text(value)
    for pattern in _DATE_PATTERNS:
        match = pattern.search(text)
        if match is None:
            continue
        year = int(match["y"])
        if year < 100:
            year += 2000
        try:
            return dt.date(year, int(match["m"]), int(match["d"]))
        except ValueError as exc:
            raise ValueError(f"not a calendar date: {text!r}") from exc
    raise ValueError(f"no date in {text!r}")


def parse_views(value: str) -> int:
    """A view count such as `1,234` (empty means 0)."""
    text = clean_text(value)
    if not text or text in ("-", "0"):
        return 0
    match = _VIEWS.search(text)
    if match is None:
        raise ValueError(f"no view count in {text!r}")
    return int(match.group(0).replace(",", ""))


def node_text(node: LexborNode | None) -> str:
    """The node's visible text, whitespace collapsed."""
    if node is None:
        return ""
    return clean_text(node.text(deep=True, separator=" "))


# ---- detail page body --------------------------------------------------------------------------

# Where boards put a notice's body, most specific first; without any of them the whole <body> is read.
BODY_SELECTORS = (
    ".view_content, .bid-content, .board_view_content, .view_cont, .bbs_content, .board-view-content, "
    ".notice-body, .bid-body, #bid-body, article"
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "nav", "header", "footer", "form", "button",
                        "select", "option", "iframe", "svg", "head", "title", "-comment", "-doctype"})
_BLOCK_TAGS = frozenset({"p", "div", "section", "article", "main", "aside", "li", "ul", "ol", "dl", "dt", "dd",
                         "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "caption", "figure",
                         "figcaption", "address", "center", "fieldset", "legend", "details", "summary"})
# A view counter in the body would turn every views tick into a body change, i.e. an edit.
_COUNTER_CLASSES = frozenset({"views", "hit", "hits", "view_count", "viewcount", "read_count", "count"})
# Characters boards leave in text that are no whitespace to `\s`: zero-width spaces, BOMs, NUL (which
# PostgreSQL text cannot hold), soft hyphens.
_INVISIBLE = str.maketrans({"\u200b": " ", "\u200c": "", "\u200d": "", "\ufeff": "", "\x00": "", "\xad": ""})


def _is_counter(node: LexborNode) -> bool:
    classes = (node.attributes.get("class") or "").split()
    return bool(_COUNTER_CLASSES.intersection(classes))


def _lines(root: LexborNode) -> list[str]:
    """The node's text as lines: one per block, `<br>` or table row; whitespace collapsed, blank lines dropped.

    Iterative (a stack, not recursion), so a hostile page nested ten thousand levels deep cannot
    overflow the interpreter's stack.
    """
    out: list[str] = []
    line: list[str] = []

    def flush() -> None:
        text = clean_text("".join(line).translate(_INVISIBLE))
        line.clear()
        if text:
            out.append(text)

    stack: list[LexborNode | None] = [root]  # None: end of a block, flush
    while stack:
        node = stack.pop()
        if node is None:
            flush()
            continue
        tag = node.tag
        if tag == "-text":
            line.append(node.text_content or "")
            continue
        if tag in _SKIP_TAGS or _is_counter(node):
            continue
        if tag == "br":
            flush()
            continue
        if tag == "table":
            flush()
            out.extend(_table_lines(node))
            continue
        if tag in _BLOCK_TAGS or tag == "tr":
            flush()
            stack.append(None)
        stack.extend(reversed(list(node.iter(include_text=True))))
    flush()
    return out


def _own_rows(table: LexborNode) -> list[LexborNode]:
    """The table's rows, not those of tables nested in its cells."""
    rows = []
    for row in table.css("tr"):
        parent = row.parent
        while parent is not None and parent.tag != "table":
            parent = parent.parent
        if parent is not None and parent.mem_id == table.mem_id:
            rows.append(row)
    return rows


def _table_lines(table: LexborNode) -> list[str]:
    """Table text in reading order: `key\tvalue` for a `<th>`/`<td>` pair (or a column header over a
    cell), other rows' cells joined by tabs."""
    out: list[str] = []
    caption = table.css_first("caption")
    if caption is not None:
        out.extend(_lines(caption))
    headers: list[str] | None = None
    for index, row in enumerate(_own_rows(table)):
        if _is_counter(row):
            continue
        cells = [c for c in row.iter() if c.tag in ("th", "td") and not _is_counter(c)]
        texts = [" ".join(_lines(c)) for c in cells]
        if any(header_field(t) == "views" for c, t in zip(cells, texts, strict=True) if c.tag == "th"):
            continue
        if index == 0 and len(cells) > 1 and all(c.tag == "th" for c in cells):
            headers = texts  # a column header: each cell below is labelled by it
            continue
        if headers is not None and len(headers) == len(cells) and all(c.tag == "td" for c in cells):
            out.extend(f"{h}\t{t}" if h else t for h, t in zip(headers, texts, strict=True) if t)
            continue
        # A label cell starts a line: `label\tvalue` (`label\tbefore\tafter` for a 정정 전/후 row); cells
        # before the first label share one line.
        line: list[str] = []
        for cell, text in zip(cells, texts, strict=True):
            if cell.tag == "th" and line:
                out.append("\t".join(line))
                line = []
            if text:
                line.append(text)
        if line:
            out.append("\t".join(line))
    if headers is not None and not out:
        out.append("\t".join(h for h in headers if h))
    return [line for line in out if line]


def body_node(tree: LexborHTMLParser, selector: str | None = None) -> LexborNode | None:
    """The element holding a detail page's notice body: `selector`, else a known body container, else <body>."""
    for css in (selector, BODY_SELECTORS):
        if css:
            try:
                node = tree.css_first(css)
            except ValueError:
                node = None
            if node is not None:
                return node
    return tree.body


def detail_text(html: str, selector: str | None = None) -> str:
    """The notice body of a detail page as clean text: paragraphs and table cells in reading order, one
    per line, key-value table rows as `key\tvalue` lines, whitespace collapsed within a line.

    `selector` (CSS) names the body element; without it (or when it matches nothing) the known body
    containers of Korean boards are tried, then the whole <body> without navigation, forms and scripts.
    View counters are left out, so a views tick never changes the body.
    """
    return body_text(LexborHTMLParser(html), selector)


def body_text(tree: LexborHTMLParser, selector: str | None = None) -> str:
    """`detail_text` of a page already parsed."""
    node = body_node(tree, selector)
    return "\n".join(_lines(node)) if node is not None else ""


def snippet(node: LexborNode, limit: int = 200) -> str:
    """A short piece of a row's HTML for error reports."""
    html = clean_text(node.html or "")
    return html if len(html) <= limit else html[: limit - 1] + "…"


# ---- links and JavaScript navigation -------------------------------------------------------------

# Query parameters that carry a notice id on eGovFrame and similar boards, most specific first.
ID_PARAMS = ("nttId", "nttSn", "bbsSn", "articleId", "boardSeq", "seq", "idx", "bidNo", "id", "no", "num")
PAGE_PARAMS = ("pageIndex", "page", "pageNo", "pageNum", "cpage", "currentPage", "curPage")
_JS_ARG = re.compile(r"""\(\s*['"]?([A-Za-z0-9_-]+)['"]?""")
_JS_PAGE = re.compile(r"""\(\s*['"]?(\d+)['"]?\s*[,)]""")
_VOID = re.compile(r"void\s*\(\s*0?\s*\)")
_JS_DOWNLOAD = re.compile(r"""fn_egov_downFile\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]""")


def is_js_link(href: str | None) -> bool:
    """Whether an href is not a real link (`javascript:`, `#`, empty)."""
    value = (href or "").strip()
    return not value or value.startswith("#") or value.lower().startswith("javascript:")


def query_param(url: str, names: tuple[str, ...]) -> str | None:
    """The first of `names` present in the URL's query (case-insensitive names)."""
    params = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=False)}
    for name in names:
        value = params.get(name.lower())
        if value:
            return value
    return None


def with_query(url: str, **params: str) -> str:
    """The URL with these query parameters set (replacing existing ones)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query), fragment=""))


def id_from_link(href: str | None, onclick: str | None) -> str | None:
    """The notice id in a link: a known query parameter, the first argument of a JavaScript call, or
    the last path segment when it looks like an id (`/tenders/view/T-2026-0457`, `/bbs/view/2026-0137`)."""
    if href and not is_js_link(href):
        found = query_param(href, ID_PARAMS)
        if found:
            return found
    for script in (onclick, href):
        script = _VOID.sub("", script or "")
        if "(" in script:
            match = _JS_ARG.search(script)
            if match:
                return match.group(1)
    if href and not is_js_link(href):
        return _path_id(href)
    return None


_PATH_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,63}")
_PAGE_SUFFIX = re.compile(r"(?i)\.(do|jsp|php|aspx?|html?|cgi)$")


def _path_id(href: str) -> str | None:
    segments = [s for s in urlsplit(href.strip()).path.split("/") if s]
    last = segments[-1] if segments else ""
    if _PATH_ID.fullmatch(last) and any(c.isdigit() for c in last) and not _PAGE_SUFFIX.search(last):
        return last
    return None


def frame_source(html: str, base_url: str) -> str | None:
    """The `src` of the one frame or iframe that wraps a board page, or None."""
    tree = LexborHTMLParser(html)
    frames = [f for f in tree.css("iframe[src], frame[src]") if not is_js_link(f.attributes.get("src"))]
    if len(frames) != 1:
        return None
    return urljoin(base_url, (frames[0].attributes.get("src") or "").strip())


def js_page_number(script: str | None) -> int | None:
    """The page number in `fn_egov_link_page(3)`, `goPage('3')` and the like."""
    if not script:
        return None
    match = _JS_PAGE.search(script)
    return int(match.group(1)) if match else None


def page_param_name(url: str) -> str:
    """The query parameter a board uses for its page number (eGovFrame's `pageIndex` by default)."""
    keys = {k.lower(): k for k, _ in parse_qsl(urlsplit(url).query)}
    for name in PAGE_PARAMS:
        if name.lower() in keys:
            return keys[name.lower()]
    return "pageIndex"


def current_page(url: str) -> int:
    """The page number of a list URL (1 when absent)."""
    value = query_param(url, PAGE_PARAMS)
    return int(value) if value and value.isdigit() else 1


def attachment_url(href: str | None, onclick: str | None, base_url: str) -> str | None:
    """An absolute download URL for an attachment link, decoding eGovFrame's `fn_egov_downFile` calls."""
    if href and not is_js_link(href):
        return urljoin(base_url, href.strip())
    for script in (onclick, href):
        match = _JS_DOWNLOAD.search(script or "")
        if match:
            return urljoin(base_url, f"/cmm/fms/FileDown.do?atchFileId={match[1]}&fileSn={match[2]}")
    return None


def paging_next(tree: LexborHTMLParser, page_url: str) -> tuple[str | None, int | None]:
    """(next list page URL, last page number) from an eGovFrame-style pager.

    Prefers the link to exactly the current page + 1, because eGovFrame's `a.next` often jumps a
    whole block of ten pages; falls back to `a.next` when the pager shows no page numbers.
    """
    rel_next = tree.css_first("a[rel~=next][href], link[rel~=next][href]")
    if rel_next is not None and not is_js_link(rel_next.attributes.get("href")):
        # An explicit rel="next" says where the next page is, whatever the pager looks like.
        return urljoin(page_url, (rel_next.attributes.get("href") or "").strip()), None
    pager = tree.css_first("div.paging, div.pagination, nav.pagination, ul.pagination, div.page, .board_paging")
    scope = pager if pager is not None else tree.body
    if scope is None:
        return None, None
    here = current_page(page_url)
    param = page_param_name(page_url)
    targets: list[tuple[int, str, LexborNode]] = []
    for link in scope.css("a"):
        href = link.attributes.get("href") or ""
        onclick = link.attributes.get("onclick") or ""
        number: int | None = None
        url: str | None = None
        if not is_js_link(href):
            url = urljoin(page_url, href.strip())
            value = query_param(url, PAGE_PARAMS)
            number = int(value) if value and value.isdigit() else None
        if number is None:
            number = js_page_number(onclick) or js_page_number(href)
        if number is None and node_text(link).isdigit():
            number = int(node_text(link))
        if number is None:
            continue
        if url is None or query_param(url, PAGE_PARAMS) is None:
            url = with_query(page_url, **{param: str(number)})
        targets.append((number, url, link))
    if pager is None:
        targets = [t for t in targets if _is_next_link(t[2])]
    last_page = max((n for n, _, _ in targets), default=None)
    for number, url, _ in targets:
        if number == here + 1:
            return url, last_page
    for number, url, link in targets:
        if _is_next_link(link) and number > here:
            return url, last_page
    for link in scope.css("a[href]"):
        href = link.attributes.get("href") or ""
        if _is_next_link(link) and not is_js_link(href):
            return urljoin(page_url, href.strip()), last_page  # a "Next ›" link without a page number
    return None, last_page


def _is_next_link(link: LexborNode) -> bool:
    classes = (link.attributes.get("class") or "").split()
    label = f"{node_text(link)} {link.attributes.get('title') or ''}".strip().lower()
    if "next" in (link.attributes.get("rel") or "").split():
        return True
    label = label.strip(" \u00a0")
    return "next" in classes or "btn-next" in classes or label in _NEXT_LABELS


_NEXT_LABELS = frozenset({"다음", "next", "다음 페이지", "다음페이지", ">", "›", "»", ">>", "next ›", "next »",
                          "next >", "다음 ›", "다음 »", "다음 >", "next page"})


def is_pinned_row(row: LexborNode, number_text: str = "") -> bool:
    """Whether a row is a pinned 공지 row (repeated on every page)."""
    classes = (row.attributes.get("class") or "").split()
    if {"notice", "pinned", "top", "fixed"} & set(classes):
        return True
    if row.css_first(".ico_notice, .notice_icon, img[alt*=공지]") is not None:
        return True
    return "공지" in number_text


# ---- table header recognition ---------------------------------------------------------------

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
