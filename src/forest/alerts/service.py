"""Alerts: the only code that reads or writes the alert table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from forest import quotas
from forest.alerts import webhooks
from forest.alerts.models import Alert, WebhookDelivery
from forest.alerts.schemas import AlertCreate, AlertRead
from forest.config import Settings
from forest.crawler.egress import UrlNotAllowed as EgressRefused
from forest.database import Database, utcnow
from forest.errors import Conflict, NotFound, UrlNotAllowed
from forest.pagination import (
    API_PREFIX,
    CursorSigner,
    Keyset,
    ListQuery,
    ListSelect,
    PageResult,
    SortKey,
    columns_of,
    paginate,
)
from forest.users.models import User

ALERT_KEYSET = Keyset(endpoint=f"{API_PREFIX}/alerts", id_column=Alert.id, id_kind="int",
                      sorts={"id": SortKey(Alert.id, "int")}, default="-id")
DELIVERY_KEYSET = Keyset(endpoint=f"{API_PREFIX}/alerts/{{alert_id}}/deliveries",
                         id_column=WebhookDelivery.id, id_kind="uuid",
                         sorts={"created_at": SortKey(WebhookDelivery.created_at, "datetime")}, default="-created_at")


def _list_select() -> Select[Any]:
    return select(*columns_of(Alert, AlertRead)).where(Alert.user_id == bindparam("viewer", type_=BigInteger))


def list_query(*, user: User) -> ListSelect:
    """The user's alerts: the columns `AlertRead` shows."""
    return ListSelect(_list_select, values={"viewer": user.id})


async def list(*, db: Database, user: User, query: ListQuery, signer: CursorSigner,
               count_timeout_ms: int = 250) -> PageResult[Any]:
    """One keyset page of the user's alerts, newest first."""
    return await paginate(db, list_query(user=user), keyset=ALERT_KEYSET, params=query.page_params(),
                          filters={"user": user.id}, signer=signer, count_timeout_ms=count_timeout_ms)


async def list_deliveries(*, db: Database, user: User, alert_id: int, query: ListQuery, signer: CursorSigner,
                          count_timeout_ms: int = 250) -> PageResult[Any]:
    """One keyset page of the webhook deliveries of one of the user's alerts (NotFound for anyone else's)."""
    async with db.sessionmaker() as session:
        await get_owned(session=session, user=user, alert_id=alert_id)
    return await paginate(db, webhooks.list_query(alert_id=alert_id), keyset=DELIVERY_KEYSET,
                          params=query.page_params(), filters={"alert": alert_id}, signer=signer,
                          count_timeout_ms=count_timeout_ms)


async def create(*, session: AsyncSession, settings: Settings, user: User, alert_in: AlertCreate) -> Alert:
    """Save an alert; its webhook must pass the egress policy."""
    if alert_in.webhook_url is not None:
        try:
            await webhooks.egress_policy(settings).check_url(alert_in.webhook_url)
        except EgressRefused as exc:
            raise UrlNotAllowed(f"This webhook URL may not be called: {exc.reason}.") from exc
    alert = Alert(user_id=user.id, name=alert_in.name,
                  filters=alert_in.filters.model_dump(mode="json", exclude_defaults=True),
                  webhook_url=alert_in.webhook_url, webhook_secret=webhooks.new_secret(), created_at=utcnow())
    try:
        if not user.is_admin:
            await quotas.lock_user(session, user.id)
        session.add(alert)  # its routes (`AlertRoute`) are written with it
        await session.flush()
        if not user.is_admin:
            await _enforce_quotas(session, settings, user, with_webhook=alert_in.webhook_url is not None)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return alert


async def _enforce_quotas(session: AsyncSession, settings: Settings, user: User, *, with_webhook: bool) -> None:
    # A stored count: waiting does not help, deleting does. So 409 `conflict`, not 429 with a Retry-After.
    owned = select(Alert.id).where(Alert.user_id == user.id)
    await quotas.enforce(session, counted=owned, limit=settings.quota_alerts, error=Conflict(
        f"You already have {settings.quota_alerts} alerts, the most one account may keep; delete one first."))
    if with_webhook:
        limit = settings.quota_webhook_alerts
        await quotas.enforce(session, counted=owned.where(Alert.webhook_url.is_not(None)), limit=limit,
                             error=Conflict(f"You already have {limit} alerts with a webhook, the most one account "
                                            "may keep; delete one or save this alert without `webhook_url`."))


async def get_owned(*, session: AsyncSession, user: User, alert_id: int) -> Alert:
    """One of the user's alerts, or NotFound."""
    alert = await session.get(Alert, alert_id)
    if alert is None or alert.user_id != user.id:
        raise NotFound("No such alert.")
    return alert


async def delete(*, session: AsyncSession, user: User, alert_id: int) -> None:
    """Delete one of the user's alerts."""
    alert = await get_owned(session=session, user=user, alert_id=alert_id)
    await session.delete(alert)
    await session.commit()
