"""Celery tasks: a few lines each, calling the services."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from celery import Task

from forest.alerts import webhooks
from forest.config import get_settings
from forest.crawls import runner
from forest.worker.celery_app import celery
from forest.worker.dispatch import Dispatcher

log = logging.getLogger(__name__)
REQUEUE_DELAY_SECONDS = 5
queue = Dispatcher(celery)  # the job queue the reaper and the scheduler send through


def send_crawl(job_id: uuid.UUID, countdown: float | None = None) -> str:
    """Queue a delivery of a job; returns the Celery task id."""
    task_id = str(uuid.uuid4())
    queue.deliver(job_id, task_id, countdown=countdown)
    return task_id


@celery.task(name="forest.crawl", bind=True, acks_late=True, reject_on_worker_lost=True)
def crawl_job(self: Task, job_id: str) -> str | None:  # type: ignore[type-arg]
    """Run one delivery of a crawl job (safe to deliver twice)."""
    outcome = asyncio.run(runner.run_job(get_settings(), uuid.UUID(job_id), send_webhooks=send_webhooks))
    if outcome.requeue:
        send_crawl(uuid.UUID(job_id), countdown=REQUEUE_DELAY_SECONDS)
    return outcome.state


@celery.task(name="forest.reap")
def reap_stale_jobs() -> list[str]:
    """Re-queue jobs whose worker died (no heartbeat), or fail them when attempts are used up."""
    return [str(j) for j in asyncio.run(runner.reap(get_settings(), queue))]


@celery.task(name="forest.schedule")
def run_schedules() -> list[str]:
    """Start the crawls whose source schedule is due."""
    from forest.crawls import scheduled

    return [str(j) for j in asyncio.run(scheduled.run_due(get_settings(), queue))]


def send_webhooks(delivery_ids: Sequence[uuid.UUID], countdown: float | None = None) -> None:
    """Queue one attempt of each webhook delivery (after the transaction that wrote them committed)."""
    for delivery_id in delivery_ids:
        celery.send_task("forest.webhook", args=[str(delivery_id)], countdown=countdown)


@celery.task(name="forest.webhook", acks_late=True, reject_on_worker_lost=True)
def deliver_webhook(delivery_id: str) -> str | None:
    """Make the next attempt at a webhook delivery; a retry is queued after its backoff."""
    outcome = asyncio.run(webhooks.deliver(get_settings(), uuid.UUID(delivery_id)))
    if outcome.retry_in is not None:
        send_webhooks([uuid.UUID(delivery_id)], countdown=outcome.retry_in)
    return outcome.state


@celery.task(name="forest.webhooks.sweep")
def sweep_webhooks() -> int:
    """Re-queue due webhook deliveries whose hand-off or worker was lost."""
    delivery_ids = asyncio.run(webhooks.sweep(get_settings()))
    send_webhooks(delivery_ids)
    return len(delivery_ids)
