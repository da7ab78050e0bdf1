"""Alert schemas."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from forest.bids.filters import BidFilters


class AlertCreate(BaseModel):
    """A saved search: a name, the filters of GET /bids, and an optional webhook."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    filters: BidFilters = Field(default_factory=BidFilters)
    webhook_url: str | None = Field(default=None, min_length=8, max_length=2048)


class AlertRead(BaseModel):
    """An alert as its owner sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    filters: BidFilters
    webhook_url: str | None
    webhook_secret: str | None = Field(
        default=None, description="Signs every webhook POST (`Forest-Signature`, HMAC-SHA256); null without a webhook.")
    created_at: dt.datetime

    @model_validator(mode="after")
    def _secret_only_with_webhook(self) -> AlertRead:
        if self.webhook_url is None:
            self.webhook_secret = None
        return self

    @staticmethod
    def json_item(row: Mapping[str, Any]) -> dict[str, Any]:
        """The list item of a row, as this model would dump it, without validating the row again (the list body,
        `forest.pagination.page_body`). The stored filters are a validated `BidFilters` dumped without its
        defaults (`service.create`/`update`), so the model's JSON is the defaults updated by them."""
        stored = row["filters"] or {}
        return {"id": row["id"], "name": row["name"],
                "filters": {key: stored.get(key, default) for key, default in _filter_defaults().items()},
                "webhook_url": row["webhook_url"],
                "webhook_secret": None if row["webhook_url"] is None else row["webhook_secret"],
                "created_at": row["created_at"]}


@functools.cache
def _filter_defaults() -> dict[str, Any]:
    return BidFilters().model_dump(mode="json")


class WebhookDeliveryRead(BaseModel):
    """One webhook delivery of an alert: its state and the outcome of its latest attempt."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="The delivery id, sent as `Forest-Delivery` and the body's `id`.")
    state: Literal["pending", "succeeded", "failed"]
    bid_count: int
    attempts: int
    last_status: int | None = Field(description="HTTP status of the latest attempt, if one was answered.")
    last_error_code: str | None = Field(
        description="`url_not_allowed`, `http_status`, `redirect_not_followed`, `too_many_redirects`, "
                    "`timeout` or `network_error`.")
    last_error: str | None
    next_attempt_at: dt.datetime | None = Field(description="When a pending delivery is tried next.")
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @model_validator(mode="after")
    def _next_only_when_pending(self) -> WebhookDeliveryRead:
        if self.state != "pending":
            self.next_attempt_at = None
        return self

    @staticmethod
    def json_item(row: Mapping[str, Any]) -> dict[str, Any]:
        """The list item of a row, as this model would dump it, without validating the row again."""
        item = {name: row[name] for name in WebhookDeliveryRead.model_fields}
        if item["state"] != "pending":
            item["next_attempt_at"] = None
        return item
