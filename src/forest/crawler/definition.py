"""Source definitions: one JSON language that describes how to page, read and follow a board.

A definition says how list pages are asked for (`list.request`: GET or a form POST, which field
carries the page number), how rows and fields are read (CSS selectors for HTML, JMESPath for JSON
lists), how a detail page is asked for (`detail.request`) and read, when the list ends, and how the
board's session behaves. Field values use a small pipeline syntax, read left to right:

    <source> [js:<n> | js:<function>:<n>] [seg:<n>] [re:<regex>]

- `<source>` is `<css>[::attr(<name>)]` (HTML; empty = the row itself) or a JMESPath expression (JSON);
- `js:<n>` takes the n-th argument (from 0) of the first JavaScript call in the value, e.g.
  `a::attr(onclick) js:0` reads `2026-0137` out of `fn_egov_inqire_notice('2026-0137', 'BBS_01')`;
  without `::attr(...)` the element's `onclick`, else its `href`, is read;
- `seg:<n>` takes path segment n of a URL (negative from the end): `a seg:-1` reads `T-2026-0457`
  out of `/tenders/view/T-2026-0457`; without `::attr(...)` the element's `href` is read;
- `re:<regex>` keeps the regex's first group (or its whole match); it comes last.

Templates (`request.url`, `request.form` values, `detail_link`-less detail URLs, `attachment_url`)
take `{page}`, `{id}` (the notice id), any list field by name (`{bbs_id}`) and, in
`attachment_url`, the arguments of the attachment link's JavaScript call (`{0}`, `{1}`).

The definition is checked by pydantic: every problem is a field error whose location names the
key (`definition.list.fields.title: bad CSS selector ...`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import jmespath
import jmespath.exceptions
from jmespath.parser import ParsedResult
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from forest.crawler.parse import (
    Attachment,
    DetailPage,
    ListPage,
    Notice,
    RowError,
    clean_text,
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
from forest.crawler.selectors import split_attr

LIST_FIELDS = ("external_id", "title", "department", "post_date", "views", "detail_link")
DETAIL_FIELDS = ("title", "department", "post_date", "views", "attachments")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
_OPS = re.compile(r"\s+(js:(?:[A-Za-z_$][\w$.]*:)?-?\d+|seg:-?\d+)(?=\s|$)")
_RE_OP = " re:"


# ---- JavaScript call arguments ------------------------------------------------------------------

_CALL = re.compile(r"([A-Za-z_$][\w$.]*)\s*\(")
_TOKEN = re.compile(r"""\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([^,()'"]+?))\s*(,|\))""")


def js_calls(script: str | None) -> list[tuple[str, list[str]]]:
    """Every `name(arg, ...)` call in a snippet with literal arguments, as (name, [arguments as text]).

    Boards put ids and page numbers in onclick/href handlers as string and number literals; a small
    tokenizer for literals is enough here, a full JavaScript parser would be far more than this needs.
    """
    calls: list[tuple[str, list[str]]] = []
    text = script or ""
    for match in _CALL.finditer(text):
        if match.group(1) in ("void", "return", "function", "if"):
            continue
        args: list[str] = []
        pos = match.end()
        if text[pos:].lstrip().startswith(")"):
            calls.append((match.group(1), args))
            continue
        while pos < len(text):
            token = _TOKEN.match(text, pos)
            if token is None:
                break
            single, double, bare, end = token.groups()
            value = single if single is not None else double if double is not None else (bare or "")
            args.append(value.replace("\\'", "'").replace('\\"', '"').strip())
            pos = token.end()
            if end == ")":
                calls.append((match.group(1), args))
                break
    return calls


def js_argument(script: str | None, index: int, function: str | None = None) -> str | None:
    """Argument `index` of the first call (of `function`, when given) in `script`."""
    for name, args in js_calls(script):
        if function is not None and name.split(".")[-1] != function:
            continue
        if -len(args) <= index < len(args):
            return args[index]
        return None
    return None


def path_segment(url: str | None, index: int) -> str | None:
    """Path segment `index` of a URL (negative counts from the end), ignoring empty segments."""
    if not url or is_js_link(url):
        return None
    parts = [p for p in urlsplit(url.strip()).path.split("/") if p]
    return parts[index] if -len(parts) <= index < len(parts) else None


# ---- field expressions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Op:
    kind: Literal["js", "seg"]
    index: int
    function: str | None = None


@dataclass(frozen=True, slots=True)
class FieldExpr:
    """One parsed field value: a CSS or JMESPath source, then js/seg/re steps."""

    source: str
    attr: str | None
    ops: tuple[_Op, ...]
    pattern: re.Pattern[str] | None
    query: ParsedResult | None = None

    @classmethod
    def parse(cls, spec: str, *, json: bool) -> FieldExpr:
        """Parse a field value; raises ValueError saying what is wrong."""
        head, sep, regex = spec.partition(_RE_OP)
        pattern = None
        if sep:
            try:
                pattern = re.compile(regex)
            except re.error as exc:
                raise ValueError(f"bad regex {regex!r}: {exc}") from exc
        ops: list[_Op] = []
        for token in _OPS.findall(" " + head):
            kind, _, rest = token.partition(":")
            function, _, number = rest.rpartition(":")
            ops.append(_Op(kind="js" if kind == "js" else "seg", index=int(number), function=function or None))
        source = _OPS.sub("", " " + head).strip()
        if json:
            if not source:
                raise ValueError("a JSON field needs a JMESPath expression")
            try:
                query = jmespath.compile(source)
            except jmespath.exceptions.JMESPathError as exc:
                raise ValueError(f"bad JMESPath expression {source!r}: {exc}") from exc
            return cls(source=source, attr=None, ops=tuple(ops), pattern=pattern, query=query)
        source, attr = split_attr(source)
        if source:
            check_css(source)
        return cls(source=source, attr=attr, ops=tuple(ops), pattern=pattern)

    def node(self, context: LexborNode) -> LexborNode | None:
        """The element this expression reads inside `context` (HTML only)."""
        return context.css_first(self.source) if self.source else context

    def nodes(self, context: LexborNode) -> list[LexborNode]:
        """Every element this expression matches inside `context` (HTML only)."""
        return context.css(self.source) if self.source else [context]

    def from_node(self, node: LexborNode | None) -> str | None:
        """The value read from one element."""
        if node is None:
            return None
        if self.attr:
            value = node.attributes.get(self.attr)
        elif self.ops and self.ops[0].kind == "js":
            value = node.attributes.get("onclick") or node.attributes.get("href")
        elif self.ops and self.ops[0].kind == "seg":
            value = node.attributes.get("href")
        else:
            value = node_text(node)
        return self.refine(value)

    def extract(self, context: LexborNode) -> str | None:
        """The value inside an HTML row or document; None when absent."""
        return self.from_node(self.node(context))

    def search(self, data: Any) -> Any:
        """The raw JMESPath result on a JSON value."""
        assert self.query is not None
        return self.query.search(data)

    def extract_json(self, data: Any) -> str | None:
        """The value inside a JSON row, as text; None when absent."""
        value = self.search(data)
        if value is None or isinstance(value, (dict, list)):
            return None
        if isinstance(value, bool):
            value = "true" if value else "false"
        return self.refine(str(value))

    def refine(self, value: str | None) -> str | None:
        """Apply the js/seg/re steps to a raw value."""
        for op in self.ops:
            if value is None:
                return None
            value = js_argument(value, op.index, op.function) if op.kind == "js" else path_segment(value, op.index)
        if value is None:
            return None
        if self.pattern is not None:
            match = self.pattern.search(value)
            if match is None:
                return None
            value = match.group(1) if match.groups() else match.group(0)
        return clean_text(value)


@dataclass(frozen=True, slots=True)
class FieldRule:
    """A field value with alternatives: `<expr> || <expr>`, the first one that yields a value wins."""

    alternatives: tuple[FieldExpr, ...]

    @classmethod
    def parse(cls, spec: str, *, json: bool) -> FieldRule:
        """Parse `a || b || ...`; raises ValueError for the first bad alternative."""
        parts = [part.strip() for part in spec.split(" || ")]
        if len(parts) > 5:
            raise ValueError("at most 5 alternatives joined by ' || '")
        return cls(tuple(FieldExpr.parse(part, json=json) for part in parts))

    def extract(self, context: LexborNode) -> str | None:
        """The first alternative's value inside an HTML row or document."""
        for expr in self.alternatives:
            value = expr.extract(context)
            if value:
                return value
        return None

    def extract_json(self, data: Any) -> str | None:
        """The first alternative's value inside a JSON row."""
        for expr in self.alternatives:
            value = expr.extract_json(data)
            if value:
                return value
        return None

    def search(self, data: Any) -> Any:
        """The first alternative's raw JSON result that is not null."""
        for expr in self.alternatives:
            value = expr.search(data)
            if value is not None:
                return value
        return None

    def nodes(self, context: LexborNode) -> list[LexborNode]:
        """The elements of the first alternative that matches any."""
        for expr in self.alternatives:
            found = expr.nodes(context)
            if found:
                return found
        return []


def check_css(selector: str) -> None:
    """Raise ValueError unless `selector` is CSS the parser accepts."""
    try:
        LexborHTMLParser("<p></p>").css_first(selector)
    except (ValueError, RuntimeError, SelectolaxError) as exc:
        raise ValueError(f"bad CSS selector {selector!r}: {exc}") from exc


_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]{1,40})\}")


def template_names(template: str) -> set[str]:
    """The `{name}` placeholders of a template; raises ValueError for a malformed one."""
    rest = _PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        raise ValueError(f"bad template {template!r}: placeholders are {{name}} with letters, digits or _")
    return set(_PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str]) -> str:
    """A template with its placeholders filled; raises ValueError naming a missing value."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            raise ValueError(f"no value for {{{match.group(1)}}} in {template!r}")
        return value

    return _PLACEHOLDER.sub(fill, template)


# ---- the definition language ---------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestSpec(_Spec):
    """How a list or detail page is asked for."""

    method: Literal["GET", "POST"] = Field(default="GET", description="POST sends `form` url-encoded.")
    url: str | None = Field(
        default=None, max_length=2048,
        description="Template, relative to the board page; default: the board page (list) or the detail link.")
    form: dict[str, str] = Field(
        default_factory=dict, description="Fields sent with the request (query parameters for GET); templates.")
    page_field: str | None = Field(
        default=None, max_length=100, description="The form field (or query parameter) that carries the page number.")

    @field_validator("url")
    @classmethod
    def _url_template(cls, value: str | None) -> str | None:
        if value is not None:
            template_names(value)
        return value

    @field_validator("form")
    @classmethod
    def _form_templates(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 50:
            raise ValueError("at most 50 form fields")
        for name, template in value.items():
            if not name or len(name) > 100:
                raise ValueError(f"form field name {name!r} must be 1..100 characters")
            template_names(template)
        return value

    def placeholders(self) -> set[str]:
        """Every placeholder its templates use."""
        names = template_names(self.url or "")
        for template in self.form.values():
            names |= template_names(template)
        return names


class ListSpec(_Spec):
    """How list pages are asked for and read."""

    format: Literal["html", "json"] = Field(default="html", description="`json` for boards that list by XHR.")
    request: RequestSpec | None = Field(
        default=None, description="How page N is asked for; without it page 1 is the board page, then `next`.")
    rows: str = Field(min_length=1, max_length=500, description="CSS of one row, or JMESPath of the row array.")
    fields: dict[str, str] = Field(description="Field name → expression; `title` and `post_date` are required.")
    pinned: str | None = Field(
        default=None, max_length=500,
        description="A row is pinned when this CSS matches it or inside it (JSON: a JMESPath that is true).")
    next: str | None = Field(
        default=None, max_length=500,
        description="CSS of the next-page link (its href, or a page number in its JavaScript); default: the pager.")
    last_page: str | None = Field(
        default=None, max_length=500, description="Expression of the last page number (e.g. JMESPath into paging).")
    end_text: str | None = Field(
        default=None, max_length=200, description="Text the board shows past its last page (no rows).")

    @model_validator(mode="after")
    def _check(self) -> ListSpec:
        json = self.format == "json"
        if json:
            FieldExpr.parse(self.rows, json=True)
        else:
            check_css(self.rows)
        for required in ("title", "post_date"):
            if not self.fields.get(required):
                raise ValueError(f"fields.{required} is required")
        if len(self.fields) > 30:
            raise ValueError("at most 30 fields")
        for name, spec in self.fields.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"fields: {name!r} is not a field name (lowercase letters, digits, _)")
            try:
                FieldRule.parse(spec, json=json)
            except ValueError as exc:
                raise ValueError(f"fields.{name}: {exc}") from exc
        for key in ("pinned", "last_page"):
            spec = getattr(self, key)
            if spec:
                try:
                    FieldRule.parse(spec, json=json) if key == "last_page" or json else check_css(spec)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from exc
        if self.next:
            if json:
                raise ValueError("next: a JSON list pages by `request.page_field`; use `last_page` to end it")
            try:
                FieldExpr.parse(self.next, json=False)
            except ValueError as exc:
                raise ValueError(f"next: {exc}") from exc
        if self.request is not None:
            unknown = self.request.placeholders() - {"page"}
            if unknown:
                raise ValueError(f"request: list templates may only use {{page}}, not {sorted(unknown)}")
        if json and (self.request is None or (self.request.page_field is None and "page" not in
                                              self.request.placeholders())):
            raise ValueError("request: a JSON list needs a request with `page_field` or a {page} placeholder")
        return self


class DetailSpec(_Spec):
    """How a notice's detail page is asked for and read."""

    request: RequestSpec | None = Field(
        default=None, description="Default: GET the row's `detail_link`. Templates take {id} and list fields.")
    fields: dict[str, str] = Field(
        default_factory=dict, description="title, department, post_date, views, attachments (CSS of the links).")
    attachment_url: str | None = Field(
        default=None, max_length=2048,
        description="URL template for script links, e.g. `/cmm/fms/FileDown.do?atchFileId={0}&fileSn={1}`.")

    @model_validator(mode="after")
    def _check(self) -> DetailSpec:
        unknown = sorted(set(self.fields) - set(DETAIL_FIELDS))
        if unknown:
            raise ValueError(f"fields: unknown detail fields {unknown}; known: {', '.join(DETAIL_FIELDS)}")
        for name, spec in self.fields.items():
            try:
                FieldRule.parse(spec, json=False)
            except ValueError as exc:
                raise ValueError(f"fields.{name}: {exc}") from exc
        if self.attachment_url is not None:
            template_names(self.attachment_url)
        return self


class SessionSpec(_Spec):
    """The board's session: cookies are kept per crawl, never shared between sources or users."""

    enabled: bool = Field(default=True, description="Keep the board's cookies for the whole crawl.")
    lost_text: str | None = Field(
        default=None, max_length=200,
        description="Text of the page the board answers (often with status 200) when the session is gone.")
    lost_on_redirect: bool = Field(
        default=True, description="A redirect to another path (the front page) means the session is gone.")


class SourceDefinition(_Spec):
    """A board, described: see docs/crawler.md "Source definitions"."""

    version: Literal[1] = 1
    frame: str | None = Field(
        default=None, max_length=500,
        description="CSS of the frame/iframe that holds the board on the start page (its `src` is followed).")
    list: ListSpec
    detail: DetailSpec = Field(default_factory=DetailSpec)
    session: SessionSpec = Field(default_factory=SessionSpec)

    @field_validator("frame")
    @classmethod
    def _frame_css(cls, value: str | None) -> str | None:
        if value is not None:
            check_css(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> SourceDefinition:
        link = self.list.fields.get("detail_link")
        if self.detail.request is None and not link and not self.list.fields.get("external_id"):
            raise ValueError("list.fields needs detail_link, or external_id with a detail.request")
        if self.detail.request is not None:
            known = {"id", *self.list.fields}
            unknown = self.detail.request.placeholders() - known
            if unknown:
                raise ValueError(f"detail.request: unknown placeholders {sorted(unknown)}; known: {sorted(known)}")
            if self.detail.request.url is None and not link:
                raise ValueError("detail.request.url is required when list.fields has no detail_link")
        return self


# ---- requests and the parser ---------------------------------------------------------------------


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


def _grid_rows(rows: list[LexborNode]) -> list[LexborNode]:
    """Table rows with rowspan/colspan cells repeated into every slot they cover, so `td:nth-child(n)`
    means column n on every row (a date cell spanning three rows belongs to all three)."""
    if not any(c.attributes.get("rowspan") or c.attributes.get("colspan") for r in rows for c in r.css("td, th")):
        return rows
    carried: dict[int, tuple[int, str]] = {}  # column -> (rows left, cell html)
    out: list[LexborNode] = []
    for row in rows:
        cells = [c for c in row.iter() if c.tag in ("td", "th")]
        slots: list[str] = []
        column = 0
        queue = list(cells)
        while queue or any(col >= column for col in carried):
            if column in carried:
                left, html = carried[column]
                slots.append(html)
                carried[column] = (left - 1, html)
                if left - 1 <= 0:
                    del carried[column]
                column += 1
                continue
            if not queue:
                break
            cell = queue.pop(0)
            span = _span(cell.attributes.get("colspan"))
            down = _span(cell.attributes.get("rowspan"))
            html = re.sub(r"\s(rowspan|colspan)=\"?\d+\"?", "", cell.html or "", count=2)
            for offset in range(span):
                slots.append(html)
                if down > 1:
                    carried[column + offset] = (down - 1, html)
            column += span
        attrs = "".join(f' {k}="{v}"' for k, v in row.attributes.items() if v is not None)
        tree = LexborHTMLParser(f"<table><tbody><tr{attrs}>{''.join(slots)}</tr></tbody></table>")
        node = tree.css_first("tr")
        if node is not None:
            out.append(node)
    return out


def _span(value: str | None) -> int:
    return max(1, min(int(value), 50)) if value and value.strip().isdigit() else 1


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
            rows = _grid_rows(rows)
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


def definition_from_selectors(selectors: Mapping[str, str]) -> dict[str, Any]:
    """The definition that reads a board as a selectors mapping (or a detected layout) does, to copy and edit."""
    fields = {key: selectors[key] for key in LIST_FIELDS if selectors.get(key)}
    listing: dict[str, Any] = {"rows": selectors["row"], "fields": fields}
    if selectors.get("pinned"):
        listing["pinned"] = selectors["pinned"]
    if selectors.get("next_page") and not selectors.get("next_page_url"):
        listing["next"] = selectors["next_page"]
    definition: dict[str, Any] = {"list": listing}
    link = fields.get("detail_link", "")
    if "{external_id}" in link:
        del fields["detail_link"]
        definition["detail"] = {"request": {"url": link.replace("{external_id}", "{id}")}}
    detail = {key.removeprefix("detail_"): selectors[key] for key in
              ("detail_title", "detail_department", "detail_post_date", "detail_views", "attachments")
              if selectors.get(key)}
    if detail:
        definition.setdefault("detail", {})["fields"] = detail
    return definition
