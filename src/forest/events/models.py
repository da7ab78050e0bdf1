"""The durable event: one row of `job_event` per thing a user is told (a job's state or progress, a new bid)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from forest.database import NEVER_REUSE_IDS, Base, BigId, JsonType, UtcDateTime, utcnow


class Event(Base):
    """A durable event for one user (job state, progress, new bid), replayable by id."""

    __tablename__ = "job_event"
    __table_args__ = (
        Index("ix_job_event_user_id_id", "user_id", "id"),
        Index("ix_job_event_job_id_id", "job_id", "id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("crawl_job.id", ondelete="CASCADE"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
