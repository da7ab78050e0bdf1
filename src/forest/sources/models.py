"""Crawl sources: the boards Forest knows how to crawl."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from forest.database import Base, BigId, JsonType, UtcDateTime, utcnow


class Source(Base):
    """A notice board: where to start, how to parse it, how often to crawl it."""

    __tablename__ = "source"

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
