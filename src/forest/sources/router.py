"""Source routes: the boards Forest crawls. Anyone signed in reads them; admins change them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from forest.dependencies import API_PREFIX, AdminUser, CurrentUser, Db, DbSession, SettingsDep, Signer
from forest.pagination import Page, page_response
from forest.routing import LeanRoute
from forest.sources import service
from forest.sources.models import Source
from forest.sources.schemas import (
    PresetRead,
    SourceCreate,
    SourceListQuery,
    SourcePreview,
    SourcePreviewIn,
    SourceRead,
    SourceUpdate,
    SourceValidation,
)

router = APIRouter(prefix=API_PREFIX, tags=["sources"], route_class=LeanRoute)
SourceId = Annotated[int, Path(ge=1, le=2**62)]


async def valid_source(source_id: SourceId, session: DbSession, user: CurrentUser) -> Source:
    """The source of the path, or 404 (also for another user's ad-hoc source)."""
    return await service.get_or_raise(session=session, source_id=source_id, user=user)


ValidSource = Annotated[Source, Depends(valid_source)]


@router.get("/sources", response_model=Page[SourceRead])
async def list_sources(user: CurrentUser, query: Annotated[SourceListQuery, Query()], db: Db, signer: Signer,
                       settings: SettingsDep, request: Request) -> Response:
    """Crawl sources, keyset-paginated: the shared ones and your own ad-hoc sources (`owner_id` is yours);
    admins see all. Sorts: `id` (default), `-id`, `name`; filter `enabled`."""
    result = await service.list(db=db, user=user, query=query, signer=signer,
                                count_timeout_ms=settings.count_timeout_ms)
    return page_response(result, request, SourceRead)


@router.get("/sources/presets", response_model=list[PresetRead])
async def list_presets(_user: CurrentUser) -> list[PresetRead]:
    """Built-in board layouts written as source definitions: copy one into `definition` and edit it."""
    return service.presets()


@router.post("/sources/preview", response_model=SourcePreview)
async def preview_source(preview_in: SourcePreviewIn, _admin: AdminUser, settings: SettingsDep) -> SourcePreview:
    """Fetch and read a board's first page as a crawl would, without saving anything (admin).

    Give `start_url` alone and the layout is detected; add `definition` (or `selectors`/`preset`) to see
    what it reads. The answer holds the rows, the rows that could not be read and why (`row_errors`),
    the definition used (the detected one to copy and edit), the request for page 2 (`next_page`) and
    `errors`; `ok` is false when no row could be read. A URL the egress policy refuses is 400
    `url_not_allowed`; a definition with a mistake is 422 naming the key.
    """
    return await service.preview(settings=settings, preview_in=preview_in)


@router.get("/sources/{source_id}", response_model=SourceRead)
async def get_source(source: ValidSource) -> Source:
    """One source: 404 for another user's ad-hoc source."""
    return source


@router.post("/sources", status_code=201, response_model=SourceRead)
async def create_source(source_in: SourceCreate, _admin: AdminUser, session: DbSession, settings: SettingsDep,
                        response: Response) -> Source:
    """Add a source (admin). `start_url` must pass the crawler's egress policy (else 400 `url_not_allowed`);
    `preset`, `selectors`, `schedule` (cron) and `timezone` are checked (422); names are unique (409)."""
    source = await service.create(session=session, settings=settings, source_in=source_in)
    response.headers["Location"] = f"{API_PREFIX}/sources/{source.id}"
    return source


@router.patch("/sources/{source_id}", response_model=SourceRead)
async def update_source(source_id: SourceId, source_in: SourceUpdate, _admin: AdminUser, session: DbSession,
                        settings: SettingsDep) -> Source:
    """Change a source (admin): only the fields sent change, `null` clears an optional one.
    A new `schedule` or `timezone` recomputes `next_run_at`."""
    return await service.update(session=session, settings=settings, source_id=source_id, source_in=source_in)


@router.delete("/sources/{source_id}", status_code=204)
async def delete_source(source_id: SourceId, _admin: AdminUser, session: DbSession) -> Response:
    """Delete a source and its bids (admin). Past crawl jobs stay, without a source."""
    await service.delete(session=session, source_id=source_id)
    return Response(status_code=204)


@router.post("/sources/{source_id}/validate", response_model=SourceValidation)
async def validate_source(_admin: AdminUser, source: ValidSource, settings: SettingsDep) -> SourceValidation:
    """Fetch and parse the source's first list page without storing anything (admin).

    Answers 200 either way: `ok` is false and `errors` says why when the page cannot be fetched or
    its layout cannot be read. `sample` holds the first three notices found.
    """
    return await service.validate(settings=settings, source=source)
