"""Submit a crawl and cancel it at once, 200 times, while a worker claims it: never a 5xx, never a lost cancel.

A cancel that read the job, then took the owner's event lock and wrote the row, deadlocked against a worker's
claim that had written the row and waited for the same lock: PostgreSQL killed one of them (a 500 on cancel,
about half of 200 tries). The worker side here is the worker's own claim (`JobRun.claim`), run beside the
cancel request, so the two race on every try.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from forest.app import create_app
from forest.crawls.models import CrawlJob, JobEvent
from forest.crawls.runner import JobRun
from forest.database import Database
from forest.security import create_access_token
from forest.users import service as users
from tests.conftest import make_settings

TRIES = 200


async def _submit_and_cancel(client: httpx.AsyncClient, run_for: object, headers: dict[str, str], i: int,
                             statuses: collections.Counter[str]) -> uuid.UUID | None:
    r = await client.post("/start-crawl", params={"url": f"http://127.0.0.1:9/board/{i}"}, headers=headers)
    statuses[f"submit {r.status_code}"] += 1
    if r.status_code != 202:
        return None
    job_id = uuid.UUID(r.json()["task_id"])
    cancel = client.post(f"/api/v1/crawls/{job_id}/cancel", headers=headers)
    if i % 2:  # every other try: a worker claims the job while the cancel runs
        run: JobRun = run_for(job_id)  # type: ignore[operator]
        _, response = await asyncio.gather(run.claim(), cancel)
    else:
        response = await cancel
    statuses[f"cancel {response.status_code}"] += 1
    return job_id


@pytest.mark.parametrize("concurrency", [1, 20], ids=["sequential", "concurrent"])
async def test_submit_then_cancel_at_once_never_fails(database_url: str, tmp_path: Path, concurrency: int) -> None:
    # Claimed jobs stay `running` until a worker sees the cancel: the active-crawl quota must not get in the way.
    settings = make_settings(database_url, tmp_path, crawl_allow_hosts=["127.0.0.1:9"], quota_active_crawls=TRIES)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        db: Database = app.state.db
        async with db.sessionmaker() as session:
            user = await users.create(session=session, email="racer@example.com", password="racer-password-1")
        token, _ = create_access_token(settings, user.id)
        headers = {"Authorization": f"Bearer {token}"}
        statuses: collections.Counter[str] = collections.Counter()
        gate = asyncio.Semaphore(concurrency)

        def run_for(job_id: uuid.UUID) -> JobRun:
            return JobRun(db, settings, job_id, app.state.publisher)

        async def one(i: int) -> uuid.UUID | None:
            async with gate:
                return await _submit_and_cancel(client, run_for, headers, i, statuses)

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            job_ids = await asyncio.gather(*(one(i) for i in range(TRIES)))
        assert statuses == {"submit 202": TRIES, "cancel 202": TRIES}, statuses

        async with db.sessionmaker() as session:
            jobs = {job.id: job for job in (await session.scalars(select(CrawlJob))).all()}
            seqs = collections.defaultdict(list)
            for event in (await session.scalars(select(JobEvent).order_by(JobEvent.id))).all():
                seqs[event.job_id].append((event.seq, event.type))
        assert set(jobs) == set(job_ids)
        for job_id, job in jobs.items():
            # A queued job is cancelled at once; one a worker had claimed stops at its next check.
            assert job.cancel_requested, job_id
            assert job.state == "cancelled" or (job.state == "running" and await run_for(job_id).should_stop())
            # The job's events count 1, 2, 3... whichever side won: no seq twice, no update lost.
            assert [seq for seq, _ in seqs[job_id]] == list(range(1, len(seqs[job_id]) + 1)), seqs[job_id]
            assert job.last_seq == len(seqs[job_id])
            assert sum(kind == "job.cancelled" for _, kind in seqs[job_id]) == (job.state == "cancelled")
