"""Rate limits on sign-in, registration and crawl submissions: 429 `rate_limited` with `Retry-After`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from starlette.requests import Request

from forest import security
from forest.app import create_app
from forest.cli.main import server_options
from forest.config import Settings
from forest.errors import RateLimited
from forest.ratelimit import KEY_PREFIX, RateLimits
from tests.conftest import REDIS_URL, make_settings, serving

PER_IP, PER_ACCOUNT, PER_USER = 6, 3, 2


@pytest.fixture(autouse=True)
def fresh_counters() -> Iterator[None]:
    """Counters in the test Redis outlive a test: start each one from zero."""
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)
    yield
    client.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Small limits: the default settings of tests turn them off."""
    return make_settings(database_url, tmp_path, rate_limit_auth_per_ip=f"{PER_IP}/minute",
                         rate_limit_auth_per_account=f"{PER_ACCOUNT}/minute",
                         rate_limit_crawls_per_user=f"{PER_USER}/minute")


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification the app runs (the real one, counted)."""
    calls: list[str] = []
    real = security.verify_password

    def counted(password: str, password_hash: str | None) -> bool:
        calls.append(password)
        return real(password, password_hash)

    monkeypatch.setattr(security, "verify_password", counted)
    return calls


def other_client(app: FastAPI, host: str) -> httpx.AsyncClient:
    """A client connecting from another address."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 40000)), base_url="http://testserver")


def assert_rate_limited(r: httpx.Response, window_seconds: int = 60) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= window_seconds


async def test_sign_in_over_the_account_limit_is_429_before_any_argon2_work(
    client: httpx.AsyncClient, app: FastAPI, make_user, verifications: list[str],  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    for k in range(PER_ACCOUNT):
        r = await client.post("/api/v1/auth/token", data={"username": user.email, "password": f"guess-{k}"})
        assert r.status_code == 401
    # Even the right password, even from another address: the account's budget is spent.
    async with other_client(app, "198.51.100.7") as elsewhere:
        r = await elsewhere.post("/api/v1/auth/token", data={"username": user.email.upper(), "password": user.password})
    assert_rate_limited(r)
    assert "account" in r.json()["detail"]
    assert len(verifications) == PER_ACCOUNT
    # Another account from the first address still signs in.
    other = await make_user()
    r = await client.post("/api/v1/auth/token", data={"username": other.email, "password": other.password})
    assert r.status_code == 200


async def test_sign_in_and_registration_over_the_address_limit_are_429(
    client: httpx.AsyncClient, app: FastAPI, make_user, verifications: list[str],  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    for k in range(PER_IP):  # a different unknown account each time: only the address limit applies
        r = await client.post("/api/v1/auth/token", data={"username": f"spray-{k}@example.com", "password": "guess-1"})
        assert r.status_code == 401
    r = await client.post("/api/v1/auth/token", data={"username": user.email, "password": user.password})
    assert_rate_limited(r)
    assert "address" in r.json()["detail"]
    r = await client.post("/api/v1/auth/register", json={"email": "new@example.com", "password": "fresh-password-1"})
    assert_rate_limited(r)
    assert len(verifications) == PER_IP
    # Another address is not affected.
    async with other_client(app, "203.0.113.9") as elsewhere:
        r = await elsewhere.post("/api/v1/auth/token", data={"username": user.email, "password": user.password})
        assert r.status_code == 200
        r = await elsewhere.post("/api/v1/auth/register", json={"email": "new@example.com", "password": "fresh-pw-123"})
        assert r.status_code == 201


async def test_registrations_over_the_address_limit_hash_nothing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    hashes: list[str] = []
    real = security.hash_password
    monkeypatch.setattr(security, "hash_password", lambda password: hashes.append(password) or real(password))
    for k in range(PER_IP):
        r = await client.post("/api/v1/auth/register", json={"email": f"bulk-{k}@example.com", "password": "bulk-password-1"})
        assert r.status_code == 201
    r = await client.post("/api/v1/auth/register", json={"email": "one-more@example.com", "password": "bulk-password-1"})
    assert_rate_limited(r)
    assert len(hashes) == PER_IP


async def test_crawl_submissions_over_the_user_limit_are_429_on_every_route(
    client: httpx.AsyncClient, make_user,  # type: ignore[no-untyped-def]
) -> None:
    user, other = await make_user(), await make_user()
    for _ in range(PER_USER):  # refused submissions count too: the limit is on asking
        r = await client.post("/api/v1/crawls", json={"source_id": 999_999}, headers=user.headers)
        assert r.status_code == 404
    r = await client.post("/api/v1/crawls", json={"source_id": 999_999}, headers=user.headers)
    assert_rate_limited(r)
    r = await client.post("/start-crawl", params={"url": "https://board.example.org/list"}, headers=user.headers)
    assert_rate_limited(r)
    r = await client.post(f"/api/v1/crawls/{uuid.uuid4()}/retry", headers=user.headers)
    assert_rate_limited(r)
    # Reading is not limited, and other users keep their own budget.
    assert (await client.get("/api/v1/crawls", headers=user.headers)).status_code == 200
    r = await client.post("/api/v1/crawls", json={"source_id": 999_999}, headers=other.headers)
    assert r.status_code == 404


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_two_api_processes_share_one_budget_through_redis(settings: Settings, make_user) -> None:  # type: ignore[no-untyped-def]
    assert settings.redis_url
    user = await make_user()
    second = create_app(settings)
    async with second.router.lifespan_context(second), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=second), base_url="http://second") as c2:
        first = create_app(settings)
        async with first.router.lifespan_context(first), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=first), base_url="http://first") as c1:
            for k in range(PER_ACCOUNT):
                r = await (c1, c2)[k % 2].post("/api/v1/auth/token", data={"username": user.email, "password": "no"})
                assert r.status_code == 401
            assert_rate_limited(await c1.post("/api/v1/auth/token", data={"username": user.email, "password": "no"}))
            assert_rate_limited(await c2.post("/api/v1/auth/token", data={"username": user.email, "password": "no"}))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_forest_api_counts_the_forwarded_address_only_from_a_trusted_proxy(settings: Settings) -> None:
    def sign_in(base: str, forwarded_for: str) -> int:
        r = httpx.post(f"{base}/api/v1/auth/token", data={"username": f"{uuid.uuid4().hex}@example.com", "password": "x"},
                       headers={"X-Forwarded-For": forwarded_for}, timeout=10)
        return r.status_code

    with serving(settings, server_options(settings)) as base:  # the peer, 127.0.0.1, is a trusted proxy
        assert [sign_in(base, "198.51.100.1") for _ in range(PER_IP + 1)] == [401] * PER_IP + [429]
        assert sign_in(base, "198.51.100.2") == 401
    untrusted = settings.model_copy(update={"forwarded_allow_ips": "10.9.9.9"})
    with serving(untrusted, server_options(untrusted)) as base:  # a client cannot pick its address
        assert [sign_in(base, f"203.0.113.{k}") for k in range(PER_IP + 1)] == [401] * PER_IP + [429]


async def test_retry_after_tells_when_an_attempt_is_allowed_again(tmp_path: Path) -> None:
    limits = RateLimits(make_settings("sqlite+aiosqlite:///unused.db", tmp_path, rate_limit_auth_per_account="1/second"))
    request = a_request()
    await limits.check_auth(request, "a@example.com")
    with pytest.raises(RateLimited) as refused:
        await limits.check_auth(request, "a@example.com")
    assert refused.value.headers["Retry-After"] == "1"
    time.sleep(1.1)
    await limits.check_auth(request, "a@example.com")


async def test_refusals_are_answered_after_the_delay(tmp_path: Path) -> None:
    limits = RateLimits(make_settings("sqlite+aiosqlite:///unused.db", tmp_path, rate_limit_auth_per_account="1/minute",
                                      rate_limit_refusal_delay_seconds=0.3))
    await limits.check_auth(a_request(), "a@example.com")
    for _ in range(2):  # counted in the store, then remembered in the process: both wait
        started = time.monotonic()
        with pytest.raises(RateLimited):
            await limits.check_auth(a_request(), "a@example.com")
        assert time.monotonic() - started >= 0.3


async def test_an_unreachable_redis_does_not_lock_everyone_out(tmp_path: Path) -> None:
    settings = make_settings("sqlite+aiosqlite:///unused.db", tmp_path, redis_url="redis://127.0.0.1:1/0",
                             rate_limit_auth_per_ip="1/minute", rate_limit_auth_per_account="1/minute")
    limits = RateLimits(settings)
    started = time.monotonic()
    try:
        for _ in range(3):
            await limits.check_auth(a_request(), "a@example.com")
    finally:
        await limits.close()
    assert time.monotonic() - started < 5


def a_request() -> Request:
    """A request from 192.0.2.1."""
    return Request({"type": "http", "method": "POST", "path": "/", "headers": [], "client": ("192.0.2.1", 1234)})
