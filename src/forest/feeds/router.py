"""Feed routes: the public, token-addressed `/feeds/{token}.atom|.ics`, and the owner's link management."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from forest.conditional import is_fresh, not_modified, validators
from forest.dependencies import API_PREFIX, CurrentUser, DbSession
from forest.feeds import service
from forest.feeds.models import AlertFeed

router = APIRouter(tags=["feeds"])
AlertId = Annotated[int, Path(ge=1, le=2**62)]
Token = Annotated[str, Path(max_length=200)]
# Feed readers may keep a copy but must ask again each time (a 304 is cheap); nothing shared caches it.
CACHE_CONTROL = "private, no-cache"
# A feed URL is a credential: keep it out of Referer headers sent from the document.
_PRIVATE = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


class FeedRead(BaseModel):
    """An alert's secret feed links. Anyone with a link can read the feed: treat it like a password."""

    atom_url: str = Field(description="Atom 1.0 feed of the newest matching notices, for feed readers.")
    ics_url: str = Field(description="iCalendar of the deadlines of open matching notices.")
    webcal_url: str = Field(description="The calendar as a `webcal://` link: calendar apps subscribe to it.")
    created_at: dt.datetime


def _read(request: Request, feed: AlertFeed) -> FeedRead:
    token = service.token_for(request.app.state.settings.signing_keys(), feed.token_id)
    base = str(request.base_url)
    ics_url = f"{base}feeds/{token}.ics"
    webcal = "webcal://" + ics_url.split("://", 1)[1]
    return FeedRead(atom_url=f"{base}feeds/{token}.atom", ics_url=ics_url, webcal_url=webcal,
                    created_at=feed.created_at)


@router.get(f"{API_PREFIX}/alerts/{{alert_id}}/feed", response_model=FeedRead)
async def get_feed(alert_id: AlertId, user: CurrentUser, session: DbSession, request: Request) -> FeedRead:
    """The secret feed links of one of your alerts (404 until you create them with POST)."""
    return _read(request, await service.get(session=session, user=user, alert_id=alert_id))


@router.put(f"{API_PREFIX}/alerts/{{alert_id}}/feed", response_model=FeedRead)
async def ensure_feed(alert_id: AlertId, user: CurrentUser, session: DbSession, request: Request) -> FeedRead:
    """The alert's feed links, created if it has none yet; existing links stay as they are (idempotent)."""
    return _read(request, await service.ensure(session=session, user=user, alert_id=alert_id))


@router.post(f"{API_PREFIX}/alerts/{{alert_id}}/feed", response_model=FeedRead, status_code=201)
async def rotate_feed(alert_id: AlertId, user: CurrentUser, session: DbSession, request: Request) -> FeedRead:
    """Create the alert's feed links, or replace them: the previous links answer 404 from now on."""
    return _read(request, await service.rotate(session=session, user=user, alert_id=alert_id))


@router.delete(f"{API_PREFIX}/alerts/{{alert_id}}/feed", status_code=204)
async def revoke_feed(alert_id: AlertId, user: CurrentUser, session: DbSession) -> Response:
    """Revoke the alert's feed links: they answer 404 from now on, on every API process."""
    await service.revoke(session=session, user=user, alert_id=alert_id)
    return Response(status_code=204)


def _document(request: Request, body: bytes, media_type: str, rows: list[dict[str, Any]]) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    last_modified = max((row["updated_at"] for row in rows), default=None)
    if is_fresh(request, etag, last_modified):
        return not_modified(etag, last_modified, CACHE_CONTROL)
    headers = {**validators(etag, last_modified), "Cache-Control": CACHE_CONTROL, **_PRIVATE}
    return Response(body, media_type=media_type, headers=headers)


@router.get("/feeds/{token}.atom", responses={304: {"description": "Not modified."}})
async def atom_feed(token: Token, session: DbSession, request: Request) -> Response:
    """The newest notices matching an alert, as Atom 1.0. No bearer token: the link is the credential."""
    state = request.app.state
    subscription = await service.resolve(session=session, keys=state.settings.signing_keys(), token=token)
    await session.close()  # the rows are read on their own connection; do not hold this one meanwhile
    rows = await service.newest(db=state.db, signer=state.signer, subscription=subscription,
                                limit=state.settings.feed_max_items)
    body = service.atom(alert=subscription.alert, rows=rows, self_url=str(request.url),
                        base_url=str(request.base_url), publisher=state.settings.ocds_publisher)
    return _document(request, body, "application/atom+xml; charset=utf-8", rows)


@router.get("/feeds/{token}.ics", responses={304: {"description": "Not modified."}})
async def ics_feed(token: Token, session: DbSession, request: Request) -> Response:
    """The deadlines of the open notices matching an alert, as iCalendar (subscribe with `webcal://`)."""
    state = request.app.state
    subscription = await service.resolve(session=session, keys=state.settings.signing_keys(), token=token)
    await session.close()
    rows = await service.closing(db=state.db, signer=state.signer, subscription=subscription,
                                 limit=state.settings.feed_max_items)
    body = service.ics(alert=subscription.alert, rows=rows, host=request.url.hostname or "forest")
    return _document(request, body, "text/calendar; charset=utf-8", rows)
