"""Per-user quotas: active crawls (429), alerts and webhook alerts (409), open WebSockets (close 1013)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from forest.app import create_app
from forest.config import Settings
from forest.database import Database
from forest.security import create_access_token
from forest.users import service as users
from tests.conftest import REDIS_URL, Account, make_settings

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Small quotas; 127.0.0.1:9 may be crawled and called (it never answers: nothing runs here). The `app` and
    `client` fixtures of tests/conftest.py run on these."""
    return make_settings(database_url, tmp_path, crawl_allow_hosts=["127.0.0.1:9"], webhook_allow_hosts=["127.0.0.1:9"],
                         quota_active_crawls=2, quota_alerts=3, quota_webhook_alerts=1, quota_websockets=2)


async def _account(app: FastAPI, *, admin: bool = False, name: str = "q") -> Account:
    db: Database = app.state.db
    email = f"{name}-{'admin' if admin else 'user'}-{time.monotonic_ns()}@example.com"
    async with db.sessionmaker() as session:
        user = await users.create(session=session, email=email, password="quota-password-1", is_admin=admin)
    token, _ = create_access_token(app.state.settings, user.id)
    return Account(user.id, email, "quota-password-1", {"Authorization": f"Bearer {token}"})


async def test_alert_quota_is_409_and_a_delete_frees_a_place(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await _account(app)
    ids = []
    for i in range(3):
        r = await client.post("/api/v1/alerts", json={"name": f"a{i}"}, headers=user.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await client.post("/api/v1/alerts", json={"name": "one too many"}, headers=user.headers)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "conflict" and "3 alerts" in r.json()["detail"]
    assert len((await client.get("/api/v1/alerts", headers=user.headers)).json()["items"]) == 3
    assert (await client.delete(f"/api/v1/alerts/{ids[0]}", headers=user.headers)).status_code == 204
    assert (await client.post("/api/v1/alerts", json={"name": "again"}, headers=user.headers)).status_code == 201
    # Another user has a quota of their own; admins have none.
    other = await _account(app, name="other")
    assert (await client.post("/api/v1/alerts", json={"name": "x"}, headers=other.headers)).status_code == 201
    admin = await _account(app, admin=True)
    for i in range(5):
        r = await client.post("/api/v1/alerts", json={"name": f"admin {i}", "webhook_url": HOOK}, headers=admin.headers)
        assert r.status_code == 201, r.text


async def test_webhook_alert_quota_is_409(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await _account(app)
    r = await client.post("/api/v1/alerts", json={"name": "hooked", "webhook_url": HOOK}, headers=user.headers)
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/alerts", json={"name": "hooked 2", "webhook_url": HOOK}, headers=user.headers)
    assert r.status_code == 409 and "webhook" in r.json()["detail"], r.text
    r = await client.post("/api/v1/alerts", json={"name": "no hook"}, headers=user.headers)
    assert r.status_code == 201, r.text


async def test_alert_quota_holds_under_concurrent_creates(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await _account(app)
    answers = await asyncio.gather(*(client.post("/api/v1/alerts", json={"name": f"c{i}"}, headers=user.headers)
                                     for i in range(12)))
    assert sorted(r.status_code for r in answers) == [201] * 3 + [409] * 9, [r.text for r in answers]
    assert len((await client.get("/api/v1/alerts", headers=user.headers)).json()["items"]) == 3


async def test_active_crawl_quota_is_429_with_retry_after(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await _account(app)
    jobs = []
    for i in range(2):
        r = await client.post("/api/v1/crawls", json={"url": f"http://127.0.0.1:9/board/{i}"}, headers=user.headers)
        assert r.status_code == 202, r.text
        jobs.append(r.json()["id"])
    r = await client.post("/api/v1/crawls", json={"url": "http://127.0.0.1:9/board/x"}, headers=user.headers)
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) > 0
    r = await client.post("/start-crawl", params={"url": "http://127.0.0.1:9/board/y"}, headers=user.headers)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited", r.text
    # The same board again is the job already running, not a new one: no quota involved.
    r = await client.post("/api/v1/crawls", json={"url": "http://127.0.0.1:9/board/0"}, headers=user.headers)
    assert r.status_code == 202 and r.json()["id"] == jobs[0], r.text
    # A finished job frees its place.
    assert (await client.post(f"/api/v1/crawls/{jobs[0]}/cancel", headers=user.headers)).status_code == 202
    r = await client.post("/api/v1/crawls", json={"url": "http://127.0.0.1:9/board/x"}, headers=user.headers)
    assert r.status_code == 202, r.text
    admin = await _account(app, admin=True)
    for i in range(4):
        r = await client.post("/api/v1/crawls", json={"url": f"http://127.0.0.1:9/admin/{i}"}, headers=admin.headers)
        assert r.status_code == 202, r.text


async def test_active_crawl_quota_holds_under_concurrent_submissions(
    client: httpx.AsyncClient, app: FastAPI,
) -> None:
    user = await _account(app)
    answers = await asyncio.gather(*(
        client.post("/api/v1/crawls", json={"url": f"http://127.0.0.1:9/burst/{i}"}, headers=user.headers)
        for i in range(10)))
    assert sorted(r.status_code for r in answers) == [202] * 2 + [429] * 8, [r.text for r in answers]
    r = await client.get("/api/v1/crawls", params={"state": "queued"}, headers=user.headers)
    assert len(r.json()["items"]) == 2


def _close_code(client: TestClient, headers: dict[str, str]) -> int | None:
    """The close code of a socket the server closes straight after accepting it (None if it stays open)."""
    with client.websocket_connect("/ws/notifications", headers=headers) as ws:
        try:
            ws.receive_text()
        except WebSocketDisconnect as exc:
            return exc.code
    return None


def test_websocket_quota_closes_the_extra_socket_with_1013(settings: Settings) -> None:
    """Against the in-process app (Redis leases on PostgreSQL runs, this process's count on SQLite)."""
    settings = settings.model_copy(update={"ws_heartbeat_seconds": 0.2})
    app = create_app(settings)
    with TestClient(app) as client:
        r = client.post("/api/v1/auth/register", json={"email": f"ws-{time.monotonic_ns()}@example.com",
                                                       "password": "quota-password-1"})
        assert r.status_code == 201, r.text
        if settings.redis_url:
            redis.Redis.from_url(settings.redis_url).delete(f"forest:ws-leases:{r.json()['id']}")
        token, _ = create_access_token(settings, r.json()["id"])
        headers = {"Authorization": f"Bearer {token}"}
        with client.websocket_connect("/ws/notifications", headers=headers) as first, \
                client.websocket_connect("/ws/notifications", headers=headers) as second:
            assert first.receive_json()["type"] == "heartbeat"
            assert second.receive_json()["type"] == "heartbeat"
            with pytest.raises(WebSocketDisconnect) as refused:
                with client.websocket_connect("/ws/notifications", headers=headers) as third:
                    third.receive_text()
            assert refused.value.code == 1013
            assert "too many open WebSockets" in (refused.value.reason or "")
        # Both closed: their places are free again.
        deadline = time.monotonic() + 5
        while True:
            with client.websocket_connect("/ws/notifications", headers=headers) as again:
                try:
                    assert again.receive_json()["type"] == "heartbeat"
                    break
                except WebSocketDisconnect:
                    assert time.monotonic() < deadline, "a closed socket kept its place"
            time.sleep(0.1)


def test_redis_is_where_every_api_process_counts_sockets() -> None:
    """Two processes' lease counters (two SocketLeases) share one quota through Redis."""
    from forest.quotas import SocketLeases

    async def run() -> None:
        a, b = SocketLeases(REDIS_URL, ttl=5), SocketLeases(REDIS_URL, ttl=5)
        user_id = 10_000_000 + time.monotonic_ns() % 1_000_000
        try:
            first = await a.acquire(user_id, 2)
            second = await b.acquire(user_id, 2)
            assert first and second
            assert await a.acquire(user_id, 2) is None and await b.acquire(user_id, 2) is None
            await a.release(first)
            assert await b.acquire(user_id, 2) is not None
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())
