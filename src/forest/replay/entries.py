"""The requests a replay sends: `ReplayEntry`, read from an access log written by `AccessLogMiddleware`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ReplayEntry:
    """One request to replay, ``offset`` seconds after the first request of the log."""

    offset: float
    method: str
    path: str
    query: str = ""
    route: str = ""
    body: Any = None
    follow_pages: int = 0
    label: str = ""

    @property
    def key(self) -> str:
        """Name of the row this request is reported under, e.g. ``GET /api/v1/bids/{bid_id}``."""
        return self.label or f"{self.method} {self.route or self.path}"

    @property
    def url(self) -> str:
        """Path and query, relative to the target."""
        return f"{self.path}?{self.query}" if self.query else self.path


def entries_from_records(records: Iterable[Mapping[str, Any]]) -> list[ReplayEntry]:
    """Turn access-log records into entries ordered by time, offsets relative to the first one."""
    timed = sorted(
        ((_parse_ts(str(record["ts"])), record) for record in records),
        key=lambda pair: pair[0],
    )
    if not timed:
        return []
    first = timed[0][0]
    return [
        ReplayEntry(
            offset=(ts - first).total_seconds(),
            method=str(record.get("method", "GET")).upper(),
            path=str(record["path"]),
            query=str(record.get("query") or ""),
            route=str(record.get("route") or record["path"]),
            body=record.get("body"),
        )
        for ts, record in timed
    ]


def read_log(path: Path) -> list[ReplayEntry]:
    """Read an access log written by ``AccessLogMiddleware``; blank lines are skipped."""
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as log:
        for number, line in enumerate(log, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line: {exc.msg}") from exc
            if not isinstance(record, dict) or "ts" not in record or "path" not in record:
                raise ValueError(f"{path}:{number}: a record needs at least 'ts' and 'path'")
            records.append(record)
    return entries_from_records(records)


def _parse_ts(value: str) -> datetime:
    ts = datetime.fromisoformat(value)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
