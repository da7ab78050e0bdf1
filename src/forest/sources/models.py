"""Crawl sources: the boards Forest knows how to crawl."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forest.database import NEVER_REUSE_IDS, Base, BigId, JsonType, UtcDateTime, utcnow


class Source(Base):
    """A notice board: where to start, how to parse it, how often to crawl it.

    `owner_id` is null for shared sources (created by admins, or by an admin's ad-hoc crawl): everyone sees
    them and their notices. An ad-hoc source of a normal user (`POST /crawls {"url": …}`) is theirs alone:
    only they and admins see it, its notices, and only their (and admins') alerts fire on them.
    `url_key` is set on ad-hoc sources only: the SHA-256 of the normalised URL (see `sources.urls`).
    """

    __tablename__ = "source"
    __table_args__ = (UniqueConstraint("owner_id", "url_key"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    start_url: Mapped[str] = mapped_column(String(2048))
    preset: Mapped[str | None] = mapped_column(String(50))
    selectors: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # How the board is paged and read (forest.crawler.definition); wins over selectors and preset.
    definition: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    encoding: Mapped[str | None] = mapped_column(String(50))
    max_pages: Mapped[int] = mapped_column(Integer, default=50)
    schedule: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Seoul")
    polite: Mapped[bool] = mapped_column(Boolean, default=True)
    delay_seconds: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_crawled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    url_key: Mapped[str | None] = mapped_column(String(64))
