"""What the board shapes share: the page head, cut titles, page numbers, detail pages and file downloads."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from forest.demo_site import templates
from forest.demo_site.notices import Notice
from forest.demo_site.params import board_of

CUT_AT = 20
HEAD = '<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><title>{title}</title></head><body>\n'
# An attachment in a list of links to `/shapes/file/<id>`.
SHAPES_FILE_ITEM = '<li><a href="/shapes/file/{file_id}">{name}</a></li>'
# The `class` of each row's cell in a detail table, in `detail_table`'s order.
_DETAIL_CLASSES = ("title", "dept", "date", "views", "files")


def cut(title: str) -> str:
    """A list title as boards cut it."""
    return title if len(title) <= CUT_AT else title[:CUT_AT] + "…"


def page_param(value: str | None) -> int:
    """A page number from the request (1 when missing, not a number, or absurdly long)."""
    return max(1, int(value)) if value and value.isdigit() and len(value) < 7 else 1


def views(value: int) -> str:
    """A view count as boards print it, with thousands separators."""
    return f"{value:,}"


def file_links(notice: Notice, link: str = SHAPES_FILE_ITEM) -> str:
    """The notice's attachments, each as `link` with its `{file_id}` and `{name}` filled in."""
    return "".join(link.format(file_id=a.file_id, name=escape(a.name)) for a in notice.attachments)


def notice_fields(notice: Notice, file_link: str) -> dict[str, str]:
    """A notice's values as detail pages print them, escaped, for their `str.format` templates (`files`: the
    attachments as `file_link`, see `file_links`)."""
    return {"title": escape(notice.title), "department": escape(notice.department),
            "date": notice.post_date.isoformat(), "views": views(notice.views),
            "body": templates.body_html(notice.body), "files": file_links(notice, file_link)}


def detail_table(notice: Notice, files: str, labels: tuple[str, str, str, str, str], *, table_class: str,
                 cell_classes: bool = True) -> str:
    """A detail page's table: title, department, date, views and files (`<ul>` of `files`), a row each."""
    values = (escape(notice.title), escape(notice.department), notice.post_date.isoformat(), views(notice.views),
              f"<ul>{files}</ul>")
    rows = "".join(
        f'<tr><th>{label}</th><td class="{css}">{value}</td></tr>' if cell_classes
        else f"<tr><th>{label}</th><td>{value}</td></tr>"
        for label, css, value in zip(labels, _DETAIL_CLASSES, values, strict=True))
    return f'<table class="{table_class}"><tbody>{rows}</tbody></table>'


def detail_page(request: Request, raw: str, render: Callable[[Notice], str]) -> Response:
    """The detail page of notice `raw` (its id as text), counting a view; the not-found page for anything else."""
    notice = board_of(request).view(int(raw)) if raw.isdigit() else None
    if notice is None:
        return HTMLResponse(templates.not_found(), status_code=404)
    return HTMLResponse(render(notice))


async def shape_file(request: Request) -> Response:
    """An attachment by file id in the path (JSON, English, card and grid boards)."""
    raw = request.path_params["file_id"]
    attachment = board_of(request).attachment(int(raw)) if raw.isdigit() else None
    if attachment is None:
        return HTMLResponse(templates.not_found("파일을 찾을 수 없습니다."), status_code=404)
    return Response(attachment.name.encode(), media_type="application/octet-stream")
