"""Reads of the sockets' events, coalesced: the sockets woken together share one query.

A broadcast wakes every socket at once; reading each one's events in its own session would queue a
thousand short queries on the connection pool. Instead the reads waiting at any moment go out as one
statement (on PostgreSQL, a `LATERAL` index range scan per socket), and reads that arrive while it
runs wait for the next round. One process therefore uses at most one connection for its sockets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import BigInteger, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from forest.crawls.models import JobEvent
from forest.database import Database
from forest.realtime import events

log = logging.getLogger(__name__)
BATCH_LIMIT = 200  # events per socket and read
MAX_READS_PER_ROUND = 1000

_MANY_AFTER = text(
    "SELECT e.* FROM unnest(CAST(:user_ids AS BIGINT[]), CAST(:afters AS BIGINT[])) AS r(user_id, after) "
    "CROSS JOIN LATERAL (SELECT * FROM job_event WHERE job_event.user_id = r.user_id AND job_event.id > r.after "
    "ORDER BY job_event.id LIMIT CAST(:lim AS INTEGER)) AS e"
).bindparams(bindparam("user_ids", type_=ARRAY(BigInteger)), bindparam("afters", type_=ARRAY(BigInteger)))

Read = tuple[int, int]  # (user id, after event id)


class EventReader:
    """Per-process reader of users' events after an id, batching concurrent reads."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: dict[Read, asyncio.Future[list[JobEvent]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def read(self, user_id: int, after: int) -> list[JobEvent]:
        """The user's events with id greater than `after`, oldest first (at most BATCH_LIMIT)."""
        key = (user_id, after)
        future = self._pending.get(key)
        if future is None:
            future = self._pending[key] = asyncio.get_running_loop().create_future()
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._rounds())
        # Shielded: a socket that goes away must not cancel the read other sockets share.
        return await asyncio.shield(future)

    async def _rounds(self) -> None:
        await asyncio.sleep(0)  # let the other sockets woken by the same announcement ask too
        while self._pending:
            keys = list(self._pending)[:MAX_READS_PER_ROUND]
            futures = [self._pending.pop(key) for key in keys]
            try:
                async with self._db.sessionmaker() as session:
                    found = await _read_many(session, keys)
            except Exception as exc:  # each socket decides what to do (it retries shortly)
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # retrieved here, so an abandoned future logs nothing
                continue
            for key, future in zip(keys, futures, strict=True):
                if not future.done():
                    future.set_result(found[key])


async def _read_many(session: AsyncSession, keys: Sequence[Read]) -> dict[Read, list[JobEvent]]:
    assert session.bind is not None
    if session.bind.dialect.name != "postgresql" or len(keys) == 1:
        return {key: list(await events.events_after(session, user_id=key[0], after=key[1], limit=BATCH_LIMIT))
                for key in keys}
    stmt = select(JobEvent).from_statement(_MANY_AFTER)
    rows = (await session.scalars(stmt, {"user_ids": [k[0] for k in keys], "afters": [k[1] for k in keys],
                                         "lim": BATCH_LIMIT})).unique().all()
    by_user: dict[int, list[JobEvent]] = {}
    for event in sorted(rows, key=lambda e: e.id):
        by_user.setdefault(event.user_id, []).append(event)
    return {(user_id, after): [e for e in by_user.get(user_id, ()) if e.id > after][:BATCH_LIMIT]
            for user_id, after in keys}
