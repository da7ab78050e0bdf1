"""The secret feed link of an alert."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from forest.database import Base, UtcDateTime, utcnow


class AlertFeed(Base):
    """An alert's feed link: its public half `token_id`; the token is `token_id` + an HMAC of it under the
    server's secret key (forest.feeds.service), so this table alone cannot make a working link."""

    __tablename__ = "alert_feed"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), primary_key=True,
                                          autoincrement=False)
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
