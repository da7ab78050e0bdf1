"""Cursors are bound to the list that issued them, and a malformed one (too long included) is a 400."""

from __future__ import annotations

import httpx
import pytest

from forest.database import Database
from tests.bids.factories import make_bids, make_source


async def _first_cursor(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> str:
    r = await client.get(path, params={"limit": 1}, headers=headers)
    assert r.status_code == 200, r.text
    cursor: str = r.json()["next_cursor"]
    assert cursor
    return cursor


async def test_cursor_from_one_list_is_refused_by_another(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    admin = await make_user(admin=True)
    await make_user()
    await make_bids(db, 5)
    await make_source(db, "Board C")
    for _ in range(2):
        r = await client.post("/api/v1/alerts", json={"name": "a"}, headers=admin.headers)
        assert r.status_code == 201
    lists = ["/api/v1/bids?sort=id", "/api/v1/sources?sort=id", "/api/v1/users?sort=id", "/api/v1/alerts?sort=id"]
    cursors = {path: await _first_cursor(client, path, admin.headers) for path in lists}
    for issued_by, cursor in cursors.items():
        for used_on in lists:
            r = await client.get(used_on, params={"cursor": cursor, "limit": 1}, headers=admin.headers)
            if used_on == issued_by:
                assert r.status_code == 200, (issued_by, r.text)
                continue
            assert r.status_code == 400, (issued_by, used_on, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "cursor_mismatch", r.text
            assert "another list" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/bids", "/api/v1/users", "/api/v1/sources", "/api/v1/crawls"])
@pytest.mark.parametrize("length", [2049, 60_000])
async def test_cursor_too_long_is_an_invalid_cursor(
    client: httpx.AsyncClient, make_user, path: str, length: int,  # type: ignore[no-untyped-def]
) -> None:
    admin = await make_user(admin=True)
    r = await client.get(path, params={"cursor": "e" * length}, headers=admin.headers)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_cursor"
