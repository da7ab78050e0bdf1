"""The attempts one process runs: one heartbeat and one stop check for all of them.

A worker process runs many crawls on one event loop. Rather than a heartbeat task and a cancel poll per
crawl (250 crawls would be 250 queries a second), the process keeps one `RunningJobs`: every
`CANCEL_POLL_SECONDS` it reads the state of all its attempts in one statement and interrupts those that
were cancelled or taken over by a newer attempt, and every `heartbeat_interval` it stamps all of them in
one guarded `UPDATE`. The beat comes from the event loop itself, so a crawl that waits minutes on a
board's politeness delay keeps beating, and a process that dies stops beating for all its crawls at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from forest.config import Settings
from forest.crawls import lifecycle
from forest.crawls.models import CrawlJob
from forest.database import Database

log = logging.getLogger(__name__)
CANCEL_POLL_SECONDS = 1.0
CHUNK = 500  # ids per statement


def heartbeat_interval(settings: Settings) -> float:
    """Seconds between a process's heartbeats: five fit in the timeout, and never more than 5 s apart."""
    return min(5.0, max(1.0, settings.job_heartbeat_timeout_seconds / 5))


@dataclass(eq=False)
class Attempt:
    """One running attempt as the process sees it; `stop` is set when it must end (cancel or superseded)."""

    job_id: uuid.UUID
    attempt: int
    task: asyncio.Task[Any]
    cancelled: bool = False
    superseded: bool = False

    @property
    def stop(self) -> bool:
        """Whether the attempt must end."""
        return self.cancelled or self.superseded


class RunningJobs:
    """The crawl attempts of one process, heart-beaten and watched together."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._attempts: dict[uuid.UUID, Attempt] = {}

    def __len__(self) -> int:
        return len(self._attempts)

    def add(self, job_id: uuid.UUID, attempt: int, task: asyncio.Task[Any]) -> Attempt:
        """Watch a claimed attempt whose crawl runs as `task`."""
        entry = Attempt(job_id, attempt, task)
        self._attempts[job_id] = entry
        return entry

    def remove(self, entry: Attempt) -> None:
        """Stop watching an attempt (it ended)."""
        if self._attempts.get(entry.job_id) is entry:
            del self._attempts[entry.job_id]

    async def beat(self) -> int:
        """Stamp `heartbeat_at` of every attempt still running as ours; the number stamped."""
        stamped = 0
        for chunk in _chunks(list(self._attempts.values())):
            async with self.db.sessionmaker() as session:
                stamped += await lifecycle.beat(session, [(a.job_id, a.attempt) for a in chunk])
        return stamped

    async def check(self) -> None:
        """Interrupt the attempts that were cancelled or taken over by a newer attempt."""
        for chunk in _chunks(list(self._attempts.values())):
            async with self.db.sessionmaker() as session:
                rows = (await session.execute(
                    select(CrawlJob.id, CrawlJob.attempt, CrawlJob.state, CrawlJob.cancel_requested)
                    .where(CrawlJob.id.in_([a.job_id for a in chunk])))).all()
            found = {row.id: row for row in rows}
            for entry in chunk:
                row = found.get(entry.job_id)
                if row is None or row.attempt != entry.attempt or row.state != "running":
                    entry.superseded = True
                elif row.cancel_requested:
                    entry.cancelled = True
                if entry.stop and not entry.task.done():
                    # The crawler checks for a stop between pages; a slow page (many detail fetches) must not
                    # delay a cancel, so the crawl is also interrupted mid-page.
                    entry.task.cancel()

    async def serve(self) -> None:
        """Check every second and beat every `heartbeat_interval` until cancelled; errors are logged, not fatal."""
        beat_every = heartbeat_interval(self.settings)
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + beat_every
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            if not self._attempts:
                continue
            try:
                await self.check()
            except Exception:  # the database is away: the crawls notice on their own writes; keep watching
                log.warning("could not check %d running jobs", len(self._attempts), exc_info=True)
            if loop.time() >= next_beat:
                next_beat = loop.time() + beat_every
                try:
                    await self.beat()
                except Exception:  # same; a few missed beats are within the timeout
                    log.warning("could not heartbeat %d running jobs", len(self._attempts), exc_info=True)


def _chunks(entries: list[Attempt]) -> Iterable[list[Attempt]]:
    for start in range(0, len(entries), CHUNK):
        yield entries[start:start + CHUNK]
