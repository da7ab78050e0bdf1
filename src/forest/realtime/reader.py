"""Reads of the sockets' events, coalesced: the sockets woken together share one query.

A broadcast wakes every socket at once; reading each one's events in its own session would queue a
thousand short queries on the connection pool. Instead the reads waiting at any moment go out as one
statement (on PostgreSQL, a `LATERAL` index range scan per socket), and reads that arrive while it
runs wait for the next round. One process therefore uses at most one connection for its sockets.

Events are read as plain rows and each is turned into its wire text once per round, however many
sockets send it: the sockets only write the text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import BigInteger, Row, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from forest.backends import backend_of
from forest.database import Database
from forest.events import Event
from forest.realtime import wire

log = logging.getLogger(__name__)
BATCH_LIMIT = 200  # events per socket and read
MAX_READS_PER_ROUND = 1000

_COLUMNS = tuple(Event.__table__.columns)
_MANY_AFTER = text(
    "SELECT e.* FROM unnest(CAST(:user_ids AS BIGINT[]), CAST(:afters AS BIGINT[])) AS r(user_id, after) "
    "CROSS JOIN LATERAL (SELECT * FROM job_event WHERE job_event.user_id = r.user_id AND job_event.id > r.after "
    "ORDER BY job_event.id LIMIT CAST(:lim AS INTEGER)) AS e"
).bindparams(bindparam("user_ids", type_=ARRAY(BigInteger)),
             bindparam("afters", type_=ARRAY(BigInteger))).columns(*_COLUMNS)

Read = tuple[int, int]  # (user id, after event id)


class Outgoing(NamedTuple):
    """One event ready to send: its id and its wire text (JSON)."""

    id: int
    text: str


class EventReader:
    """Per-process reader of users' events after an id, batching concurrent reads."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[Read, asyncio.Future[list[Outgoing]]]] = []
        self._task: asyncio.Task[None] | None = None

    async def read(self, user_id: int, after: int) -> list[Outgoing]:
        """The user's events with id greater than `after`, oldest first (at most BATCH_LIMIT)."""
        # A future per caller (sockets of one user share the query, not the future): a socket that goes
        # away cancels only its own wait.
        future: asyncio.Future[list[Outgoing]] = asyncio.get_running_loop().create_future()
        self._pending.append(((user_id, after), future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._rounds())
        return await future

    async def _rounds(self) -> None:
        await asyncio.sleep(0)  # let the other sockets woken by the same announcement ask too
        while self._pending:
            taken, self._pending = self._pending[:MAX_READS_PER_ROUND], self._pending[MAX_READS_PER_ROUND:]
            waiting = [(key, future) for key, future in taken if not future.done()]
            if not waiting:
                continue
            try:
                async with self._db.sessionmaker() as session:
                    found = await _read_many(session, list(dict.fromkeys(key for key, _ in waiting)))
            except Exception as exc:  # each socket decides what to do (it retries shortly)
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # retrieved here, so an abandoned future logs nothing
                continue
            for key, future in waiting:
                if not future.done():
                    future.set_result(found[key])


async def _read_many(session: AsyncSession, keys: Sequence[Read]) -> dict[Read, list[Outgoing]]:
    rows: list[Row[tuple[object, ...]]] = []
    if not backend_of(session).array_batches or len(keys) == 1:
        for user_id, after in keys:
            stmt = (select(*_COLUMNS).where(Event.user_id == user_id, Event.id > after)
                    .order_by(Event.id).limit(BATCH_LIMIT))
            rows += (await session.execute(stmt)).all()
    else:
        rows += (await session.execute(_MANY_AFTER, {"user_ids": [k[0] for k in keys],
                                                     "afters": [k[1] for k in keys], "lim": BATCH_LIMIT})).all()
    by_user: dict[int, list[Outgoing]] = {}
    seen: set[int] = set()
    for row in sorted(rows, key=lambda r: r.id):
        if row.id not in seen:  # several reads of one user return the same events
            seen.add(row.id)
            by_user.setdefault(row.user_id, []).append(Outgoing(row.id, wire.wire_text(row)))
    return {(user_id, after): [e for e in by_user.get(user_id, ()) if e.id > after][:BATCH_LIMIT]
            for user_id, after in keys}
