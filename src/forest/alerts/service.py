"""Alerts: the only code that reads or writes the alert table."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from forest.alerts import webhooks
from forest.alerts.models import Alert
from forest.alerts.schemas import AlertCreate
from forest.config import Settings
from forest.crawler.egress import UrlNotAllowed as EgressRefused
from forest.database import utcnow
from forest.errors import NotFound, UrlNotAllowed
from forest.users.models import User


def list_query(*, user: User) -> Select[tuple[Alert]]:
    """The user's alerts."""
    return select(Alert).where(Alert.user_id == user.id)


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
    session.add(alert)
    await session.commit()
    return alert


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
