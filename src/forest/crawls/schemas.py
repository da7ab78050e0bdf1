"""Crawl job schemas."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from forest.crawls.models import CrawlJob
from forest.pagination import ListQuery

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class CrawlCreate(BaseModel):
    """Start a crawl of a known source, or of a bare URL."""

    model_config = ConfigDict(extra="forbid")

    source_id: int | None = Field(default=None, ge=1, le=2**62)
    url: str | None = Field(default=None, min_length=8, max_length=2048)
    max_pages: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _one_target(self) -> CrawlCreate:
        if (self.source_id is None) == (self.url is None):
            raise ValueError("give exactly one of source_id or url")
        return self


class Progress(BaseModel):
    """How far a crawl has come."""

    pages_done: int
    pages_total: int | None
    items_seen: int
    items_new: int
    items_updated: int
    errors: int


class CrawlJobRead(BaseModel):
    """A crawl job as clients see it."""

    id: uuid.UUID
    source_id: int | None
    url: str
    state: JobState
    progress: Progress
    attempt: int
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    retry_of: uuid.UUID | None

    @staticmethod
    def json_item(row: Mapping[str, Any]) -> dict[str, Any]:
        """The list item of a row of the job list (progress counters as columns of their own), as this model would
        dump it, in one pass (the list body, `forest.pagination.page_body`); an item already holding `progress`
        keeps it."""
        progress = row.get("progress")
        if progress is None:
            progress = {name: row[name] for name in PROGRESS_FIELDS}
        return {"id": row["id"], "source_id": row["source_id"], "url": row["url"], "state": row["state"],
                "progress": progress, "attempt": row["attempt"], "error": row["error"],
                "created_at": row["created_at"], "started_at": row["started_at"], "finished_at": row["finished_at"],
                "retry_of": row["retry_of"]}

    @classmethod
    def of(cls, job: CrawlJob) -> CrawlJobRead:
        """Build from a row."""
        return cls(id=job.id, source_id=job.source_id, url=job.url, state=job.state,
                   progress=Progress(**progress_of(job)), attempt=job.attempt, error=job.error,
                   created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                   retry_of=job.retry_of)


PROGRESS_FIELDS = tuple(Progress.model_fields)


def progress_of(job: CrawlJob) -> dict[str, Any]:
    """The job's progress object."""
    return {"pages_done": job.pages_done, "pages_total": job.pages_total, "items_seen": job.items_seen,
            "items_new": job.items_new, "items_updated": job.items_updated, "errors": job.errors}


class JobEventRead(BaseModel):
    """One stored event of a job."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str
    seq: int | None
    job_id: uuid.UUID | None
    alert_id: int | None
    data: dict[str, Any]
    at: dt.datetime


class TaskAccepted(BaseModel):
    """Seed-compatible answer of POST /start-crawl."""

    task_id: str


class TaskStatus(BaseModel):
    """Seed-compatible answer of GET /crawl-status/{task_id}, with Celery state names."""

    task_id: str
    state: Literal["PENDING", "STARTED", "PROGRESS", "SUCCESS", "FAILURE", "REVOKED"]
    details: dict[str, Any] | None


class CrawlListQuery(ListQuery):
    """The query string of `GET /crawls`: page parameters plus its filters, validated in one pass."""

    state: list[JobState] = Field(default_factory=list, description="Any of these states.")
    source_id: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(default_factory=list)
