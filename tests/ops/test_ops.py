"""Health, readiness, metrics and behaviour when the database is gone."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from forest.app import create_app
from tests.conftest import make_settings


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_metrics_by_route_template(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    await client.get("/api/v1/users/me", headers=user.headers)
    text = (await client.get("/metrics")).text
    assert 'forest_http_requests_total{method="GET",route="/api/v1/users/me",status="200"}' in text
    assert "forest_http_request_duration_seconds_bucket" in text


async def test_metrics_count_the_lists_and_every_request_of_an_odd_method(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, make_user) -> None:
    """A list request (answered through the router's exact-path lane) is counted under its template, each one;
    a method a client makes up is counted as `other`, so clients cannot add label values."""
    user = await make_user()

    def count(text: str, line: str) -> float:
        found = [row for row in text.splitlines() if row.startswith(line + " ")]
        return float(found[0].split()[-1]) if found else 0.0

    line = 'forest_http_requests_total{method="GET",route="/api/v1/crawls",status="200"}'
    before = count((await client.get("/metrics")).text, line)
    for _ in range(3):
        assert (await client.get("/api/v1/crawls", headers=user.headers)).status_code == 200
    await client.request("BREW", "/api/v1/crawls")
    text = (await client.get("/metrics")).text
    assert count(text, line) == before + 3
    assert 'method="BREW"' not in text and 'forest_http_requests_total{method="other"' in text


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung database server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(100)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("kind", ["stopped", "hung"])
async def test_database_down_gives_503_quickly(kind: str, blackhole_port: int, tmp_path: Path) -> None:
    port = _closed_port() if kind == "stopped" else blackhole_port
    settings = make_settings(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/forest", tmp_path,
                             db_connect_timeout_seconds=1.5)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            start = time.monotonic()
            ready = await client.get("/readyz")
            data = await client.post("/api/v1/auth/register", json={"email": "x@example.com", "password": "ops-password-1"})
            elapsed = time.monotonic() - start
    assert ready.status_code == 503 and ready.json()["code"] == "service_unavailable"
    assert data.status_code == 503 and data.json()["code"] == "service_unavailable"
    assert data.headers["content-type"].startswith("application/problem+json")
    assert elapsed < 10  # two requests, each bounded well under 5 s


async def test_broker_down_makes_readyz_503(tmp_path: Path, pg_migrated: str) -> None:
    settings = make_settings(pg_migrated, tmp_path, broker_url=f"redis://127.0.0.1:{_closed_port()}/0")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await asyncio.wait_for(client.get("/readyz"), 5)
    assert r.status_code == 503
    assert "broker" in r.json()["detail"]
