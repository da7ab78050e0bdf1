"""The embedded default end to end: SQLite, the SQLite Celery broker, a real `forest worker`, no Redis."""

from __future__ import annotations

import json
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from tests.plugin import Stack, register, user_id_of, wait_for_job, ws_close_code


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


def test_websocket_on_the_embedded_default(embedded_stack: Stack) -> None:
    (api,) = embedded_stack.apis
    headers = register(api)
    ws_base = api.replace("http://", "ws://") + "/ws/notifications"
    ticket = httpx.post(f"{api}/api/v1/auth/ws-ticket", headers=headers, timeout=10).json()["ticket"]
    source_id = embedded_stack.add_source(max_pages=2)
    with connect(f"{ws_base}?ticket={ticket}") as ws:
        job = httpx.post(f"{api}/api/v1/crawls", json={"source_id": source_id}, headers=headers, timeout=10).json()
        seen: list[str] = []
        deadline = time.monotonic() + 45
        while "job.succeeded" not in seen and time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg["job_id"] == job["id"]:
                seen.append(msg["type"])
    assert seen[0] == "job.queued" and seen[-1] == "job.succeeded", seen
    assert ws_close_code(f"{ws_base}?ticket={ticket}") in (1008, 403)  # used once already
    expired = embedded_stack.expired_ticket(user_id_of(api, headers))
    assert ws_close_code(f"{ws_base}?ticket={expired}") in (1008, 403)


def test_per_host_counters_of_the_worker_reach_the_api_metrics(embedded_stack: Stack) -> None:
    """Without Redis each worker process keeps its own politeness schedule: its counters reach `/metrics` through
    the worker's report."""
    (api,) = embedded_stack.apis
    headers = register(api)
    board = embedded_stack.demo.board
    host = embedded_stack.demo.base_url.removeprefix("http://")
    before = sum(board.request_counts.values())
    source_id = embedded_stack.add_source(delay=0.05, max_pages=2)  # polite: its requests go through the schedule
    r = httpx.post(f"{api}/api/v1/crawls", json={"source_id": source_id}, headers=headers, timeout=10)
    job = wait_for_job(api, headers, r.json()["id"], {"succeeded", "failed", "cancelled"}, timeout=45)
    assert job["state"] == "succeeded", job
    sent = sum(board.request_counts.values()) - before
    assert sent > 2
    deadline = time.monotonic() + 30  # the worker reports every heartbeat interval
    counted = None
    while counted != sent:
        assert time.monotonic() < deadline, f"/metrics counted {counted} requests to {host}, the board saw {sent}"
        time.sleep(0.5)
        counted = next((s.value for f in text_string_to_metric_families(httpx.get(f"{api}/metrics").text)
                        for s in f.samples
                        if s.name == "forest_crawl_host_requests_total" and s.labels.get("host") == host), None)
