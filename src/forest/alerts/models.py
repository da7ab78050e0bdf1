"""Alerts: saved searches whose new matches are pushed to their owner, and their webhook deliveries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Connection, ForeignKey, Index, Integer, String, Table, Text, Uuid, event, insert
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from forest.bids.filters import BidFilters
from forest.database import NEVER_REUSE_IDS, Base, BigId, JsonType, UtcDateTime, utcnow

DELIVERY_STATES = ("pending", "succeeded", "failed")


class Alert(Base):
    """A saved search over bids with the filters of GET /bids."""

    __tablename__ = "alert"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    filters: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    # Signs every webhook POST (HMAC-SHA256); shown to the owner so the receiver can verify.
    webhook_secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AlertRoute(Base):
    """The index of alert filters: an alert can only match a bid that one of its routes names.

    An alert with a `source_id` filter is routed by each of its sources, else one with a `department`
    filter by each department, else it has the single route `("any", "")`. Matching a batch of new bids
    reads only the alerts routed by the batch's sources or departments (and the `any` ones), then checks
    the full filters (see `alerts.matching`). Filters never change after an alert is saved.
    """

    __tablename__ = "alert_route"
    __table_args__ = (Index("ix_alert_route_kind_value", "kind", "value"),)

    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)


ANY_ROUTE = ("any", "")


def routes(filters: BidFilters) -> list[tuple[str, str]]:
    """The routes of an alert with these filters: its sources, else its departments, else `any`."""
    if filters.source_id:
        return [("source", str(source_id)) for source_id in sorted(set(filters.source_id))]
    if filters.department:
        return [("department", department) for department in sorted(set(filters.department))]
    return [ANY_ROUTE]


def routes_of(raw_filters: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The routes of an alert's stored filters (filters saved under older rules route like a match-all)."""
    try:
        return routes(BidFilters.model_validate(raw_filters or {}))
    except ValueError:
        return [ANY_ROUTE]


@event.listens_for(Alert, "after_insert")
def _write_routes(_mapper: Mapper[Alert], connection: Connection, alert: Alert) -> None:
    # In the alert's own INSERT transaction, however the alert is created: no caller can forget it.
    table = AlertRoute.__table__
    assert isinstance(table, Table)
    connection.execute(insert(table), [{"alert_id": alert.id, "kind": kind, "value": value}
                                       for kind, value in routes_of(alert.filters)])


class WebhookDelivery(Base):
    """One signed POST of an alert's new matching bids, retried until it succeeds or gives up.

    Written in the transaction that stages the `bid.new` events, so a delivery exists exactly when its
    events do; workers send it after commit. `id` is the delivery id receivers deduplicate on.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_alert_id_created_at", "alert_id", "created_at", "id"),
        Index("ix_webhook_delivery_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    # The exact body of every attempt (JSON text), so retries are byte-identical.
    payload: Mapped[str] = mapped_column(Text)
    bid_count: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error_code: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the next attempt is due; while an attempt runs, the end of its lease.
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
