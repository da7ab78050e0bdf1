"""Alert routes: saved searches whose new matches are pushed to their owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from forest.alerts import service
from forest.alerts.models import Alert
from forest.alerts.schemas import AlertCreate, AlertRead, WebhookDeliveryRead
from forest.dependencies import API_PREFIX, CurrentUser, Db, DbSession, SettingsDep, Signer
from forest.pagination import ListQuery, Page, page_response
from forest.routing import LeanRoute

router = APIRouter(prefix=API_PREFIX, tags=["alerts"], route_class=LeanRoute)
AlertId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/alerts", response_model=Page[AlertRead])
async def list_alerts(user: CurrentUser, query: Annotated[ListQuery, Query()], db: Db, signer: Signer,
                      settings: SettingsDep, request: Request) -> Response:
    """Your alerts, newest first."""
    result = await service.list(db=db, user=user, query=query, signer=signer,
                                count_timeout_ms=settings.count_timeout_ms)
    return page_response(result, request, AlertRead)


@router.post("/alerts", status_code=201, response_model=AlertRead)
async def create_alert(alert_in: AlertCreate, user: CurrentUser, session: DbSession, settings: SettingsDep) -> Alert:
    """Save a search. New bids matching its `filters` arrive as `bid.new` events on your WebSocket and,
    with a `webhook_url`, as signed POSTs (verify them with the alert's `webhook_secret`)."""
    return await service.create(session=session, settings=settings, user=user, alert_in=alert_in)


@router.get("/alerts/{alert_id}", response_model=AlertRead)
async def get_alert(alert_id: AlertId, user: CurrentUser, session: DbSession) -> Alert:
    """One of your alerts."""
    return await service.get_owned(session=session, user=user, alert_id=alert_id)


@router.delete("/alerts/{alert_id}", status_code=204)
async def delete_alert(alert_id: AlertId, user: CurrentUser, session: DbSession) -> Response:
    """Delete one of your alerts."""
    await service.delete(session=session, user=user, alert_id=alert_id)
    return Response(status_code=204)


@router.get("/alerts/{alert_id}/deliveries", response_model=Page[WebhookDeliveryRead])
async def list_deliveries(alert_id: AlertId, user: CurrentUser, query: Annotated[ListQuery, Query()], db: Db,
                          signer: Signer, settings: SettingsDep, request: Request) -> Response:
    """The alert's webhook deliveries, newest first: state, attempts and the latest error of each."""
    result = await service.list_deliveries(db=db, user=user, alert_id=alert_id, query=query, signer=signer,
                                           count_timeout_ms=settings.count_timeout_ms)
    return page_response(result, request, WebhookDeliveryRead)
