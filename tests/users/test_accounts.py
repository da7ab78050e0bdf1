"""Accounts: ids never reused, token versions (logout everywhere, password change), password strength."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import jwt
import pytest
from fastapi import FastAPI

from forest.app import create_app
from forest.config import Settings
from forest.database import Database
from forest.security import _jwt_key
from forest.users import service as users
from tests.conftest import SECRET

PROBLEM = "application/problem+json"


async def _login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_deleted_user_id_is_never_given_to_a_new_account(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    victim = await make_user()  # the highest id: the one SQLite without AUTOINCREMENT hands out again
    old_headers = await _login(client, victim.email, victim.password)
    assert (await client.get("/api/v1/users/me", headers=old_headers)).status_code == 200

    r = await client.delete(f"/api/v1/users/{victim.id}", headers=admin.headers)
    assert r.status_code == 204, r.text
    r = await client.post("/api/v1/auth/register", json={"email": "newcomer@example.com", "password": "newcomer-pass-77"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] > victim.id

    r = await client.get("/api/v1/users/me", headers=old_headers)
    assert r.status_code == 401, r.text  # not the newcomer's account
    assert r.json()["code"] == "unauthorized"
    assert (await client.delete(f"/api/v1/users/{victim.id}", headers=admin.headers)).status_code == 404


async def test_deleting_a_user_needs_an_admin(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user, other = await make_user(), await make_user()
    r = await client.delete(f"/api/v1/users/{other.id}", headers=user.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


async def test_logout_all_refuses_every_earlier_token_and_ticket(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    account = await make_user()
    first = await _login(client, account.email, account.password)
    second = await _login(client, account.email, account.password)
    ticket = (await client.post("/api/v1/auth/ws-ticket", headers=first)).json()["ticket"]
    assert (await client.get("/api/v1/users/me", headers=second)).status_code == 200  # cached in this process

    r = await client.post("/api/v1/auth/logout-all", headers=first)
    assert r.status_code == 204 and r.content == b""

    for headers in (first, second, account.headers):
        r = await client.get("/api/v1/users/me", headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        assert "revoked" in r.json()["detail"]
    async with db.sessionmaker() as session:
        assert await users.redeem_ws_ticket(session=session, ticket=ticket) is None
    fresh = await _login(client, account.email, account.password)
    assert (await client.get("/api/v1/users/me", headers=fresh)).status_code == 200


async def test_logout_all_reaches_other_api_processes_within_the_cache_ttl(
    client: httpx.AsyncClient, make_user, settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    account = await make_user()
    other_settings = settings.model_copy(update={"auth_cache_seconds": 0.5})
    other: FastAPI = create_app(other_settings)
    async with other.router.lifespan_context(other), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://other") as other_client:
        assert (await other_client.get("/api/v1/users/me", headers=account.headers)).status_code == 200
        assert (await client.post("/api/v1/auth/logout-all", headers=account.headers)).status_code == 204
        assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 401
        await asyncio.sleep(0.6)
        r = await other_client.get("/api/v1/users/me", headers=account.headers)
        assert r.status_code == 401, r.text


async def test_password_change_refuses_earlier_tokens_and_returns_a_new_one(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    account = await make_user()
    url = "/api/v1/users/me/password"
    r = await client.post(url, json={"current_password": "not-it", "new_password": "brand-new-secret-9"},
                          headers=account.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200

    r = await client.post(url, json={"current_password": account.password, "new_password": "aaaaaaaaaaaa"},
                          headers=account.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"

    r = await client.post(url, json={"current_password": account.password, "new_password": "brand-new-secret-9"},
                          headers=account.headers)
    assert r.status_code == 200, r.text
    new_headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 401
    assert (await client.get("/api/v1/users/me", headers=new_headers)).status_code == 200
    wrong = await client.post("/api/v1/auth/token", data={"username": account.email, "password": account.password})
    assert wrong.status_code == 401
    await _login(client, account.email, "brand-new-secret-9")


async def test_token_without_version_counts_as_version_zero(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    account = await make_user()
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(account.id), "typ": "access", "iat": now, "exp": now + dt.timedelta(minutes=5)}
    legacy = {"Authorization": "Bearer " + jwt.encode(claims, _jwt_key(SECRET.encode()), algorithm="HS256")}
    assert (await client.get("/api/v1/users/me", headers=legacy)).status_code == 200
    forged = jwt.encode({**claims, "ver": "0"}, _jwt_key(SECRET.encode()), algorithm="HS256")
    assert (await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"})).status_code == 401
    assert (await client.post("/api/v1/auth/logout-all", headers=legacy)).status_code == 204
    assert (await client.get("/api/v1/users/me", headers=legacy)).status_code == 401


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("aaaaaaaa", "one character repeated"),
        (" " * 8, "one character repeated"),
        ("1" * 128, "one character repeated"),
        ("password1", "common password"),
        ("12345678", "common password"),
        ("qwertyuiop", "common password"),
        ("abcabcabcabc", "Repeats"),
        ("passwordpassword" * 8, "Repeats"),
    ],
    ids=["aaaaaaaa", "spaces", "ones-128", "password1", "12345678", "qwerty", "abcabc", "long-but-repeated"],
)
async def test_weak_passwords_are_refused_with_the_reason(client: httpx.AsyncClient, password: str, reason: str) -> None:
    r = await client.post("/api/v1/auth/register", json={"email": "weak@example.com", "password": password})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_error" and r.headers["content-type"].startswith(PROBLEM)
    assert body["errors"][0]["field"] == "password" and body["errors"][0]["type"] == "weak_password"
    assert "too weak" in body["detail"]
    assert reason.lower() in body["detail"].lower()
    assert (await client.post("/api/v1/auth/token", data={"username": "weak@example.com", "password": password})
            ).status_code == 401  # nothing was created


async def test_password_made_of_the_email_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/register", json={"email": "jangmi.kim@forest.example",
                                                         "password": "jangmi.kim"})
    assert r.status_code == 422, r.text


async def test_password_score_threshold_is_configurable(client: httpx.AsyncClient, app: FastAPI) -> None:
    app.state.settings.password_min_score = 0
    r = await client.post("/api/v1/auth/register", json={"email": "lax@example.com", "password": "password1"})
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/auth/register", json={"email": "lax2@example.com", "password": "zzzzzzzz"})
    assert r.status_code == 422  # one repeated character is refused at any threshold
    app.state.settings.password_min_score = 4
    r = await client.post("/api/v1/auth/register", json={"email": "strict@example.com", "password": "s3cret-pass"})
    assert r.status_code == 422


async def test_password_scoring_runs_off_the_event_loop() -> None:
    """Long passwords take zxcvbn a few hundred ms each: the loop must keep ticking while they are scored."""
    from forest.users.passwords import check_strength

    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - before - 0.005)

    ticking = asyncio.create_task(ticker())
    long_ones = [f"{i}-Zq8v!Lm3#Tr6@Yw1$Kp4%Nb7^Hd0&Gs5*Jx2(Fc9)Vb3=Qe8+" * 3 for i in range(4)]
    started = loop.time()
    await asyncio.gather(*(check_strength(p[:128], email="long@example.com", min_score=2) for p in long_ones))
    scoring = loop.time() - started
    done.set()
    await ticking
    assert max(lags) < scoring / 2, (max(lags), scoring)


async def test_ids_are_never_reused_after_the_newest_rows_are_deleted(db: Database, make_user) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import delete

    from forest.crawls.models import JobEvent
    from forest.users.models import User

    keeper, leaver = await make_user(), await make_user()
    async with db.sessionmaker() as session:
        kept = JobEvent(user_id=keeper.id, type="heartbeat", data={})
        gone = JobEvent(user_id=keeper.id, type="heartbeat", data={})
        session.add_all([kept, gone])
        await session.commit()
        # A client that saw event `gone.id` reconnects with ?after=gone.id: the next event must come after it.
        await session.execute(delete(JobEvent).where(JobEvent.id == gone.id))
        await session.execute(delete(User).where(User.id == leaver.id))
        await session.commit()
        event = JobEvent(user_id=keeper.id, type="heartbeat", data={})
        session.add(event)
        await session.commit()
        assert event.id > gone.id
    newcomer = await make_user()
    assert newcomer.id > leaver.id
