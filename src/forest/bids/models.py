"""Bids: the notices crawled from the boards."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
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
        # Sorts `closes_at` and `amount` (nulls last, see bids/service.py) and their range filters: 0006.
        Index("ix_bid_closes_at_id", "closes_at", "id"),
        Index("ix_bid_amount_id", "amount", "id"),
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
    # A copy of bid.title kept by triggers on `bid` (migration 0006), which also give every bid its row here
    # (empty body until a detail page is read): `q` then reads one table (forest.bids.search).
    title: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Empty when no detail page was read.
    body: Mapped[str] = mapped_column(Text)
    # TenderFacts.to_json(): values and {"field": {"start", "end", "text"}} evidence spans into `body`.
    facts: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class BidRelease(Base):
    """An earlier version of a notice, kept when an edit replaced it: the OCDS release history (`ocds-records`).

    Written by a trigger on `bid` (migration 0010) whenever `content_hash` changes, whoever writes the row, with
    the body and facts `bid_detail` held for that version. The current version is the `bid` row itself.
    """

    __tablename__ = "bid_release"
    __table_args__ = (UniqueConstraint("bid_id", "updated_at", "content_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bid.id", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(String(64))
    # When Forest recorded this version (the release's `date`): the replaced row's `updated_at`.
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(2048))
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    closes_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    category: Mapped[str | None] = mapped_column(String(20))
    contract_method: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    # The facts without their evidence spans (no release shows them).
    facts: Mapped[dict[str, Any]] = mapped_column(JsonType)
