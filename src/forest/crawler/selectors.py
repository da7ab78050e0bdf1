"""Boards described by CSS selectors (a Source's `selectors`), with a small extraction mini-syntax.

Each value is `<css>[::attr(<name>)][ re:<regex>]`:
- `<css>` is matched inside the row (list fields) or the document (detail and pager fields);
  an empty `<css>` means the row itself, e.g. `::attr(data-id)`.
- `::attr(<name>)` takes that attribute instead of the element's text.
- ` re:<regex>` keeps the regex's first group (or the whole match) of the extracted value, e.g.
  `a.bid-title::attr(onclick) re:goDetail\\('(\\d+)'\\)`.
`detail_link` may also be a template such as `/custom/bid?id={external_id}`; `next_page_url`
(a template with `{page}`) turns a JavaScript pager value like `javascript:goPage(3)` into a URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from forest.crawler.parse import (
    Attachment,
    DetailPage,
    ListPage,
    Notice,
    RowError,
    attachment_url,
    clean_text,
    detail_text,
    id_from_link,
    is_js_link,
    is_pinned_row,
    js_page_number,
    node_text,
    page_param_name,
    paging_next,
    parse_date,
    parse_views,
    snippet,
    with_query,
)
from forest.crawler.presets.egov import parse_egov_detail

LIST_KEYS = ("row", "external_id", "title", "department", "post_date", "views", "detail_link", "next_page")
DETAIL_KEYS = ("detail_title", "detail_department", "detail_post_date", "detail_views", "detail_body", "attachments")
EXTRA_KEYS = ("next_page_url", "pinned")
ALL_KEYS = frozenset((*LIST_KEYS, *DETAIL_KEYS, *EXTRA_KEYS))
_ATTR = re.compile(r"::attr\(\s*([\w:-]+)\s*\)\s*$")


def split_attr(css: str) -> tuple[str, str | None]:
    """`a::attr(href)` -> (`a`, `href`); `td::text` and `td` -> (`td`, None): the CSS and the attribute it reads."""
    css = css.strip()
    match = _ATTR.search(css)
    if match:
        return css[: match.start()].strip(), match.group(1)
    if css.endswith("::text"):
        return css[: -len("::text")].strip(), None
    return css, None


class SelectorError(ValueError):
    """A selectors mapping that cannot work; the message names the key."""


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """One parsed `<css>[::attr(name)][ re:<regex>]` value."""

    css: str
    attr: str | None
    pattern: re.Pattern[str] | None

    @classmethod
    def parse(cls, spec: str, *, key: str = "selector") -> FieldSelector:
        """Parse the mini-syntax; raises SelectorError naming `key`."""
        css, sep, regex = spec.partition(" re:")
        pattern = None
        if sep:
            try:
                pattern = re.compile(regex)
            except re.error as exc:
                raise SelectorError(f"{key}: bad regex {regex!r}: {exc}") from exc
        css, attr = split_attr(css)
        if css:
            try:
                LexborHTMLParser("<p></p>").css_first(css)
            except (ValueError, RuntimeError, SelectolaxError) as exc:
                raise SelectorError(f"{key}: bad CSS selector {css!r}: {exc}") from exc
        return cls(css=css, attr=attr, pattern=pattern)

    def node(self, context: LexborNode) -> LexborNode | None:
        """The element this selector points at inside `context`."""
        return context.css_first(self.css) if self.css else context

    def extract(self, context: LexborNode) -> str | None:
        """The selected text or attribute, narrowed by the regex; None when absent."""
        node = self.node(context)
        if node is None:
            return None
        value = node.attributes.get(self.attr) if self.attr else node_text(node)
        if value is None:
            return None
        if self.pattern is not None:
            match = self.pattern.search(value)
            if match is None:
                return None
            value = match.group(1) if match.groups() else match.group(0)
        return clean_text(value)


def validate_selectors(selectors: Mapping[str, str]) -> dict[str, str]:
    """Check a selectors mapping (unknown keys, missing `row`/`title`/`post_date`, bad CSS or regex)."""
    unknown = sorted(set(selectors) - ALL_KEYS)
    if unknown:
        raise SelectorError(f"unknown selector keys: {', '.join(unknown)}; known: {', '.join(sorted(ALL_KEYS))}")
    for required in ("row", "title", "post_date"):
        if not selectors.get(required):
            raise SelectorError(f"{required}: selector is required")
    for key, value in selectors.items():
        if not isinstance(value, str):
            raise SelectorError(f"{key}: must be a string")
        if key in ("row", "pinned"):
            continue
        if key == "next_page_url" or (key == "detail_link" and "{external_id}" in value):
            continue
        FieldSelector.parse(value, key=key)
    return dict(selectors)


class SelectorParser:
    """A board parser driven by a selectors mapping (see the module docstring)."""

    def __init__(self, selectors: Mapping[str, str]) -> None:
        self.selectors = validate_selectors(selectors)
        get = self.selectors.get
        self._row = self.selectors["row"]
        self._fields = {
            key: FieldSelector.parse(self.selectors[key], key=key)
            for key in ("external_id", "title", "department", "post_date", "views", "next_page")
            if get(key)
        }
        link = get("detail_link")
        self._link_template = link if link and "{external_id}" in link else None
        self._link = FieldSelector.parse(link, key="detail_link") if link and not self._link_template else None
        self._next_template = get("next_page_url")
        self._pinned = get("pinned")
        self._detail = {key: FieldSelector.parse(self.selectors[key], key=key) for key in DETAIL_KEYS if get(key)}

    def parse_list(self, html: str, url: str) -> ListPage:
        """Parse a list page; unparseable rows become RowErrors."""
        tree = LexborHTMLParser(html)
        page = ListPage()
        for row in tree.css(self._row):
            if row.css_first("td, li, div, span, a") is None or row.css_first(".no_data, .nodata") is not None:
                continue
            if row.tag == "tr" and row.css_first("td") is None:
                continue  # a header row inside tbody
            try:
                page.notices.append(self._parse_row(row, url))
            except ValueError as exc:
                page.errors.append(RowError(reason=str(exc), snippet=snippet(row)))
        page.next_url, page.last_page = self._next(tree, url)
        return page

    def _value(self, key: str, row: LexborNode) -> str | None:
        selector = self._fields.get(key)
        return selector.extract(row) if selector else None

    def _parse_row(self, row: LexborNode, page_url: str) -> Notice:
        title = self._value("title", row)
        if not title:
            raise ValueError("row has no title")
        title_node = self._fields["title"].node(row)
        anchor = None
        if title_node is not None:
            anchor = title_node if title_node.tag == "a" else title_node.css_first("a")
        href = anchor.attributes.get("href") if anchor is not None else None
        onclick = anchor.attributes.get("onclick") if anchor is not None else None
        link = self._link.extract(row) if self._link else None
        external_id = self._value("external_id", row)
        if not external_id and "external_id" not in self._fields:
            external_id = id_from_link(link, None) or id_from_link(href, onclick)
        if not external_id:
            raise ValueError(f"row {title!r} has no notice id")
        if self._link_template:
            url = urljoin(page_url, self._link_template.format(external_id=external_id))
        elif link and not is_js_link(link):
            url = urljoin(page_url, link)
        elif href and not is_js_link(href):
            url = urljoin(page_url, href.strip())
        else:
            raise ValueError(f"row {title!r} has no detail link; set a detail_link template")
        date_text = self._value("post_date", row)
        if not date_text:
            raise ValueError(f"row {title!r} has no post date")
        post_date = parse_date(date_text)
        views_text = self._value("views", row)
        views = parse_views(views_text) if views_text else 0
        pinned = (self._pinned is not None and row.css_first(self._pinned) is not None) or is_pinned_row(row)
        return Notice(
            external_id=external_id,
            title=title,
            department=self._value("department", row) or "",
            post_date=post_date,
            views=views,
            url=url,
            pinned=pinned,
        )

    def _next(self, tree: LexborHTMLParser, page_url: str) -> tuple[str | None, int | None]:
        selector = self._fields.get("next_page")
        if selector is None:
            return paging_next(tree, page_url)
        root = tree.root
        if root is None:
            return None, None
        node = selector.node(root)
        if node is None:
            return None, None
        value = selector.extract(root) or ""
        if not selector.attr and not selector.pattern:
            value = node.attributes.get("href") or ""
        if value and not is_js_link(value) and not value.isdigit():
            return urljoin(page_url, value), None
        number = int(value) if value.isdigit() else js_page_number(value or node.attributes.get("onclick"))
        if number is None:
            return None, None
        if self._next_template:
            return urljoin(page_url, self._next_template.format(page=number)), None
        return with_query(page_url, **{page_param_name(page_url): str(number)}), None

    def parse_detail(self, html: str, url: str) -> DetailPage:
        """Parse a detail page: `detail_*` selectors, else the list selectors that are not positional."""
        tree = LexborHTMLParser(html)
        root = tree.root
        fallback = parse_egov_detail(html, url)
        if root is None:
            return fallback

        def pick(key: str) -> str | None:
            selector = self._detail.get(f"detail_{key}")
            if selector is None:
                spec = self.selectors.get(key, "")
                # Positional selectors like td:nth-child(2) mean something else on a detail page.
                if not spec or ":nth-" in spec:
                    return None
                selector = self._fields[key]
            return selector.extract(root)

        title = pick("title")
        department = pick("department")
        date_text = pick("post_date")
        views_text = pick("views")
        try:
            post_date = parse_date(date_text) if date_text else fallback.post_date
        except ValueError:
            post_date = fallback.post_date
        try:
            views = parse_views(views_text) if views_text else fallback.views
        except ValueError:
            views = fallback.views
        attachments = fallback.attachments
        files = self._detail.get("attachments")
        if files is not None:
            found: list[Attachment] = []
            for link in root.css(files.css or "a"):
                target = attachment_url(link.attributes.get("href"), link.attributes.get("onclick"), url)
                if target:
                    found.append(Attachment(name=node_text(link), url=target))
            attachments = tuple(found)
        body_selector = self._detail.get("detail_body")
        body_css = body_selector.css if body_selector is not None else None
        return DetailPage(
            title=title or fallback.title,
            department=department or fallback.department,
            post_date=post_date,
            views=views,
            attachments=attachments,
            body=detail_text(html, body_css) if body_css else fallback.body,
        )
