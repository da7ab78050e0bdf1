"""The Celery application: at-least-once delivery, many jobs per process on its event loop, events on.

The thread pool gives each job a thread that blocks until the job ends on the process's event loop
(`worker.runtime`), so `acks_late` acknowledges a message only once its job has ended.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

import forest.models  # noqa: F401  (every mapper must be known before the first query)
from forest.config import Settings, get_settings
from forest.filemodes import protect_sqlite
from forest.logs import install_log_redaction
from forest.worker.broker import CRAWL_QUEUE, WEBHOOK_QUEUE


def make_celery(settings: Settings) -> Celery:
    """A Celery app for these settings (the API uses it to send, workers to run)."""
    protect_sqlite(settings.broker_url, settings.var_dir)  # the embedded broker's file: owner-only
    app = Celery("forest", broker=settings.broker_url, include=["forest.worker.tasks"])
    visibility = settings.crawl_time_limit_seconds * 2 + 600
    # The SQLAlchemy transport hands its options to create_engine; only Redis takes a visibility timeout.
    transport: dict[str, Any] = {} if settings.broker_url.startswith("sqla+") else {"visibility_timeout": visibility}
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Prefetch 1 per thread: a process holds at most as many messages as it runs jobs.
        worker_prefetch_multiplier=1,
        worker_pool="forest.worker.pool:TaskPool",
        worker_concurrency=settings.worker_crawls_per_process,
        task_default_queue=CRAWL_QUEUE,
        task_routes={"forest.webhook": {"queue": WEBHOOK_QUEUE}},
        task_ignore_result=True,
        task_track_started=False,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        task_publish_retry=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "run-schedules": {"task": "forest.schedule", "schedule": 15.0},
            "sweep-webhooks": {"task": "forest.webhooks.sweep", "schedule": 30.0},
        },
    )
    app.conf.broker_transport_options = transport
    return app


install_log_redaction()  # worker and beat: webhook URLs may carry a receiver's `?token=`
# httpx logs every request at INFO ("HTTP Request: GET ..."): a line per crawled page, 20,000 in a 3-minute fleet
# run and 3 % of a worker's CPU (py-spy, bench/fleet). A page that fails reaches the job's errors instead.
logging.getLogger("httpx").setLevel(logging.WARNING)
celery = make_celery(get_settings())

