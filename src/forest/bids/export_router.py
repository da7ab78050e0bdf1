"""`GET /bids/export`: a whole search as one streamed download."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from forest.bids import export
from forest.bids.export import ExportQuery
from forest.conditional import is_fresh, not_modified, validators
from forest.dependencies import API_PREFIX, CurrentUser

router = APIRouter(prefix=API_PREFIX, tags=["bids"])
# Private: an export is one user's view (and carries no secrets, but may be big); revalidate every time.
CACHE_CONTROL = "private, no-cache"


@router.get("/bids/export", response_class=StreamingResponse, responses={
    200: {"description": "The file, streamed.", "content": {t: {} for t in export.MEDIA_TYPES.values()}},
    304: {"description": "Not modified: the `If-None-Match` ETag (or `If-Modified-Since`) still holds."}})
async def export_bids(user: CurrentUser, query: Annotated[ExportQuery, Query()], request: Request) -> Response:
    """Every notice a `GET /bids` search selects, as one download: `format=csv` (UTF-8 with BOM, RFC 4180,
    for Excel; cells that a spreadsheet would run as a formula start with `'`), `jsonl` (one JSON object per
    line), `ocds` (an OCDS 1.1 release package, one `tender` release per notice) or `ocds-records` (an OCDS 1.1
    record package: per notice every release kept from its edits, oldest first, and the compiled release).

    Same filters, sorts, errors and notices (shared sources and your own) as `GET /bids`. Streamed in
    constant memory. With `max_rows`, the
    response stops after about that many rows and `Link: <…>; rel="next"` (also `Forest-Next-Cursor`)
    resumes after them; a `GET /bids` cursor works as a starting point too. `ETag` and `Last-Modified`
    answer a repeat with `304 Not Modified` while no selected notice changed.
    """
    state = request.app.state
    settings = state.settings
    salt = f"{user.id}:{query.format}?{sorted(request.query_params.multi_items())}"
    prepared = await export.prepare(db=state.db, user=user, query=query, signer=state.signer, salt=salt,
                                    ocds_prefix=settings.ocds_prefix, ocds_publisher=settings.ocds_publisher,
                                    uri=str(request.url))
    last_modified = prepared.fingerprint.last_modified
    if is_fresh(request, prepared.etag, last_modified):
        return not_modified(prepared.etag, last_modified, CACHE_CONTROL)
    filename = prepared.filename()
    headers = {**validators(prepared.etag, last_modified), "Cache-Control": CACHE_CONTROL,
               "Content-Disposition": f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}",
               "X-Content-Type-Options": "nosniff"}
    if prepared.next_cursor is not None:
        items = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        items.append(("cursor", prepared.next_cursor))
        headers["Link"] = f'<{request.url.replace(query=urlencode(items))}>; rel="next"'
        headers["Forest-Next-Cursor"] = prepared.next_cursor
    return StreamingResponse(export.stream(prepared), media_type=export.MEDIA_TYPES[query.format], headers=headers)
