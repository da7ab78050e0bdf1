"""Periodic crawls: a source's cron `schedule`, evaluated in the source's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from croniter import croniter


def next_run(schedule: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The next time a cron expression fires after `after`, as UTC."""
    tz = ZoneInfo(timezone)
    nxt: dt.datetime = croniter(schedule, after.astimezone(tz)).get_next(dt.datetime)
    return nxt.astimezone(dt.UTC)


def is_valid(schedule: str) -> bool:
    """Whether a cron expression parses."""
    return bool(croniter.is_valid(schedule))

