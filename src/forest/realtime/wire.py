"""The wire shape of an event on the WebSocket (API.md, server messages)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Protocol

from forest.database import utcnow

EVENT_TYPES = ("job.queued", "job.started", "job.progress", "job.succeeded", "job.failed", "job.cancelled",
               "bid.new", "bid.updated", "heartbeat")


class EventFields(Protocol):
    """What the wire shape is made of: an `Event`, or a row of the `job_event` table."""

    @property
    def id(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def job_id(self) -> uuid.UUID | None: ...
    @property
    def alert_id(self) -> int | None: ...
    @property
    def seq(self) -> int | None: ...
    @property
    def data(self) -> dict[str, Any] | None: ...
    @property
    def at(self) -> dt.datetime: ...


def serialise(event: EventFields) -> dict[str, Any]:
    """The wire shape of an event."""
    data = dict(event.data or {})
    if event.seq is not None:
        data.setdefault("seq", event.seq)
    return {
        "id": event.id,
        "type": event.type,
        "job_id": str(event.job_id) if event.job_id else None,
        "alert_id": event.alert_id,
        "data": data,
        "at": _rfc3339(event.at),
    }


def wire_text(event: EventFields) -> str:
    """The WebSocket text message of an event: its wire shape as compact JSON (as `send_json` writes it)."""
    return json.dumps(serialise(event), separators=(",", ":"), ensure_ascii=False)


def heartbeat() -> dict[str, Any]:
    """A heartbeat message (never stored)."""
    return {"id": None, "type": "heartbeat", "job_id": None, "alert_id": None, "data": {}, "at": _rfc3339(utcnow())}


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
