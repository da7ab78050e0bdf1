"""The demo board in the shapes agency boards take in the wild, each a view of the same notices.

Every shape serves the Board's notices (`/_demo/notices` is the truth of all of them):

- `/egovpost/`: eGovFrame paging by form POST (`fn_egov_link_page(3)` sets a hidden `pageIndex`),
  detail pages by POST (`fn_egov_inqire_notice('104800', 'BBSMSTR_000000000123')`), downloads by script
  (`fn_egov_downFile('FILE_000000104800', '0')`), titles cut with `…`; a JSESSIONID session is set on
  the GET of the list: a later request without it gets a redirect to the front page (list) or the
  error page with status 200 (detail). The `drop_session` fault makes the board forget its sessions.
- `/jsonbbs/`: the list page has an empty `<tbody>`; rows come from `/jsonbbs/selectList.json?page=N`
  (`resultList`, `paginationInfo`), pinned rows flagged `noticeAt: "Y"`, detail at `/jsonbbs/view/<id>`.
- `/en/tenders`: a plain English table, ids only in the detail path (`/en/tenders/view/T-2026-104800`),
  a `rel="next"` pager whose pages are paths (`/en/tenders/page/2`).
- `/cards/`: `<div class="card">` items, pinned ones marked by a pin icon, detail at `/cards/view/<id>`.
- `/grid/`: a table whose date cell spans the rows of one day (`rowspan`), pinned rows with a
  `colspan` icon cell and class `is-top`.
- `/framed/`: the eGovFrame board inside an `<iframe>`.

A module per shape (`egovpost`, `jsonbbs`, `english`, and `layouts` for the cards, grid and iframe), sharing
`common`.
"""

from __future__ import annotations

from starlette.routing import Route

from forest.demo_site.shapes.common import cut, shape_file
from forest.demo_site.shapes.egovpost import (
    BBS_ID,
    SESSION_LOST_TEXT,
    Sessions,
    egovpost_file,
    egovpost_front,
    egovpost_list,
    egovpost_view,
    file_key,
)
from forest.demo_site.shapes.english import english_first, english_id, english_page, english_view
from forest.demo_site.shapes.jsonbbs import jsonbbs_list, jsonbbs_page, jsonbbs_view
from forest.demo_site.shapes.layouts import cards_list, cards_view, framed_index, grid_list, grid_view


def shape_routes() -> list[Route]:
    """The routes of every shape (the framed board's inner pages are the eGovFrame routes under /framed/board)."""
    return [
        Route("/egovpost/index.do", egovpost_front),
        Route("/egovpost/bid/list.do", egovpost_list, methods=["GET", "POST"]),
        Route("/egovpost/bid/view.do", egovpost_view, methods=["POST"]),
        Route("/cmm/fms/FileDown.do", egovpost_file),
        Route("/jsonbbs/list.do", jsonbbs_page),
        Route("/jsonbbs/selectList.json", jsonbbs_list),
        Route("/jsonbbs/view/{ntt_id}", jsonbbs_view),
        Route("/jsonbbs/file/{file_id}", shape_file),
        Route("/shapes/file/{file_id}", shape_file),
        Route("/en/tenders", english_first),
        Route("/en/tenders/page/{page}", english_page),
        Route("/en/tenders/view/{ref}", english_view),
        Route("/cards/list", cards_list),
        Route("/cards/view/{ntt_id}", cards_view),
        Route("/grid/list.do", grid_list),
        Route("/grid/view.do", grid_view),
        Route("/framed/", framed_index),
    ]


__all__ = ["BBS_ID", "SESSION_LOST_TEXT", "Sessions", "cut", "english_id", "file_key", "shape_routes"]
