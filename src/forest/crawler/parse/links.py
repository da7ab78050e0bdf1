"""Links of list pages: notice ids, JavaScript navigation, attachments, the pager and pinned rows."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from forest.crawler.parse.text import node_text

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
