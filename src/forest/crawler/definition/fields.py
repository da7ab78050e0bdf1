"""Field expressions: a CSS or JMESPath source, then js/seg/re steps, with `||` alternatives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import jmespath
import jmespath.exceptions
from jmespath.parser import ParsedResult
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from forest.crawler.definition.script import js_argument, path_segment
from forest.crawler.parse import clean_text, node_text
from forest.crawler.selectors import split_attr

_OPS = re.compile(r"\s+(js:(?:[A-Za-z_$][\w$.]*:)?-?\d+|seg:-?\d+)(?=\s|$)")
_RE_OP = " re:"


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
