"""Request bodies over FOREST_MAX_BODY_BYTES: 413 problem+json, before the body is read or as soon as it passes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

CHUNK = 64 * 1024
HUGE = 100 * 1024 * 1024  # what the finding sent to /auth/register
DEFAULT_CAP = 1024 * 1024


class CountingBody:
    """A streamed request body of `total` bytes that counts how much of it the server read."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += CHUNK
            yield b" " * CHUNK


def assert_too_large(r: httpx.Response) -> None:
    assert r.status_code == 413, r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "payload_too_large"
    assert str(DEFAULT_CAP) in r.json()["detail"]


async def test_declared_oversized_body_is_refused_unread(client: httpx.AsyncClient) -> None:
    body = CountingBody(HUGE)
    r = await client.post("/api/v1/auth/register", content=body,
                          headers={"Content-Type": "application/json", "Content-Length": str(HUGE)})
    assert_too_large(r)
    assert body.sent == 0


async def test_chunked_oversized_body_is_cut_off_at_the_limit(client: httpx.AsyncClient) -> None:
    body = CountingBody(HUGE)
    r = await client.post("/api/v1/auth/register", content=body, headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers  # sent chunked
    assert_too_large(r)
    assert body.sent <= DEFAULT_CAP + CHUNK


async def test_chunked_oversized_form_is_cut_off_at_the_limit(client: httpx.AsyncClient) -> None:
    body = CountingBody(HUGE)
    r = await client.post("/api/v1/auth/token", content=body,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_too_large(r)
    assert body.sent <= DEFAULT_CAP + CHUNK


async def test_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    padding = " " * (DEFAULT_CAP - 100)
    r = await client.post("/api/v1/auth/register", content=f'{{"email": "a@example.com",{padding}"password": "x"}}',
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 422  # read and validated: the password is too short
    assert r.json()["code"] == "validation_error"
