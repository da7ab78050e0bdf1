"""Registration, login, tokens and admin-only routes."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import jwt
import pytest

from forest.security import _jwt_key
from tests.conftest import SECRET

PROBLEM = "application/problem+json"


async def test_register_login_me_happy_path(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/register", json={"email": "Alice@Example.com", "password": "s3cret-pass"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == "alice@example.com" and body["is_admin"] is False
    assert "password" not in r.text and "hash" not in r.text
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")

    r = await client.post("/api/v1/auth/token", data={"username": "alice@example.com", "password": "s3cret-pass"})
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token_type"] == "bearer" and tok["expires_in"] > 0

    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert r.status_code == 200 and r.json()["email"] == "alice@example.com"


async def test_register_duplicate_email_is_conflict(client: httpx.AsyncClient) -> None:
    payload = {"email": "bob@example.com", "password": "long-enough"}
    assert (await client.post("/api/v1/auth/register", json=payload)).status_code == 201
    r = await client.post("/api/v1/auth/register", json={**payload, "email": "BOB@example.com"})
    assert r.status_code == 409
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["code"] == "conflict"


@pytest.mark.parametrize("password", ["short", "x" * 129])
async def test_register_weak_or_long_password_is_422(client: httpx.AsyncClient, password: str) -> None:
    r = await client.post("/api/v1/auth/register", json={"email": "c@example.com", "password": password})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_error"
    assert any(e["field"] == "password" for e in body["errors"])


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    wrong = await client.post("/api/v1/auth/token", data={"username": user.email, "password": "not-the-password"})
    unknown = await client.post("/api/v1/auth/token", data={"username": "nobody@example.com", "password": "whatever1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def _token(claims: dict[str, object], key: bytes = SECRET.encode(), alg: str = "HS256") -> str:
    return jwt.encode(claims, _jwt_key(key), algorithm=alg)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer garbage.token.value",
        "Bearer " + _token({"sub": "1", "typ": "access", "iat": 0, "exp": 1}),  # expired
        "Bearer " + jwt.encode({"sub": "1", "typ": "access", "iat": 0, "exp": 9999999999}, key="", algorithm="none"),
        "Bearer " + _token({"sub": "1", "typ": "access", "iat": 0, "exp": 9999999999}, key=b"another-server-key"),
        "Basic dXNlcjpwYXNz",
        "",
    ],
    ids=["garbled", "expired", "alg-none", "foreign-key", "basic", "missing"],
)
async def test_bad_tokens_are_401(client: httpx.AsyncClient, make_user, header: str) -> None:  # type: ignore[no-untyped-def]
    await make_user()  # user 1 exists, so only the token can be at fault
    r = await client.get("/api/v1/users/me", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["code"] == "unauthorized"


async def test_token_still_valid_just_before_expiry(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    now = dt.datetime.now(dt.UTC)
    token = _token({"sub": str(user.id), "typ": "access", "iat": now, "exp": now + dt.timedelta(seconds=30)})
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


async def test_non_admin_cannot_list_users(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    r = await client.get("/api/v1/users", headers=user.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


async def test_ws_ticket_issued_for_user(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    r = await client.post("/api/v1/auth/ws-ticket", headers=user.headers)
    assert r.status_code == 200
    assert 0 < r.json()["expires_in"] <= 60 and len(r.json()["ticket"]) >= 32


async def test_deleted_user_loses_access_within_the_auth_cache_ttl(
    client: httpx.AsyncClient, app, db, make_user,  # type: ignore[no-untyped-def]
) -> None:
    from sqlalchemy import delete

    from forest.users.models import User

    app.state.auth_cache = None  # rebuilt from this TTL on the next request
    app.state.settings.auth_cache_seconds = 0.5
    account = await make_user()
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200
    async with db.sessionmaker() as session, session.begin():
        await session.execute(delete(User).where(User.id == account.id))
    # Still trusted from the cache for at most the TTL, then refused.
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200
    await asyncio.sleep(0.6)
    r = await client.get("/api/v1/users/me", headers=account.headers)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


async def test_demoted_admin_is_refused_at_once_without_the_auth_cache(
    client: httpx.AsyncClient, app, db, make_user,  # type: ignore[no-untyped-def]
) -> None:
    from sqlalchemy import update

    from forest.users.models import User

    app.state.auth_cache = None
    app.state.settings.auth_cache_seconds = 0
    admin = await make_user(admin=True)
    assert (await client.get("/api/v1/users", headers=admin.headers)).status_code == 200
    async with db.sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == admin.id).values(is_admin=False))
    assert (await client.get("/api/v1/users", headers=admin.headers)).status_code == 403


@pytest.mark.parametrize("sub", ["١", "١٢", "²", "１", "99999999999999999999", "9223372036854775808", "01", "0", "-1",
                                 " 1", "1 ", "+1", "1e3", "", "1_0"])
async def test_token_with_a_malformed_sub_is_401(client: httpx.AsyncClient, make_user, sub: str) -> None:  # type: ignore[no-untyped-def]
    """Signed with the server's key (so only the subject is at fault): never a 500, never another user."""
    await make_user()  # user 1 exists: "١" (Arabic-Indic one) must not log in as it
    token = _token({"sub": sub, "typ": "access", "iat": 0, "exp": 9999999999})
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "unauthorized"


async def test_token_with_the_largest_user_id_is_a_plain_401(client: httpx.AsyncClient) -> None:
    token = _token({"sub": str(2**63 - 1), "typ": "access", "iat": 0, "exp": 9999999999})
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
