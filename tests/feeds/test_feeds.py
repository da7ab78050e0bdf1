"""Alert feeds: Atom read back with feedparser, iCalendar with icalendar's parser, on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt

import feedparser
import httpx
from fastapi import FastAPI
from icalendar import Calendar
from sqlalchemy import update

from forest.bids.models import Bid
from forest.database import Database
from tests.bids.factories import make_bids


async def make_alert(client: httpx.AsyncClient, headers: dict[str, str], filters: dict[str, object]) -> int:
    """An alert of the user with these filters."""
    response = await client.post("/api/v1/alerts", json={"name": "숲 공고", "filters": filters}, headers=headers)
    assert response.status_code == 201, response.text
    alert_id: int = response.json()["id"]
    return alert_id


async def feed_links(client: httpx.AsyncClient, headers: dict[str, str], alert_id: int) -> dict[str, str]:
    """Create (or rotate) the alert's feed links."""
    response = await client.post(f"/api/v1/alerts/{alert_id}/feed", headers=headers)
    assert response.status_code == 201, response.text
    links: dict[str, str] = response.json()
    return links


def path(url: str) -> str:
    return url.removeprefix("http://testserver")


async def test_atom_feed_validates_and_holds_the_alerts_newest_matches(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    bids = await make_bids(db, 30)
    alert_id = await make_alert(client, user.headers, {"department": ["산불방지과"]})
    links = await feed_links(client, user.headers, alert_id)
    assert links["atom_url"].startswith("http://testserver/feeds/") and links["atom_url"].endswith(".atom")

    response = await client.get(path(links["atom_url"]))  # no bearer token: the link is the credential

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id and feed.feed.updated and feed.feed.title == "Forest: 숲 공고"
    assert any(link.rel == "self" and link.href == links["atom_url"] for link in feed.feed.links)
    matching = [b for b in bids if b.department == "산불방지과"]
    newest = sorted(matching, key=lambda b: (b.post_date, b.id), reverse=True)
    assert [entry.title for entry in feed.entries] == [b.title for b in newest]
    for entry, bid in zip(feed.entries, newest, strict=True):
        assert entry.id == f"http://testserver/api/v1/bids/{bid.id}"
        assert entry.link.startswith("https://board.example.kr/n/")
        assert entry.updated_parsed and entry.published_parsed


async def test_ics_feed_has_one_event_per_open_deadline_with_link_and_reminder(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    bids = await make_bids(db, 40)
    alert_id = await make_alert(client, user.headers, {"category": ["works", "goods"]})
    links = await feed_links(client, user.headers, alert_id)
    assert links["webcal_url"] == "webcal://" + links["ics_url"].removeprefix("http://")

    response = await client.get(path(links["ics_url"]))

    assert response.status_code == 200 and response.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    now = dt.datetime.now(dt.UTC)
    expected = sorted((b for b in bids if b.category in ("works", "goods") and b.closes_at is not None
                       and b.closes_at > now), key=lambda b: (b.closes_at, b.id))
    assert expected and len(events) == len(expected)
    for event, bid in zip(events, expected, strict=True):
        assert event.decoded("dtstart") == bid.closes_at
        assert str(event["summary"]) == f"Closes: {bid.title}"
        assert str(event["url"]).startswith("https://board.example.kr/n/")
        assert str(event["uid"]) == f"bid-{bid.id}@testserver"
        alarms = list(event.walk("VALARM"))
        assert len(alarms) == 1 and alarms[0].decoded("trigger") == -dt.timedelta(hours=24)


async def test_feeds_answer_304_on_repeat_and_200_after_an_edit(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    bids = await make_bids(db, 10)
    links = await feed_links(client, user.headers, await make_alert(client, user.headers, {}))
    for kind in ("atom_url", "ics_url"):
        first = await client.get(path(links[kind]))
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert (await client.get(path(links[kind]), headers={"If-None-Match": etag})).status_code == 304
        assert (await client.get(path(links[kind]), headers={"If-Modified-Since": modified})).status_code == 304
    async with db.sessionmaker() as session:
        await session.execute(update(Bid).where(Bid.id == bids[1].id).values(
            title="정정 공고", updated_at=dt.datetime.now(dt.UTC)))
        await session.commit()
    after = await client.get(path(links["atom_url"]), headers={"If-None-Match": etag})
    assert after.status_code == 200 and "정정 공고" in after.text


async def test_revoked_or_rotated_feed_link_is_404_at_once(
    client: httpx.AsyncClient, make_user, db: Database, app: FastAPI,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    await make_bids(db, 3)
    alert_id = await make_alert(client, user.headers, {})
    old = await feed_links(client, user.headers, alert_id)
    assert (await client.get(path(old["atom_url"]))).status_code == 200

    new = await feed_links(client, user.headers, alert_id)  # rotate
    assert new["atom_url"] != old["atom_url"]
    assert (await client.get(path(old["atom_url"]))).status_code == 404
    assert (await client.get(path(old["ics_url"]))).status_code == 404
    assert (await client.get(path(new["ics_url"]))).status_code == 200
    assert (await client.get(f"/api/v1/alerts/{alert_id}/feed", headers=user.headers)).json() == new
    ensured = await client.put(f"/api/v1/alerts/{alert_id}/feed", headers=user.headers)  # idempotent: no rotation
    assert ensured.status_code == 200 and ensured.json() == new

    # A second API process on the same database sees the revocation on its very next request.
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    assert (await client.delete(f"/api/v1/alerts/{alert_id}/feed", headers=user.headers)).status_code == 204
    revoked = await other.get(path(new["atom_url"]))
    assert revoked.status_code == 404 and revoked.json()["code"] == "not_found"
    assert (await client.get(f"/api/v1/alerts/{alert_id}/feed", headers=user.headers)).status_code == 404

    # Forged and malformed tokens are 404 too, never a 500.
    token = new["atom_url"].rsplit("/", 1)[1].removesuffix(".atom")
    for bad in (token[:-1] + ("0" if token[-1] != "0" else "1"), "x" * 56, "short"):
        assert (await client.get(f"/feeds/{bad}.atom")).status_code == 404
    # A NUL in any path parameter is refused at the edge (docs/security.md, "Input validation").
    assert (await client.get("/feeds/%00.atom")).json()["code"] == "validation_error"


async def test_feed_links_are_the_owners_only(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    owner, other = await make_user(), await make_user()
    await make_bids(db, 20)
    owners_alert = await make_alert(client, owner.headers, {"department": ["산림경영과"]})
    others_alert = await make_alert(client, other.headers, {"department": ["목재산업과"]})
    for method in ("get", "put", "post", "delete"):
        response = await client.request(method, f"/api/v1/alerts/{owners_alert}/feed", headers=other.headers)
        assert response.status_code == 404, method
    assert (await client.post(f"/api/v1/alerts/{owners_alert}/feed")).status_code == 401

    owners = feedparser.parse((await client.get(path(
        (await feed_links(client, owner.headers, owners_alert))["atom_url"]))).content)
    others = feedparser.parse((await client.get(path(
        (await feed_links(client, other.headers, others_alert))["atom_url"]))).content)
    assert owners.entries and others.entries
    # Each feed holds its own alert's notices only.
    owner_ids = {e.id for e in owners.entries}
    assert not owner_ids & {e.id for e in others.entries}
