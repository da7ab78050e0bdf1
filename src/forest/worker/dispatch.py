"""The workers' job queue on Celery (`forest.crawls.lifecycle.JobQueue`), for the API, the reaper and the scheduler."""

from __future__ import annotations

import asyncio
import uuid

from celery import Celery

SEND_TIMEOUT_SECONDS = 5.0


class Dispatcher:
    """Queues crawl deliveries and revokes them off the event loop; broker trouble surfaces as an exception within
    seconds."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def deliver(self, job_id: uuid.UUID, task_id: str, countdown: float | None = None) -> None:
        """Queue a delivery of a job now (blocking), or after `countdown` seconds."""
        self.celery.send_task("forest.crawl", args=[str(job_id)], task_id=task_id, countdown=countdown,
                              retry=False, retry_policy={"max_retries": 0})

    async def send(self, job_id: uuid.UUID, task_id: str) -> None:
        """Queue a delivery of a job under `task_id` (the first one's is the job id, later ones have their own)."""
        await asyncio.wait_for(asyncio.to_thread(self.deliver, job_id, task_id), SEND_TIMEOUT_SECONDS)

    async def revoke(self, task_id: str) -> None:
        """Best effort: tell workers to skip a queued delivery (the job's cancel flag is what counts)."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self.celery.control.revoke, task_id), 2)
        except Exception:  # revoke is only an optimisation; the runner checks the cancel flag
            return
