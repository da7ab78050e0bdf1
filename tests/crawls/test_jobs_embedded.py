"""The embedded default end to end: SQLite, the SQLite Celery broker, a real `forest worker`, no Redis."""

from __future__ import annotations

import httpx

from tests.crawls.conftest import Stack, register, wait_for_job


def test_crawl_on_the_embedded_default_succeeds(embedded_stack: Stack) -> None:
    (api,) = embedded_stack.apis
    headers = register(api)
    source_id = embedded_stack.add_source(max_pages=10)
    r = httpx.post(f"{api}/api/v1/crawls", json={"source_id": source_id}, headers=headers, timeout=10)
    assert r.status_code == 202, r.text
    job = wait_for_job(api, headers, r.json()["id"], {"succeeded", "failed", "cancelled"}, timeout=45)
    assert job["state"] == "succeeded", job
    board = embedded_stack.demo.board
    board_total = board.total + len(board.pinned)
    assert job["progress"]["items_new"] == board_total and job["progress"]["errors"] == 0

    bids = httpx.get(f"{api}/api/v1/bids", params={"source_id": source_id, "count": "exact", "limit": 100},
                     headers=headers).json()
    assert bids["count"]["value"] == board_total
    assert {b["external_id"] for b in bids["items"]} == {str(n.ntt_id) for n in [*board.notices, *board.pinned]}

    events = httpx.get(f"{api}/api/v1/crawls/{job['id']}/events", params={"limit": 100}, headers=headers).json()
    types = [e["type"] for e in events["items"]]
    assert types[:2] == ["job.queued", "job.started"] and types[-1] == "job.succeeded" and "job.progress" in types
    assert [e["seq"] for e in events["items"]] == list(range(1, len(types) + 1))
