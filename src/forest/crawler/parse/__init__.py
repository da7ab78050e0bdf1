"""Notices, list and detail pages, and the building blocks every board parser shares.

Parsers are pure functions of (HTML, page URL): no I/O, so they are tested on fixtures.
"""

from forest.crawler.parse.body import BODY_SELECTORS, body_node, body_text, detail_text
from forest.crawler.parse.headers import (
    HEADER_ALIASES,
    detect_table,
    find_notice_table,
    header_columns,
    header_field,
    table_selector,
)
from forest.crawler.parse.links import (
    ID_PARAMS,
    PAGE_PARAMS,
    attachment_url,
    current_page,
    frame_source,
    id_from_link,
    is_js_link,
    is_pinned_row,
    js_page_number,
    page_param_name,
    paging_next,
    query_param,
    with_query,
)
from forest.crawler.parse.notices import (
    Attachment,
    BoardParser,
    DetailPage,
    LayoutNotDetected,
    ListPage,
    Notice,
    RowError,
    apply_detail,
)
from forest.crawler.parse.text import clean_text, node_text, parse_date, parse_views, snippet

__all__ = [
    "BODY_SELECTORS",
    "HEADER_ALIASES",
    "ID_PARAMS",
    "PAGE_PARAMS",
    "Attachment",
    "BoardParser",
    "DetailPage",
    "LayoutNotDetected",
    "ListPage",
    "Notice",
    "RowError",
    "apply_detail",
    "attachment_url",
    "body_node",
    "body_text",
    "clean_text",
    "current_page",
    "detail_text",
    "detect_table",
    "find_notice_table",
    "frame_source",
    "header_columns",
    "header_field",
    "id_from_link",
    "is_js_link",
    "is_pinned_row",
    "js_page_number",
    "node_text",
    "page_param_name",
    "paging_next",
    "parse_date",
    "parse_views",
    "query_param",
    "snippet",
    "table_selector",
    "with_query",
]
