"""Sending work to the workers from the API process without blocking its event loop."""

from __future__ import annotations

import asyncio
import uuid

from celery import Celery

from forest.config import Settings
from forest.worker.celery_app import make_celery

SEND_TIMEOUT_SECONDS = 5.0


class Dispatcher:
    """Queues crawl deliveries and revokes them; broker trouble surfaces as an exception within seconds."""

    def __init__(self, settings: Settings) -> None:
        self.celery: Celery = make_celery(settings)

    def _send(self, job_id: uuid.UUID) -> str:
        task_id = str(job_id)
        self.celery.send_task("forest.crawl", args=[task_id], task_id=task_id,
                              retry=False, retry_policy={"max_retries": 0})
        return task_id

    async def enqueue(self, job_id: uuid.UUID) -> str:
        """Queue the first delivery of a job; its task id is the job id (later deliveries get their own)."""
        return await asyncio.wait_for(asyncio.to_thread(self._send, job_id), SEND_TIMEOUT_SECONDS)

    async def revoke(self, task_id: str) -> None:
        """Best effort: tell workers to skip a queued delivery (the job's cancel flag is what counts)."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self.celery.control.revoke, task_id), 2)
        except Exception:  # revoke is only an optimisation; the runner checks the cancel flag
            return
