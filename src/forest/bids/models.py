"""Bids: the notices crawled from the boards."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forest.database import NEVER_REUSE_IDS, Base, BigId, JsonType, UtcDateTime, utcnow


class Bid(Base):
    """One notice of one board, unique by (source_id, external_id)."""

    __tablename__ = "bid"
    # Keyset orders and analytics: see migrations/README.md (revision 0002). The trigram index
    # on title exists on PostgreSQL only and is created by that migration, not here.
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        Index("ix_bid_post_date_id", "post_date", "id"),
        Index("ix_bid_views_id", "views", "id"),
        Index("ix_bid_department_post_date_id", "department", "post_date", "id"),
        Index("ix_bid_source_id_post_date_id", "source_id", "post_date", "id"),
        # `source_id` lets a normal user's analytics (which see only shared and own sources) stay
        # index-only: migrations/README.md, revision 0004.
        Index("ix_bid_post_date_covering", "post_date", postgresql_include=["department", "views", "source_id"]),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    department: Mapped[str] = mapped_column(String(200), default="")
    views: Mapped[int] = mapped_column(Integer, default=0)
    post_date: Mapped[dt.date] = mapped_column(Date)
    url: Mapped[str] = mapped_column(String(2048))
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    # Hash of the fields that make a real edit (not views): decides "updated".
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
