"""The notice body of a detail page as clean text: blocks and table cells in reading order, one per line."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from forest.crawler.parse.headers import header_field
from forest.crawler.parse.text import clean_text

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
