"""Detecting a board from its bare URL: a notice table (paged by links or by a posted form) or a JSON list.

Each detector returns a definition (forest.crawler.definition) or selectors a user can copy and edit;
the engine runs them on a bare URL's first page and the preview shows what they found.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from forest.crawler.definition import definition_from_selectors
from forest.crawler.parse import (
    ID_PARAMS,
    PAGE_PARAMS,
    LayoutNotDetected,
    clean_text,
    detect_table,
    find_notice_table,
    is_js_link,
    parse_date,
)

# `fn_egov_link_page(3)`, `linkPage(3)`, `fn_link_page(3)`, `goPage(3)`: a pager that posts a form.
_JS_PAGER = re.compile(r"(?i)(link_?page|go_?page|fn_page|movepage)\s*\(\s*['\"]?\d+")
# `fetch('/bbs/selectList.json?page=' + page)`, `$.getJSON('…')`, `$.ajax({url: '…'})`, `axios.get('…')`.
_XHR_URL = re.compile(
    r"""(?:fetch|getJSON|axios\.get|\$\.get|\$\.post)\s*\(\s*['"]([^'"]+)['"]"""
    r"""|\burl\s*:\s*['"]([^'"]+)['"]""")
# `location.href = '/bbs/view/' + id`: where a JSON row's detail page lives.
_DETAIL_URL = re.compile(r"""location(?:\.href)?\s*=\s*['"]([^'"]+)['"]\s*\+""")

JSON_KEYS: dict[str, tuple[str, ...]] = {
    "external_id": ("nttid", "id", "seq", "bidno", "noticeid", "idx", "no", "articleid", "boardseq"),
    "title": ("nttsj", "title", "subject", "sj", "bidnm", "name", "ttl"),
    "department": ("deptnm", "department", "dept", "orgnm", "agency", "buyer", "writer", "deptname"),
    "post_date": ("frstregistpnttm", "regdate", "regdt", "postdate", "date", "registdt", "createdat", "writedate",
                  "published", "pubdate"),
    "views": ("inqireco", "views", "hit", "hits", "readcnt", "viewcnt", "rdcnt"),
}
_PINNED_KEYS = ("noticeat", "isnotice", "pinned", "top", "noticeyn", "fixed")


def _form_fields(form: LexborNode) -> dict[str, str]:
    fields: dict[str, str] = {}
    for field in form.css("input[name]"):
        name = field.attributes.get("name") or ""
        if (field.attributes.get("type") or "text").lower() in ("hidden", "text") and name:
            fields[name] = field.attributes.get("value") or ""
    return fields


def _form_request(form: LexborNode, page_url: str) -> dict[str, Any]:
    method = (form.attributes.get("method") or "GET").upper()
    return {"method": "POST" if method == "POST" else "GET",
            "url": urljoin(page_url, form.attributes.get("action") or page_url)}


def _paging_form(tree: LexborHTMLParser, page_url: str) -> dict[str, Any] | None:
    """list.request for a pager that posts a form: the form holding a hidden page field."""
    scripts = " ".join(a.attributes.get("onclick") or a.attributes.get("href") or "" for a in tree.css("a"))
    if not _JS_PAGER.search(scripts):
        return None
    for form in tree.css("form"):
        fields = _form_fields(form)
        page_field = next((name for name in fields if name.lower() in {p.lower() for p in PAGE_PARAMS}), None)
        if page_field is None:
            continue
        request = _form_request(form, page_url)
        request["form"] = {k: v for k, v in fields.items() if k != page_field}
        request["page_field"] = page_field
        return request
    return None


def _detail_form(tree: LexborHTMLParser, page_url: str) -> dict[str, Any] | None:
    """detail.request for rows whose links post a form: the form holding an id field, the id as {id}."""
    for form in tree.css("form"):
        fields = _form_fields(form)
        id_field = next((name for name in fields if name.lower() in {p.lower() for p in ID_PARAMS}), None)
        if id_field is None or any(name.lower() in {p.lower() for p in PAGE_PARAMS} for name in fields):
            continue
        request = _form_request(form, page_url)
        request["form"] = {**{k: v for k, v in fields.items() if k != id_field and v}, id_field: "{id}"}
        return request
    return None


def detect_html(html: str, page_url: str) -> tuple[dict[str, str] | None, dict[str, Any] | None]:
    """(selectors, None) for a table paged by links, (None, definition) for one paged or opened by form POSTs.

    Raises LayoutNotDetected when the page has no notice table.
    """
    try:
        selectors = detect_table(html)
    except LayoutNotDetected as exc:
        try:
            return detect_cards(html), None
        except LayoutNotDetected:
            raise exc from None
    tree = LexborHTMLParser(html)
    paging = _paging_form(tree, page_url)
    table, columns = find_notice_table(tree)
    if not [row for row in table.css("tbody tr") if row.css_first("td")] and json_list_url(html, page_url):
        raise LayoutNotDetected("the notice table is empty and filled by the page's script")
    title_links = [a for a in table.css("tbody a") if a.attributes.get("onclick") or
                   is_js_link(a.attributes.get("href"))]
    detail = _detail_form(tree, page_url) if title_links else None
    if paging is None and detail is None:
        return selectors, None
    definition = definition_from_selectors(selectors)
    listing = definition["list"]
    if paging is not None:
        listing["request"] = paging
    if detail is not None:
        title_css = f"td:nth-child({columns['title'] + 1}) a"
        listing["fields"]["external_id"] = f"{title_css} js:0"
        listing["fields"].pop("detail_link", None)
        definition["detail"] = {"request": detail}
    return None, definition


_CLASS = re.compile(r"[A-Za-z][\w-]*")
_DEPARTMENT = re.compile(r"(?i)org|dept|agency|buyer|writer|depart")
_VIEWS = re.compile(r"(?i)view|hit|count|read")
_TITLE = re.compile(r"(?i)title|subject|tit\b|headline")
_PIN = re.compile(r"(?i)pin|top|notice|fixed|important")


def _css_of(node: LexborNode) -> str:
    classes = [c for c in (node.attributes.get("class") or "").split() if _CLASS.fullmatch(c)]
    return node.tag + "".join(f".{c}" for c in classes[:2]) if node.tag else ""


def _date_css(item: LexborNode) -> str | None:
    stamp = item.css_first("time[datetime]")
    if stamp is not None:
        return "time::attr(datetime)"
    for node in item.css("*"):
        own = clean_text(node.text(deep=False))
        if own and _looks_like_date(own) and node.tag not in ("a",):
            return _css_of(node)
    return None


def _looks_like_date(text: str) -> bool:
    try:
        parse_date(text)
    except ValueError:
        return False
    return len(text) <= 30


def detect_cards(html: str) -> dict[str, str]:
    """Selectors for notices listed as `<li>` or `<div>` cards: the biggest run of siblings alike in tag and
    class, each holding a link and a date. Raises LayoutNotDetected."""
    tree = LexborHTMLParser(html)
    best: list[LexborNode] = []
    for parent in tree.css("ul, ol, div, section, main"):
        groups: dict[str, list[LexborNode]] = {}
        for child in parent.iter():
            if child.tag in ("li", "div", "article") and child.attributes.get("class"):
                groups.setdefault(_css_of(child), []).append(child)
        for items in groups.values():
            usable = [i for i in items if i.css_first("a[href]") is not None and _date_css(i) is not None]
            if len(usable) >= 3 and len(usable) > len(best):
                best = usable
    if not best:
        raise LayoutNotDetected("no notice table and no list of cards (3 or more alike items, each with a link "
                                "and a date); configure a definition for this board")
    sample = best[-1]
    row = _css_of(sample)
    container = sample.parent
    if container is not None and "." in _css_of(container):
        row = f"{_css_of(container)} > {row}"
    link = sample.css_first("a[href]")
    assert link is not None
    heading = next((n for n in sample.css("h1, h2, h3, h4, h5, strong, span, p, a")
                    if _TITLE.search(n.attributes.get("class") or "") or (n.tag or "").startswith("h")), None)
    selectors = {"row": row, "title": _css_of(heading) if heading is not None else _css_of(link),
                 "detail_link": f"{_css_of(link)}::attr(href)"}
    date_css = _date_css(sample)
    assert date_css is not None
    selectors["post_date"] = date_css
    for key, pattern in (("department", _DEPARTMENT), ("views", _VIEWS)):
        node = next((n for n in sample.css("*") if pattern.search(n.attributes.get("class") or "")), None)
        if node is not None:
            selectors[key] = _css_of(node)
    marks = {_css_of(n) for item in best for n in item.css("img, span, i, em")
             if _PIN.search(f"{n.attributes.get('class') or ''} {n.attributes.get('alt') or ''}")}
    if marks:
        selectors["pinned"] = ", ".join(sorted(marks))
    return selectors


_ELLIPSES = ("…", "...", "..")


def full_title(html: str, listed: str) -> str | None:
    """The whole title on a detail page for a list title cut with `…`: the shortest heading, cell or <title>
    that starts with what the list showed."""
    stem = next((listed[: -len(e)].rstrip() for e in _ELLIPSES if listed.endswith(e)), None)
    if not stem:
        return None
    tree = LexborHTMLParser(html)
    found = [clean_text(n.text()) for n in tree.css("h1, h2, h3, h4, strong, td, dd, p, title")]
    matches = [text for text in found if text.startswith(stem) and len(text) > len(stem) and len(text) <= 500]
    return min(matches, key=len) if matches else None


def json_list_url(html: str, page_url: str) -> tuple[str, str | None] | None:
    """(list URL template with {page}, detail URL template with {id} or None) from the page's scripts."""
    tree = LexborHTMLParser(html)
    for script in tree.css("script"):
        text = script.text() or ""
        for match in _XHR_URL.finditer(text):
            found = match.group(1) or match.group(2)
            if not found or ("json" not in found.lower() and "list" not in found.lower()):
                continue
            template = found + "{page}" if found.endswith("=") else found
            if "{page}" not in template:
                template += ("&" if "?" in template else "?") + "page={page}"
            detail = _DETAIL_URL.search(text)
            return urljoin(page_url, template), urljoin(page_url, detail.group(1)) + "{id}" if detail else None
    return None


def _rows_path(data: Any) -> tuple[str, list[dict[str, Any]]] | None:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                return key, value
        for key, value in data.items():
            if isinstance(value, dict):
                inner = _rows_path(value)
                if inner is not None:
                    return f"{key}.{inner[0]}", inner[1]
    if isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        return "@", data
    return None


def detect_json(text: str, list_template: str, detail_template: str | None) -> dict[str, Any]:
    """A JSON-list definition from the answer of page 1, its keys matched by name; raises LayoutNotDetected."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LayoutNotDetected(f"the page's list URL did not answer JSON: {exc}") from exc
    found = _rows_path(data)
    if found is None:
        raise LayoutNotDetected("the page's JSON list has no array of rows")
    path, rows = found
    keys = {k.lower().replace("_", ""): k for k in rows[0]}
    fields = {name: keys[alias] for name, aliases in JSON_KEYS.items() for alias in aliases if alias in keys}
    fields = {name: fields[name] for name in JSON_KEYS if name in fields}
    missing = [name for name in ("external_id", "title", "post_date") if name not in fields]
    if missing or detail_template is None:
        raise LayoutNotDetected(
            f"the JSON list's rows ({', '.join(sorted(rows[0])[:12])}) need a definition: "
            + (f"no key for {', '.join(missing)}" if missing else "no detail page URL in the page's scripts"))
    listing: dict[str, Any] = {"format": "json", "request": {"url": list_template}, "rows": path, "fields": fields}
    pinned = next((keys[k] for k in _PINNED_KEYS if k in keys), None)
    if pinned is not None:
        # A "Y"/"N" flag (eGovFrame) or a boolean.
        listing["pinned"] = f"{pinned} == 'Y'" if isinstance(rows[0][pinned], str) else pinned
    if isinstance(data, dict):
        for outer in data.values():
            if isinstance(outer, dict):
                last = next((k for k in outer if k.lower() in ("totalpagecount", "lastpage", "totalpages")), None)
                if last is not None:
                    prefix = next(k for k, v in data.items() if v is outer)
                    listing["last_page"] = f"{prefix}.{last}"
    return {"list": listing, "detail": {"request": {"url": detail_template}}}


__all__ = ["detect_html", "detect_json", "json_list_url"]
