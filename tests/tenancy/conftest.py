"""Tenancy tests: an allow-listed (never started) board, and ad-hoc sources created the way users create them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from forest.config import Settings
from tests.conftest import make_settings

# Allow-listed but never fetched: submissions only queue jobs, no worker runs them here.
BOARD = "127.0.0.1:8999"
LIST = f"http://{BOARD}/kfs/bid/list.do"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The test database, with the (unstarted) board allow-listed."""
    return make_settings(database_url, tmp_path, crawl_allow_hosts=[BOARD])


async def adhoc_source(client: httpx.AsyncClient, headers: dict[str, str], board: str = "evil") -> int:
    """The source of a bare-URL crawl of a board the user controls, created through the API."""
    r = await client.post("/api/v1/crawls", json={"url": f"{LIST}?bbsId={board}"}, headers=headers)
    assert r.status_code == 202, r.text
    source_id: int = r.json()["source_id"]
    await client.post(f"/api/v1/crawls/{r.json()['id']}/cancel", headers=headers)
    return source_id
