"""Many crawls in one `forest worker` process (Redis, PostgreSQL): they overlap, cancel within 5 s, and survive kill -9.

The stack's own workers are stopped first, so every job here runs in the worker process the test starts;
that worker keeps the default heartbeat timeout, so the kill -9 test measures the default recovery time.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from forest.config import Settings
from tests.crawls.conftest import Stack, register, wait_for_job

CRAWLS = 5  # a user's quota of active crawls
RECOVERY_TARGET_SECONDS = 30
DEFAULT_HEARTBEAT_TIMEOUT = str(Settings.model_fields["job_heartbeat_timeout_seconds"].default)


def start_fleet_worker(stack: Stack, name: str, crawls: int = CRAWLS) -> None:
    """One worker process running up to `crawls` crawls, with the default heartbeat timeout."""
    stack.spawn(name, "worker", "--concurrency", "1", "--crawls-per-process", str(crawls), "--beat",
                "--hostname", f"{name}@%h", extra_env={"FOREST_JOB_HEARTBEAT_TIMEOUT_SECONDS": DEFAULT_HEARTBEAT_TIMEOUT})


@pytest.fixture(scope="module")
def fleet(pg_stack: Stack) -> Iterator[Stack]:
    """The stack with its workers replaced by one `fleet-1` worker process; the usual worker comes back after."""
    for name in [n for n in pg_stack.procs if n.startswith(("worker", "fleet"))]:
        pg_stack.kill(name, signal.SIGTERM)
    start_fleet_worker(pg_stack, "fleet-1")
    try:
        yield pg_stack
    finally:
        for name in [n for n in pg_stack.procs if n.startswith("fleet")]:
            pg_stack.kill(name, signal.SIGKILL)
        pg_stack.start_worker("worker-1")


def submit(stack: Stack, headers: dict[str, str], count: int, *, delay: float) -> list[str]:
    """`count` crawls of distinct sources on the demo board."""
    base = stack.apis[0]
    ids = []
    for _ in range(count):
        source_id = stack.add_source(delay=delay)
        r = httpx.post(f"{base}/api/v1/crawls", json={"source_id": source_id}, headers=headers, timeout=10)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    return ids


def get_job(stack: Stack, headers: dict[str, str], job_id: str) -> dict:  # type: ignore[type-arg]
    return httpx.get(f"{stack.apis[0]}/api/v1/crawls/{job_id}", headers=headers, timeout=10).json()  # type: ignore[no-any-return]


def wait_all_running(stack: Stack, headers: dict[str, str], ids: list[str], *, pages: int = 1,
                     timeout: float = 60) -> None:
    """Until every job runs and has stored `pages` pages."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = [get_job(stack, headers, i) for i in ids]
        if all(j["state"] == "running" and j["progress"]["pages_done"] >= pages for j in jobs):
            return
        assert time.monotonic() < deadline, [(j["state"], j["progress"]["pages_done"]) for j in jobs]
        time.sleep(0.2)


def metric(stack: Stack, name: str) -> list[float]:
    """Values of a metric family on the API's /metrics."""
    text = httpx.get(f"{stack.apis[0]}/metrics", timeout=10).text
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{")
            or line.startswith(name + " ")]


def bid_ids(stack: Stack, headers: dict[str, str], job: dict) -> list[str]:  # type: ignore[type-arg]
    """Every stored bid of the job's source, page by page (a duplicate would appear twice)."""
    out: list[str] = []
    cursor = None
    while True:
        params = {"source_id": job["source_id"], "limit": 100, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{stack.apis[0]}/api/v1/bids", params=params, headers=headers, timeout=10).json()
        out += [b["external_id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def test_many_crawls_run_at_once_in_one_worker_process(fleet: Stack) -> None:
    headers = register(fleet.apis[0])
    ids = submit(fleet, headers, CRAWLS, delay=0.05)
    wait_all_running(fleet, headers, ids)
    # All of them run in the one process at once: its report says so on /metrics.
    deadline = time.monotonic() + 15
    while max(metric(fleet, "forest_worker_crawls_running") or [0]) < CRAWLS:
        assert time.monotonic() < deadline, metric(fleet, "forest_worker_crawls_running")
        time.sleep(0.5)
    assert metric(fleet, "forest_workers") == [1.0]
    # Crawls are background work: every thread of the worker runs at FOREST_WORKER_NICE (10 by default), so on a
    # saturated machine the API's requests come first.
    worker_pid = fleet.procs["fleet-1"].pid
    threads = list(Path(f"/proc/{worker_pid}/task").iterdir())
    assert len(threads) > 1 and {os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in threads} == {10}
    assert metric(fleet, "forest_worker_crawls_capacity") == [float(CRAWLS)]
    assert sum(metric(fleet, "forest_crawl_jobs")) >= CRAWLS
    jobs = [wait_for_job(fleet.apis[0], headers, i, {"succeeded", "failed", "cancelled"}, timeout=120) for i in ids]
    assert {j["state"] for j in jobs} == {"succeeded"}, jobs
    board_total = fleet.demo.board.total + len(fleet.demo.board.pinned)
    assert all(j["progress"]["items_new"] == board_total and j["attempt"] == 1 for j in jobs)
    started = [dt.datetime.fromisoformat(j["started_at"]) for j in jobs]
    finished = [dt.datetime.fromisoformat(j["finished_at"]) for j in jobs]
    assert max(started) < min(finished)  # every crawl was running while every other one was
    one_crawl = min(f - s for s, f in zip(started, finished, strict=True))
    assert max(finished) - min(started) < 2 * one_crawl  # together, not one after another


def test_cancel_among_many_crawls_of_one_process(fleet: Stack) -> None:
    headers = register(fleet.apis[0])
    ids = submit(fleet, headers, CRAWLS, delay=0.1)
    wait_all_running(fleet, headers, ids)
    cancelled, kept = ids[: CRAWLS // 2], ids[CRAWLS // 2:]
    start = time.monotonic()
    for job_id in cancelled:
        r = httpx.post(f"{fleet.apis[0]}/api/v1/crawls/{job_id}/cancel", headers=headers, timeout=10)
        assert r.status_code == 202
    for job_id in cancelled:
        done = wait_for_job(fleet.apis[0], headers, job_id, {"cancelled", "succeeded", "failed"}, timeout=10)
        assert done["state"] == "cancelled", done
    assert time.monotonic() - start < 5
    assert all(get_job(fleet, headers, i)["state"] == "running" for i in kept)  # the others go on
    for job_id in kept:
        httpx.post(f"{fleet.apis[0]}/api/v1/crawls/{job_id}/cancel", headers=headers, timeout=10)
    for job_id in kept:
        assert wait_for_job(fleet.apis[0], headers, job_id, {"cancelled", "succeeded", "failed"},
                            timeout=10)["state"] == "cancelled"


def test_kill_9_of_a_worker_running_several_crawls_resumes_them_all(fleet: Stack) -> None:
    headers = register(fleet.apis[0])
    ids = submit(fleet, headers, CRAWLS, delay=0.05)
    wait_all_running(fleet, headers, ids, pages=2)
    fleet.kill("fleet-1")  # SIGKILL: no clean-up, every message unacknowledged, every attempt left running
    killed_at = time.monotonic()
    start_fleet_worker(fleet, "fleet-2")
    resumed: dict[str, float] = {}
    deadline = killed_at + RECOVERY_TARGET_SECONDS + 10
    while len(resumed) < CRAWLS and time.monotonic() < deadline:
        for job_id in set(ids) - set(resumed):
            if get_job(fleet, headers, job_id)["attempt"] >= 2:
                resumed[job_id] = time.monotonic() - killed_at
        time.sleep(0.5)
    assert len(resumed) == CRAWLS, resumed
    assert max(resumed.values()) <= RECOVERY_TARGET_SECONDS, resumed
    print(f"kill -9 -> every job resumed after {min(resumed.values()):.1f}-{max(resumed.values()):.1f} s")
    board_total = fleet.demo.board.total + len(fleet.demo.board.pinned)
    for job_id in ids:
        done = wait_for_job(fleet.apis[0], headers, job_id, {"succeeded", "failed", "cancelled"}, timeout=120)
        assert (done["state"], done["attempt"]) == ("succeeded", 2), done
        stored = bid_ids(fleet, headers, done)
        assert len(stored) == len(set(stored)) == board_total
        assert done["progress"]["items_new"] == board_total
