"""Keyset (seek) pagination with opaque, signed cursors bound to the sort and the filters.

Every list endpoint orders by `(sort column, id)` in one direction and seeks with a row-value
comparison, so an index on `(sort column, id)` serves any page at the same cost as the first.
"""

from forest.pagination.body import Page, link_header, page_body, page_response
from forest.pagination.cursors import CURSOR_VERSION, MAX_CURSOR_LENGTH, CursorSigner, Kind, filter_hash
from forest.pagination.fetch import (
    DriverRun,
    DriverStatement,
    ListSelect,
    Row,
    columns_of,
    count_rows,
    fetch_page,
    page_query,
    page_statement,
    paginate,
    uses_driver,
)
from forest.pagination.plan import (
    API_PREFIX,
    CountInfo,
    CountMode,
    Keyset,
    ListQuery,
    PageParams,
    PagePlan,
    PageResult,
    Segment,
    SortKey,
    finish_page,
    page_params,
    plan_page,
    sign_position,
)

__all__ = [
    "API_PREFIX",
    "CURSOR_VERSION",
    "MAX_CURSOR_LENGTH",
    "CountInfo",
    "CountMode",
    "CursorSigner",
    "DriverRun",
    "DriverStatement",
    "Keyset",
    "Kind",
    "ListQuery",
    "ListSelect",
    "Page",
    "PageParams",
    "PagePlan",
    "PageResult",
    "Row",
    "Segment",
    "SortKey",
    "columns_of",
    "count_rows",
    "fetch_page",
    "filter_hash",
    "finish_page",
    "link_header",
    "page_body",
    "page_params",
    "page_query",
    "page_response",
    "page_statement",
    "paginate",
    "plan_page",
    "sign_position",
    "uses_driver",
]
