"""Exports and feeds show a user exactly the notices their bid list shows: shared sources and their own
ad-hoc sources, never another user's."""

from __future__ import annotations

import feedparser
import httpx

from forest.database import Database
from forest.sources.models import Source
from tests.bids.factories import make_bids, make_source
from tests.exports.test_exports import URL, read_csv
from tests.feeds.test_feeds import feed_links, make_alert, path


async def owned_source(db: Database, owner_id: int, name: str) -> int:
    """An ad-hoc source belonging to `owner_id`."""
    async with db.sessionmaker() as session:
        source = Source(name=name, start_url=f"https://{name}.example/board", owner_id=owner_id)
        session.add(source)
        await session.commit()
        return source.id


async def test_exports_and_feeds_hold_only_notices_the_user_may_see(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    alice, mallory = await make_user(), await make_user()
    shared = await make_source(db, "Shared board")
    planted = await owned_source(db, mallory.id, "mallory")
    shared_bids = await make_bids(db, 3, source_ids=[shared], title="산림 공고")
    planted_bids = await make_bids(db, 2, source_ids=[planted], title="산림 공고 (planted)")

    def ids(rows: list[dict[str, str]]) -> set[int]:
        return {int(row["id"]) for row in rows}

    alice_rows = read_csv((await client.get(URL, params={"format": "csv"}, headers=alice.headers)).content)
    assert ids(alice_rows) == {b.id for b in shared_bids}
    mallory_rows = read_csv((await client.get(URL, params={"format": "csv"}, headers=mallory.headers)).content)
    assert ids(mallory_rows) == {b.id for b in shared_bids + planted_bids}

    links = await feed_links(client, alice.headers, await make_alert(client, alice.headers, {"q": "산림"}))
    feed = feedparser.parse((await client.get(path(links["atom_url"]))).content)
    titles = {entry.title for entry in feed.entries}
    assert titles and not any("planted" in title for title in titles)
