"""DefinitionParser: a board's requests, list pages and detail pages, as its SourceDefinition describes them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from forest.crawler.definition.fields import FieldExpr, FieldRule
from forest.crawler.definition.grid import grid_rows
from forest.crawler.definition.schema import RequestSpec, SourceDefinition
from forest.crawler.definition.script import js_calls
from forest.crawler.definition.templates import render
from forest.crawler.parse import (
    Attachment,
    DetailPage,
    ListPage,
    Notice,
    RowError,
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
from forest.crawler.presets.egov import parse_egov_detail
from forest.crawler.request import PageRequest


def build_request(spec: RequestSpec, base_url: str, values: Mapping[str, str], *,
                  page: int | None = None, default_url: str | None = None) -> PageRequest:
    """The request a spec describes, its templates filled from `values` (and `page`)."""
    filled = dict(values)
    if page is not None:
        filled["page"] = str(page)
    url = urljoin(base_url, render(spec.url, filled)) if spec.url else (default_url or base_url)
    form = [(name, render(template, filled)) for name, template in spec.form.items()]
    if spec.page_field and page is not None:
        form = [(k, v) for k, v in form if k != spec.page_field] + [(spec.page_field, str(page))]
    if spec.method == "GET" and form:
        return PageRequest("GET", with_query(url, **dict(form)), page=page)
    return PageRequest(spec.method, url, tuple(form), page=page)


def _is_pinned(row: LexborNode, pinned: str | None) -> bool:
    if pinned and (row.css_matches(pinned) or row.css_first(pinned) is not None):
        return True
    return is_pinned_row(row)


class DefinitionParser:
    """Reads a board as its SourceDefinition says; one per crawl (it remembers each notice's detail request)."""

    def __init__(self, definition: SourceDefinition) -> None:
        self.definition = definition
        spec = definition.list
        self.json = spec.format == "json"
        self._fields = {name: FieldRule.parse(value, json=self.json) for name, value in spec.fields.items()}
        self._pinned = FieldRule.parse(spec.pinned, json=True) if spec.pinned and self.json else None
        self._last = FieldRule.parse(spec.last_page, json=self.json) if spec.last_page else None
        self._next = FieldExpr.parse(spec.next, json=False) if spec.next else None
        self._detail = {name: FieldRule.parse(value, json=False) for name, value in definition.detail.fields.items()}
        self._detail_requests: dict[str, PageRequest] = {}

    # -- requests --

    def frame_url(self, html: str, url: str) -> str | None:
        """The frame's `src` on the start page, when the definition names a frame."""
        if not self.definition.frame:
            return None
        node = LexborHTMLParser(html).css_first(self.definition.frame)
        src = node.attributes.get("src") if node is not None else None
        return urljoin(url, src) if src and not is_js_link(src) else None

    def list_request(self, board_url: str, page: int) -> PageRequest | None:
        """The request for list page `page`, or None when pages are followed by their `next` links."""
        spec = self.definition.list.request
        if spec is None:
            return None
        return build_request(spec, board_url, {}, page=page)

    def detail_request(self, notice: Notice) -> PageRequest:
        """How to ask for a notice's detail page."""
        return self._detail_requests.get(notice.external_id) or PageRequest("GET", notice.url)

    def session_lost(self, request: PageRequest, final_url: str, text: str) -> bool:
        """Whether the board answered without the session (redirected elsewhere, or its error page)."""
        session = self.definition.session
        if session.lost_text and session.lost_text in text:
            return True
        return session.lost_on_redirect and urlsplit(final_url).path != urlsplit(request.url).path

    # -- list pages --

    def parse_list(self, html: str, url: str) -> ListPage:
        """Parse a list page fetched with a GET of `url`."""
        return self.parse_page(html, url, PageRequest("GET", url))

    def parse_page(self, text: str, url: str, request: PageRequest) -> ListPage:
        """Parse a list page (HTML or JSON) and say which request fetches the next one."""
        page = ListPage()
        last_page: int | None = None
        if self.json:
            self._parse_json(text, url, page)
            if self._last is not None:
                try:
                    last_page = int(self._last.extract_json(_load_json(text)) or "")
                except ValueError:
                    last_page = None
        else:
            tree = LexborHTMLParser(text)
            self._parse_html(tree, url, page)
            last_page = self._html_last_page(tree)
            if request.page is None:
                page.next_url, pager_last = self._html_next(tree, url)
                page.last_page = last_page or pager_last
                return page
            if self._next is not None and tree.root is not None and self._next.node(tree.root) is None:
                last_page = request.page  # no next link: this is the last page
        page.last_page = last_page
        end = self.definition.list.end_text
        if request.page is not None and not (end and end in text) and page.notices and (
                last_page is None or request.page < last_page):
            spec = self.definition.list.request
            assert spec is not None
            page.next_request = build_request(spec, request.url, {}, page=request.page + 1)
        return page

    def _html_last_page(self, tree: LexborHTMLParser) -> int | None:
        if self._last is None or tree.root is None:
            return None
        value = self._last.extract(tree.root) or ""
        digits = re.search(r"\d+", value)
        return int(digits.group(0)) if digits else None

    def _html_next(self, tree: LexborHTMLParser, url: str) -> tuple[str | None, int | None]:
        if self._next is None:
            return paging_next(tree, url)
        root = tree.root
        node = self._next.node(root) if root is not None else None
        if node is None:
            return None, None
        value = self._next.from_node(node) if (self._next.attr or self._next.ops) else node.attributes.get("href")
        if value and not is_js_link(value):
            return urljoin(url, value), None
        return None, None

    def _parse_html(self, tree: LexborHTMLParser, url: str, page: ListPage) -> None:
        rows = tree.css(self.definition.list.rows)
        if rows and rows[0].tag == "tr":
            rows = grid_rows(rows)
        for row in rows:
            if row.tag == "tr" and row.css_first("td") is None:
                continue  # a header row
            if row.css_first(".no_data, .nodata, .no-data") is not None or "no-data" in (
                    row.attributes.get("class") or ""):
                continue
            values = {name: expr.extract(row) for name, expr in self._fields.items()}
            self._add_row(page, values, url, _is_pinned(row, self.definition.list.pinned), lambda r=row: snippet(r))

    def _parse_json(self, text: str, url: str, page: ListPage) -> None:
        data = _load_json(text)
        rows = FieldExpr.parse(self.definition.list.rows, json=True).search(data)
        if not isinstance(rows, list):
            raise ValueError(f"list.rows {self.definition.list.rows!r} is not an array in the answer")
        for row in rows:
            values = {name: expr.extract_json(row) for name, expr in self._fields.items()}
            pinned = bool(self._pinned.search(row)) if self._pinned is not None else False
            self._add_row(page, values, url, pinned, lambda r=row: str(r)[:200])

    def _add_row(self, page: ListPage, values: dict[str, str | None], url: str, pinned: bool,
                 show: Any) -> None:
        try:
            page.notices.append(self._notice(values, url, pinned))
        except ValueError as exc:
            page.errors.append(RowError(reason=str(exc), snippet=show()))

    def _notice(self, values: dict[str, str | None], url: str, pinned: bool) -> Notice:
        title = values.get("title")
        if not title:
            raise ValueError("row has no title")
        link = values.get("detail_link")
        link = urljoin(url, link) if link and not is_js_link(link) else None
        external_id = values.get("external_id") or (id_from_link(link, None) if link else None)
        if not external_id:
            raise ValueError(f"row {title!r} has no notice id")
        date_text = values.get("post_date")
        if not date_text:
            raise ValueError(f"row {title!r} has no post date")
        post_date = parse_date(date_text)
        views = parse_views(values.get("views") or "")
        spec = self.definition.detail.request
        if spec is not None:
            filled = {k: v for k, v in values.items() if v is not None}
            filled["id"] = external_id
            request = build_request(spec, url, filled, default_url=link)
            self._detail_requests[external_id] = request
            detail_url = request.link
        elif link:
            detail_url = link
        else:
            raise ValueError(f"row {title!r} has no detail link")
        return Notice(external_id=external_id, title=title, department=values.get("department") or "",
                      post_date=post_date, views=views, url=detail_url, pinned=pinned)

    # -- detail pages --

    def parse_detail(self, html: str, url: str) -> DetailPage:
        """The detail fields the definition names; the rest stay as the list row had them."""
        if not self._detail:
            return parse_egov_detail(html, url)  # the common labels and classes, as for a bare URL
        tree = LexborHTMLParser(html)
        root = tree.root
        if root is None:
            return DetailPage()

        def pick(name: str) -> str | None:
            expr = self._detail.get(name)
            return expr.extract(root) if expr is not None else None

        date_text = pick("post_date")
        views_text = pick("views")
        try:
            post_date = parse_date(date_text) if date_text else None
        except ValueError:
            post_date = None
        try:
            views = parse_views(views_text) if views_text else None
        except ValueError:
            views = None
        attachments: tuple[Attachment, ...] | None = None
        files = self._detail.get("attachments")
        if files is not None:
            attachments = tuple(self._attachments(files.nodes(root), url))
        return DetailPage(title=pick("title"), department=pick("department"), post_date=post_date, views=views,
                          attachments=attachments)

    def _attachments(self, links: Iterable[LexborNode], url: str) -> list[Attachment]:
        found: list[Attachment] = []
        seen: set[str] = set()
        template = self.definition.detail.attachment_url
        for link in links:
            href = link.attributes.get("href")
            target: str | None = None
            if href and not is_js_link(href):
                target = urljoin(url, href.strip())
            elif template is not None:
                for _, args in js_calls(link.attributes.get("onclick") or href):
                    try:
                        target = urljoin(url, render(template, {str(i): a for i, a in enumerate(args)}))
                    except ValueError:
                        continue
                    break
            name = node_text(link)
            if target and name and target not in seen:
                seen.add(target)
                found.append(Attachment(name=name, url=target))
        return found


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the list answer is not JSON: {exc}") from exc
