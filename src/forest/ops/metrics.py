"""Prometheus metrics: requests labelled by route template (never by raw path), and the crawl fleet."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forest.config import Settings
from forest.crawls.models import CrawlJob
from forest.database import Database

log = logging.getLogger(__name__)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter("forest_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "forest_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class MetricsMiddleware:
    """Counts requests and observes latency per (method, route template, status)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The label children per (method, route template, status): a bounded set (templates, not paths), looked
        # up here without prometheus_client's lock and label checks on every request.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "other"  # a client picks any token
            key = (method, template, status)
            children = self._children.get(key)
            if children is None:
                labels = (key[0], template, str(status))
                children = self._children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
            children[0].inc()
            children[1].observe(time.perf_counter() - start)


# The crawl fleet, read when /metrics is scraped: the workers' own reports (forest.worker.fleet) and the jobs
# table. Every API process answers the same values; the labels name worker processes, never jobs.
WORKERS = Gauge("forest_workers", "Live worker processes (those that reported within three heartbeats)")
WORKER_CRAWLS_RUNNING = Gauge("forest_worker_crawls_running", "Crawl jobs a worker process runs now", ["worker"])
WORKER_CRAWLS_CAPACITY = Gauge("forest_worker_crawls_capacity", "Crawl jobs a worker process may run at once",
                               ["worker"])
CRAWL_JOBS = Gauge("forest_crawl_jobs", "Crawl jobs queued or running, from the database", ["state"])
FLEET_TIMEOUT_SECONDS = 2.0


async def refresh_fleet(settings: Settings, db: Database) -> None:
    """Read the workers' reports and count the active jobs into the fleet gauges (best effort, bounded)."""
    from forest.worker import fleet

    try:
        async with asyncio.timeout(FLEET_TIMEOUT_SECONDS):
            states = await fleet.read(settings)
        WORKER_CRAWLS_RUNNING.clear()
        WORKER_CRAWLS_CAPACITY.clear()
        for state in states:
            WORKER_CRAWLS_RUNNING.labels(state.worker).set(state.running)
            WORKER_CRAWLS_CAPACITY.labels(state.worker).set(state.capacity)
        WORKERS.set(len(states))
    except Exception:  # Redis away: the other metrics are still worth answering
        log.warning("could not read the worker reports", exc_info=True)
    try:
        async with asyncio.timeout(FLEET_TIMEOUT_SECONDS), db.sessionmaker() as session:
            counts = dict((await session.execute(
                select(CrawlJob.state, func.count()).where(CrawlJob.state.in_(("queued", "running")))
                .group_by(CrawlJob.state))).tuples().all())
        for name in ("queued", "running"):
            CRAWL_JOBS.labels(name).set(counts.get(name, 0))
    except Exception:  # the database away: /readyz says so
        log.warning("could not count the active crawl jobs", exc_info=True)
