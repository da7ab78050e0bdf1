"""Crawl submission rules that need no worker: validation, egress, broker outage."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from forest.app import create_app
from forest.crawls.models import CrawlJob, IdempotencyKey
from forest.database import utcnow
from forest.sources.models import Source
from tests.conftest import make_settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("url", ["http://127.0.0.1:8001/", "http://localhost/", "http://[::1]/",
                                 "http://169.254.169.254/latest/", "http://10.0.0.1/", "ftp://example.com/x",
                                 "http://user:pw@example.com/", "http://[::127.0.0.1]/", "http://[2002:7f00:1::]/",
                                 "http://[64:ff9b:1::7f00:1]/", "http://[fec0::1]/",
                                 "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/"])
async def test_crawl_of_private_or_bad_url_is_refused(client: httpx.AsyncClient, make_user, url: str) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    r = await client.post("/api/v1/crawls", json={"url": url}, headers=user.headers)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "url_not_allowed"


async def test_crawl_body_validation(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    for body in ({}, {"source_id": 1, "url": "http://example.com/board"}, {"source_id": 0}, {"source_id": "x"},
                 {"url": "http://example.com/b", "max_pages": 0}, {"source_id": 1, "extra": 1}):
        r = await client.post("/api/v1/crawls", json=body, headers=user.headers)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", (body, r.text)
    r = await client.post("/api/v1/crawls", json={"source_id": 999}, headers=user.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await client.get("/api/v1/crawls/not-a-uuid", headers=user.headers)
    assert r.status_code == 422


async def test_broker_down_gives_503_quickly_and_creates_nothing(tmp_path: Path, database_url: str, make_user, db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessionmaker() as session:
        session.add(Source(id=1, name="board", start_url="http://example.com/list", max_pages=3, timezone="Asia/Seoul",
                           polite=True, enabled=True, created_at=utcnow()))
        await session.commit()
    user = await make_user()
    port = _closed_port()
    broker = f"redis://127.0.0.1:{port}/0" if database_url.startswith("postgresql") else f"amqp://guest@127.0.0.1:{port}//"
    app = create_app(make_settings(database_url, tmp_path, broker_url=broker, redis_url=None))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            start = time.monotonic()
            r = await client.post("/api/v1/crawls", json={"source_id": 1}, headers={**user.headers,
                                                                                   "Idempotency-Key": "k1"})
            elapsed = time.monotonic() - start
    assert r.status_code == 503 and r.json()["code"] == "service_unavailable", r.text
    assert elapsed < 6
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(CrawlJob)) == 0
        assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
