"""Table rows with rowspan/colspan cells repeated into every column they cover."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode


def grid_rows(rows: list[LexborNode]) -> list[LexborNode]:
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
