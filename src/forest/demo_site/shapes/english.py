"""The plain English tender table: references in the detail path, a `rel="next"` pager of paths (`/en/tenders`)."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from forest.demo_site import templates
from forest.demo_site.notices import Notice
from forest.demo_site.params import board_of
from forest.demo_site.shapes.common import detail_table, file_links, page_param, views


def english_id(notice: Notice) -> str:
    """The reference the English board shows for a notice."""
    return f"T-{notice.post_date.year}-{notice.ntt_id}"


def _english_page(request: Request, page_index: int) -> Response:
    page = board_of(request).list_page(page_index)
    rows = "".join(
        f"<tr><td>{english_id(n)}</td>"
        f'<td><a href="/en/tenders/view/{english_id(n)}">{escape(n.title)}</a></td>'
        f"<td>{escape(n.department)}</td><td>{n.post_date.isoformat()}</td><td>{views(n.views)}</td></tr>"
        for _, n in page.rows)
    links = []
    if page.page_index > 1:
        links.append(f'<a rel="prev" href="/en/tenders/page/{page.page_index - 1}">‹ Previous</a>')
    if page.has_next:
        links.append(f'<a rel="next" href="/en/tenders/page/{page.page_index + 1}">Next ›</a>')
    return HTMLResponse(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Tenders</title></head><body>\n'
        '<h1>Open tenders</h1><table class="tenders"><thead><tr><th>Ref.</th><th>Title</th><th>Buyer</th>'
        f"<th>Published</th><th>Views</th></tr></thead><tbody>{rows}</tbody></table>\n"
        f'<nav class="pages">{" ".join(links)}</nav>\n</body></html>\n')


async def english_first(request: Request) -> Response:
    """Page 1 of the English tender table."""
    return _english_page(request, 1)


async def english_page(request: Request) -> Response:
    """Page N, at a path."""
    return _english_page(request, page_param(request.path_params["page"]))


async def english_view(request: Request) -> Response:
    """A tender's detail page, its reference in the path."""
    ref: str = request.path_params["ref"]
    raw = ref.rsplit("-", 1)[-1]
    notice = board_of(request).view(int(raw)) if raw.isdigit() else None
    if notice is None or english_id(notice) != ref:
        return HTMLResponse(templates.not_found("No such tender."), status_code=404)
    table = detail_table(notice, file_links(notice), ("Title", "Buyer", "Published", "Views", "Documents"),
                         table_class="details", cell_classes=False)
    return HTMLResponse(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(notice.title)}</title></head>'
        f"<body><h1>{escape(notice.title)}</h1>\n{table}\n"
        f'<div class="notice-body">{templates.body_html(notice.body)}</div></body></html>\n')
