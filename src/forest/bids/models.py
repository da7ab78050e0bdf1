"""Bids: the notices crawled from the boards."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forest.database import Base, BigId, JsonType, UtcDateTime, utcnow


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
        Index("ix_bid_post_date_covering", "post_date", postgresql_include=["department", "views"]),
        # Sorts `closes_at` and `amount` (nulls last, see bids/service.py) and their range filters: 0006.
        Index("ix_bid_closes_at_id", "closes_at", "id"),
        Index("ix_bid_amount_id", "amount", "id"),
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
    # The tender facts a list shows, filters and sorts on (forest.crawler.facts); the body and every fact
    # with its evidence live in `bid_detail`, so list pages read no text they do not show.
    closes_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    opens_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(20, 2), default=None)
    amount_kind: Mapped[str | None] = mapped_column(String(20), default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    category: Mapped[str | None] = mapped_column(String(20), default=None)
    contract_method: Mapped[str | None] = mapped_column(String(40), default=None)


class BidDetail(Base):
    """What a notice's detail page says: its body as clean text and the facts found in it, with evidence."""

    __tablename__ = "bid_detail"

    bid_id: Mapped[int] = mapped_column(ForeignKey("bid.id", ondelete="CASCADE"), primary_key=True,
                                        autoincrement=False)
    body: Mapped[str] = mapped_column(Text)
    # TenderFacts.to_json(): values and {"field": {"start", "end", "text"}} evidence spans into `body`.
    facts: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
