"""A flood of logins must not stall other requests: argon2 runs on a bounded pool, off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from forest import security

FLOOD = 24


async def test_bids_answer_quickly_during_a_login_flood(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, make_user, monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await make_user()
    r = await client.get("/api/v1/bids", headers=user.headers)  # warm: the auth cache and the pool
    assert r.status_code == 200

    async def login(k: int) -> int:
        # Half against the account (wrong password), half for unknown emails: both cost one argon2 verify.
        username = user.email if k % 2 else f"nobody-{k}@example.com"
        resp = await client.post("/api/v1/auth/token", data={"username": username, "password": f"wrong-{k}"})
        return resp.status_code

    verifying = threading.Event()
    verify = security.verify_password

    def observed_verify(password: str, password_hash: str | None) -> bool:
        verifying.set()
        return verify(password, password_hash)

    monkeypatch.setattr(security, "verify_password", observed_verify)
    logins = [asyncio.create_task(login(k)) for k in range(FLOOD)]
    # The flood is under way once the first argon2 verification has started (the rest queue behind it).
    assert await asyncio.to_thread(verifying.wait, 30), "no login reached argon2"
    started = time.perf_counter()
    r = await client.get("/api/v1/bids", headers=user.headers)
    elapsed = time.perf_counter() - started
    still_running = sum(not task.done() for task in logins)
    statuses = await asyncio.gather(*logins)

    assert r.status_code == 200
    assert statuses == [401] * FLOOD
    # 24 verifications take seconds of CPU; on the event loop the read waited behind most of them.
    assert still_running > 0, "the flood ended before the read: nothing was measured"
    assert elapsed < 1.0, f"GET /api/v1/bids took {elapsed:.2f} s during a login flood"
