"""The admin user list: keyset pages by id, signed cursors, Link headers."""

from __future__ import annotations

import httpx

from forest.database import Database, utcnow
from forest.security import hash_password
from forest.users.models import User


async def _bulk_users(db: Database, n: int) -> None:
    pw = hash_password("bulk-password")  # one slow hash shared by all rows
    async with db.sessionmaker() as session:
        session.add_all(User(email=f"bulk{i:04d}@example.com", password_hash=pw, created_at=utcnow()) for i in range(n))
        await session.commit()


async def test_admin_pages_through_250_users_each_exactly_once(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    await _bulk_users(db, 249)
    seen: list[int] = []
    url: str | None = "/api/v1/users?limit=20"
    pages = 0
    while url:
        r = await client.get(url, headers=admin.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= 20
        seen += [u["id"] for u in body["items"]]
        pages += 1
        if body["has_more"]:
            assert body["next_cursor"]
            assert 'rel="next"' in r.headers["link"]
            url = f"/api/v1/users?limit=20&cursor={body['next_cursor']}"
        else:
            assert body["next_cursor"] is None
            url = None
    assert pages == 13
    assert len(seen) == 250 and len(set(seen)) == 250
    assert seen == sorted(seen)
    assert "count" not in body


async def test_users_count_exact(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    await _bulk_users(db, 4)
    r = await client.get("/api/v1/users?count=exact", headers=admin.headers)
    assert r.json()["count"] == {"value": 5, "exact": True}


async def test_users_tampered_cursor_is_invalid(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    await _bulk_users(db, 5)
    first = (await client.get("/api/v1/users?limit=2", headers=admin.headers)).json()
    cursor = first["next_cursor"]
    body, sig = cursor.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (flipped + "." + sig, "not-a-cursor", cursor + "x", "a.b.c"):
        r = await client.get(f"/api/v1/users?cursor={bad}", headers=admin.headers)
        assert r.status_code == 400, bad
        assert r.json()["code"] == "invalid_cursor"


async def test_users_list_limits_validated(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    for bad in ("0", "101", "abc"):
        r = await client.get(f"/api/v1/users?limit={bad}", headers=admin.headers)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", bad
    r = await client.get("/api/v1/users?limt=5", headers=admin.headers)
    assert r.status_code == 400 and r.json()["code"] == "unknown_parameter"
