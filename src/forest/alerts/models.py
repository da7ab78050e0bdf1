"""Alerts: saved searches whose new matches are pushed to their owner."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from forest.database import Base, BigId, JsonType, UtcDateTime, utcnow


class Alert(Base):
    """A saved search over bids with the filters of GET /bids."""

    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    filters: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
