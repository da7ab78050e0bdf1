"""Coalesced socket reads return exactly each socket's events (both backends)."""

from __future__ import annotations

import asyncio
import json
import uuid

from forest import events
from forest.database import Database, utcnow
from forest.realtime.reader import BATCH_LIMIT, EventReader
from forest.users.models import User


async def _user(db: Database) -> int:
    async with db.sessionmaker() as session:
        user = User(email=f"u{uuid.uuid4().hex[:8]}@example.com", password_hash="x", is_admin=False,
                    created_at=utcnow())
        session.add(user)
        await session.commit()
        return user.id


async def _events(db: Database, user_id: int, n: int) -> list[int]:
    async with db.sessionmaker() as session:
        staged = [await events.stage(session, user_id=user_id, type="bid.new", data={"k": k}) for k in range(n)]
        await events.commit(session, events.Publisher(None))
        return [e.id for e in staged]


async def test_concurrent_reads_get_exactly_their_events(database: Database) -> None:
    a, b, c = await _user(database), await _user(database), await _user(database)
    a_ids = await _events(database, a, 3)
    b_ids = await _events(database, b, BATCH_LIMIT + 5)
    more_a = await _events(database, a, 2)
    reader = EventReader(database)
    got = await asyncio.gather(reader.read(a, 0), reader.read(a, a_ids[1]), reader.read(b, 0),
                               reader.read(b, b_ids[-3]), reader.read(c, 0), reader.read(a, 0))
    ids = [[e.id for e in batch] for batch in got]
    assert ids[0] == a_ids + more_a and ids[5] == ids[0]
    assert ids[1] == a_ids[2:] + more_a
    assert ids[2] == b_ids[:BATCH_LIMIT]  # at most one batch per read; the socket reads again
    assert ids[3] == b_ids[-2:]
    assert ids[4] == []
    # Each event arrives as its wire message, the same text for every read that returns it.
    first = json.loads(got[0][0].text)
    assert first["id"] == a_ids[0] and first["type"] == "bid.new" and first["data"] == {"k": 0}
    assert got[0][0].text == got[5][0].text
    assert [json.loads(e.text)["data"]["k"] for e in got[2][:3]] == [0, 1, 2]


async def test_a_reader_that_goes_away_leaves_the_others_their_events(database: Database) -> None:
    a = await _user(database)
    a_ids = await _events(database, a, 2)
    reader = EventReader(database)
    gone = asyncio.create_task(reader.read(a, 0))
    kept = asyncio.create_task(reader.read(a, 0))
    await asyncio.sleep(0)
    gone.cancel()
    assert [e.id for e in await kept] == a_ids
    assert gone.cancelled()
