"""Ad-hoc crawls belong to their user: one source per (user, normalised full URL), never another user's job;
sources are listed to the users who may see them; disabled sources and max_pages are an admin's call."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from forest.config import Settings
from forest.crawls.models import CrawlJob
from forest.database import Database, utcnow
from forest.sources.models import Source
from tests.tenancy.conftest import BOARD, LIST


async def _crawl(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, object],
                 key: str | None = None) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return await client.post("/api/v1/crawls", json=body, headers={**headers, **extra})


async def _source(db: Database, **values: object) -> int:
    async with db.sessionmaker() as session:
        source = Source(name=f"board-{uuid.uuid4().hex[:8]}", start_url=LIST, max_pages=3, timezone="Asia/Seoul",
                        polite=True, enabled=True, created_at=utcnow())
        for name, value in values.items():
            setattr(source, name, value)
        session.add(source)
        await session.commit()
        return source.id


async def _job(db: Database, job_id: str) -> CrawlJob:
    async with db.sessionmaker() as session:
        job = await session.get(CrawlJob, uuid.UUID(job_id))
        assert job is not None
        return job


async def test_boards_differing_in_the_query_string_are_two_sources_and_two_jobs(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    alice, bob = await make_user(), await make_user()
    a = await _crawl(client, alice.headers, {"url": f"{LIST}?bbsId=A"})
    b = await _crawl(client, bob.headers, {"url": f"{LIST}?bbsId=B"})
    assert a.status_code == b.status_code == 202, (a.text, b.text)
    assert a.json()["id"] != b.json()["id"]
    assert a.json()["source_id"] != b.json()["source_id"]
    assert b.json()["url"] == f"{LIST}?bbsId=B"
    # Each can read their own job (before, Bob got Alice's job back and then a 404 fetching it).
    r = await client.get(f"/api/v1/crawls/{b.json()['id']}", headers=bob.headers)
    assert r.status_code == 200 and r.json()["url"] == f"{LIST}?bbsId=B"
    # One user, two boards of one path: also two sources.
    c = await _crawl(client, alice.headers, {"url": f"{LIST}?bbsId=C"})
    assert c.status_code == 202 and c.json()["source_id"] not in {a.json()["source_id"], b.json()["source_id"]}


async def test_same_url_by_two_users_gives_each_their_own_source_and_job(
    client: httpx.AsyncClient, make_user,  # type: ignore[no-untyped-def]
) -> None:
    alice, bob = await make_user(), await make_user()
    a = await _crawl(client, alice.headers, {"url": f"{LIST}?bbsId=A&page=1"})
    b = await _crawl(client, bob.headers, {"url": f"{LIST}?bbsId=A&page=1"})
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"] and a.json()["source_id"] != b.json()["source_id"]
    assert (await client.get(f"/api/v1/crawls/{a.json()['id']}", headers=bob.headers)).status_code == 404
    # The same board spelled differently by the same user is the same source, so its active job comes back.
    again = await _crawl(client, alice.headers, {"url": f"HTTP://{BOARD}/kfs/bid/list.do?page=1&bbsId=A#top"})
    assert again.status_code == 202 and again.json()["id"] == a.json()["id"]


async def test_idempotency_key_replay_never_returns_another_users_job(
    client: httpx.AsyncClient, make_user,  # type: ignore[no-untyped-def]
) -> None:
    alice, bob = await make_user(), await make_user()
    body = {"url": f"{LIST}?bbsId=A"}
    a = await _crawl(client, alice.headers, body, key="same-key")
    b = await _crawl(client, bob.headers, body, key="same-key")
    assert a.status_code == b.status_code == 202
    assert b.json()["id"] != a.json()["id"]
    replay = await _crawl(client, bob.headers, body, key="same-key")
    assert replay.status_code == 202 and replay.json()["id"] == b.json()["id"]
    assert (await _crawl(client, alice.headers, body, key="same-key")).json()["id"] == a.json()["id"]


async def test_another_users_active_job_on_a_shared_source_is_a_conflict_not_their_job(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    alice, bob, admin = await make_user(), await make_user(), await make_user(admin=True)
    source_id = await _source(db)
    a = await _crawl(client, alice.headers, {"source_id": source_id})
    assert a.status_code == 202
    b = await _crawl(client, bob.headers, {"source_id": source_id}, key="k")
    assert b.status_code == 409 and b.json()["code"] == "conflict", b.text
    assert a.json()["id"] not in b.text
    # The same request again (same key) is not stuck on the failed first use.
    assert (await _crawl(client, bob.headers, {"source_id": source_id}, key="k")).status_code == 409
    # Alice gets her own job back, an admin (who sees every job) gets it too.
    assert (await _crawl(client, alice.headers, {"source_id": source_id})).json()["id"] == a.json()["id"]
    assert (await _crawl(client, admin.headers, {"source_id": source_id})).json()["id"] == a.json()["id"]


async def test_sources_list_shows_shared_sources_and_only_your_own_adhoc_ones(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    alice, bob, admin = await make_user(), await make_user(), await make_user(admin=True)
    shared = await _source(db)
    a = (await _crawl(client, alice.headers, {"url": f"{LIST}?bbsId=secret-of-alice"})).json()
    b = (await _crawl(client, bob.headers, {"url": f"{LIST}?bbsId=B"})).json()
    by_admin = (await _crawl(client, admin.headers, {"url": f"{LIST}?bbsId=ADMIN"})).json()

    async def listed(headers: dict[str, str]) -> dict[int, dict[str, object]]:
        r = await client.get("/api/v1/sources?limit=100", headers=headers)
        assert r.status_code == 200, r.text
        return {s["id"]: s for s in r.json()["items"]}

    seen_by_alice = await listed(alice.headers)
    assert set(seen_by_alice) == {shared, a["source_id"], by_admin["source_id"]}
    assert seen_by_alice[a["source_id"]]["owner_id"] == alice.id
    assert seen_by_alice[by_admin["source_id"]]["owner_id"] is None  # an admin's ad-hoc source is shared
    assert "secret-of-alice" not in (await client.get("/api/v1/sources?limit=100", headers=bob.headers)).text
    assert set(await listed(admin.headers)) == {shared, a["source_id"], b["source_id"], by_admin["source_id"]}
    r = await client.get(f"/api/v1/sources/{a['source_id']}", headers=bob.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert (await client.get(f"/api/v1/sources/{a['source_id']}", headers=alice.headers)).status_code == 200
    # Nor can Bob crawl Alice's source by its id.
    r = await _crawl(client, bob.headers, {"source_id": a["source_id"]})
    assert r.status_code == 404 and r.json()["code"] == "not_found"


async def test_disabled_source_is_refused_to_users_but_not_to_admins(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user, admin = await make_user(), await make_user(admin=True)
    source_id = await _source(db, enabled=False)
    r = await _crawl(client, user.headers, {"source_id": source_id, "max_pages": 1000})
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "forbidden" and "disabled" in r.json()["detail"]
    async with db.sessionmaker() as session:
        assert (await session.scalars(select(CrawlJob))).all() == []
    assert (await _crawl(client, admin.headers, {"source_id": source_id})).status_code == 202


async def test_max_pages_is_capped_at_the_sources_own_for_users(
    client: httpx.AsyncClient, make_user, db: Database, settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    user, admin = await make_user(), await make_user(admin=True)
    source_id = await _source(db, max_pages=3)
    r = await _crawl(client, user.headers, {"source_id": source_id, "max_pages": 1000})
    assert r.status_code == 202, r.text
    assert (await _job(db, r.json()["id"])).max_pages == 3
    await client.post(f"/api/v1/crawls/{r.json()['id']}/cancel", headers=user.headers)
    r = await _crawl(client, user.headers, {"source_id": source_id, "max_pages": 2})
    assert (await _job(db, r.json()["id"])).max_pages == 2  # asking for fewer is fine
    await client.post(f"/api/v1/crawls/{r.json()['id']}/cancel", headers=user.headers)
    # Admins may go past the source's setting, up to the server's limit.
    r = await _crawl(client, admin.headers, {"source_id": source_id, "max_pages": 1000})
    assert (await _job(db, r.json()["id"])).max_pages == min(1000, settings.crawl_max_pages_limit) == 1000


async def test_seed_alias_start_crawl_keys_by_the_full_url_too(
    client: httpx.AsyncClient, make_user,  # type: ignore[no-untyped-def]
) -> None:
    alice, bob = await make_user(), await make_user()
    a = await client.post("/start-crawl", params={"url": f"{LIST}?bbsId=A"}, headers=alice.headers)
    b = await client.post("/start-crawl", params={"url": f"{LIST}?bbsId=A"}, headers=bob.headers)
    assert a.status_code == b.status_code == 202
    assert a.json()["task_id"] != b.json()["task_id"]
    r = await client.get(f"/crawl-status/{b.json()['task_id']}", headers=bob.headers)
    assert r.status_code == 200 and r.json()["state"] == "PENDING"
