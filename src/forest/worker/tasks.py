"""Celery tasks: a few lines each, calling the services on the worker process's event loop."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from celery import Task
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from forest.alerts import webhooks
from forest.config import get_settings
from forest.crawls import runner
from forest.worker import runtime
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


def process_runtime() -> runtime.ProcessRuntime:
    """This worker process's event loop, database, publisher and transports."""
    return runtime.get(get_settings(), queue)


@worker_ready.connect
@worker_process_init.connect
def _start_runtime(**_: Any) -> None:
    # Started once the worker is up (after beat's fork), so the heartbeat and reaper run from the start.
    process_runtime()


@worker_shutdown.connect
def _stop_runtime(**_: Any) -> None:
    runtime.shutdown()


@celery.task(name="forest.crawl", bind=True, acks_late=True, reject_on_worker_lost=True)
def crawl_job(self: Task, job_id: str) -> str | None:  # type: ignore[type-arg]
    """Run one delivery of a crawl job (safe to deliver twice); returns, and is acknowledged, when it ends."""
    rt = process_runtime()
    outcome = rt.run(runner.run_job(rt.settings, uuid.UUID(job_id), send_webhooks=send_webhooks, context=rt.context))
    if outcome.requeue:
        send_crawl(uuid.UUID(job_id), countdown=REQUEUE_DELAY_SECONDS)
    return outcome.state


@celery.task(name="forest.schedule")
def run_schedules() -> list[str]:
    """Start the crawls whose source schedule is due."""
    from forest.crawls import scheduled

    rt = process_runtime()
    return [str(j) for j in rt.run(scheduled.run_due(rt.settings, queue, db=rt.db))]


def send_webhooks(delivery_ids: Sequence[uuid.UUID], countdown: float | None = None) -> None:
    """Queue one attempt of each webhook delivery (after the transaction that wrote them committed)."""
    for delivery_id in delivery_ids:
        celery.send_task("forest.webhook", args=[str(delivery_id)], countdown=countdown)


@celery.task(name="forest.webhook", acks_late=True, reject_on_worker_lost=True)
def deliver_webhook(delivery_id: str) -> str | None:
    """Make the next attempt at a webhook delivery; a retry is queued after its backoff."""
    rt = process_runtime()
    outcome = rt.run(webhooks.deliver(rt.settings, uuid.UUID(delivery_id), db=rt.db,
                                      transport=rt.webhook_transport))
    if outcome.retry_in is not None:
        send_webhooks([uuid.UUID(delivery_id)], countdown=outcome.retry_in)
    return outcome.state


@celery.task(name="forest.webhooks.sweep")
def sweep_webhooks() -> int:
    """Re-queue due webhook deliveries whose hand-off or worker was lost."""
    rt = process_runtime()
    delivery_ids = rt.run(webhooks.sweep(rt.settings, db=rt.db))
    send_webhooks(delivery_ids)
    return len(delivery_ids)
