"""One event loop per worker process, and what lives on it: the database, the publisher, the HTTP transports.

Celery's thread pool runs each task on a thread that hands its coroutine to this loop and blocks until
it ends (`ProcessRuntime.run`), so a task returns, and with `acks_late` is acknowledged, only once its
job has ended, while all the process's crawls share one loop, one connection pool and one transport.
The loop also runs the process's watch of its crawls (heartbeat, cancel; `crawls.watch`), the reaper
and the report the API's `/metrics` reads. See docs/jobs.md, "Worker processes".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

from forest.alerts import webhooks
from forest.config import Settings
from forest.crawler.egress import EgressPolicy, PinnedTransport, system_resolver
from forest.crawler.hosts import process_schedule
from forest.crawls import lifecycle, runner
from forest.crawls.runner import JobContext
from forest.crawls.watch import RunningJobs, heartbeat_interval
from forest.database import Database
from forest.events import Publisher
from forest.worker import fleet

log = logging.getLogger(__name__)
T = TypeVar("T")
# The worker's pool: enough connections that a burst of page writes does not queue for long, few enough
# that processes x pool stays well inside PostgreSQL's default 100 connections. A crawl holds one only
# while it writes, so the wait for one is bounded generously instead of failing the crawl.
DB_POOL_MAX = 20
DB_POOL_TIMEOUT_SECONDS = 30.0


class SharedTransport(httpx.AsyncBaseTransport):
    """A process's transport lent to many clients: a client closing does not close it (`shutdown` does)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the shared transport (its connections are kept per host and checked address)."""
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Nothing: other clients still use it."""

    async def shutdown(self) -> None:
        """Close the connections for good."""
        await self._inner.aclose()


class CachedResolver:
    """The system resolver with each answer kept for `ttl` seconds, for a process's shared crawl transport.

    A crawl's own policy resolves each host once per crawl; the process's transport serves every crawl for
    the process's life, so it keeps answers a minute instead: a board's host is not looked up on every
    request, and a host that moves is followed within a minute. Every request is still checked against
    the policy with the addresses it is given.
    """

    def __init__(self, ttl: float = 60.0, max_hosts: int = 10_000) -> None:
        self.ttl = ttl
        self.max_hosts = max_hosts
        self._answers: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        """The addresses of `host`, from the cache while fresh."""
        now = time.monotonic()
        cached = self._answers.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        addresses = await system_resolver(host, port)
        if len(self._answers) >= self.max_hosts:
            self._answers.clear()
        self._answers[(host, port)] = (now + self.ttl, addresses)
        return addresses


def reap_interval(settings: Settings) -> float:
    """Seconds between passes of a process's reaper: a quarter of the heartbeat timeout, at most 5 s."""
    return min(5.0, max(1.0, settings.job_heartbeat_timeout_seconds / 4))


class ProcessRuntime:
    """The event loop of one worker process (on its own thread) and the objects that belong to it."""

    def __init__(self, settings: Settings, queue: lifecycle.JobQueue) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self._queue = queue
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="forest-loop", daemon=True)
        self._thread.start()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = threading.RLock()  # also taken from a signal handler (abandon)
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._abandoned = False
        self.run(self._open())

    async def _open(self) -> None:
        settings = self.settings
        pool: dict[str, Any] = {} if settings.is_sqlite else {
            "pool_size": min(DB_POOL_MAX, settings.worker_crawls_per_process), "max_overflow": 0,
            "pool_timeout": DB_POOL_TIMEOUT_SECONDS}
        self.db = Database.from_settings(settings, **pool)
        self.publisher = Publisher(settings.redis_url)
        self.crawl_transport = SharedTransport(PinnedTransport(EgressPolicy(settings.crawl_allow_hosts,
                                                                            resolver=CachedResolver())))
        self.webhook_transport = SharedTransport(PinnedTransport(webhooks.egress_policy(settings)))
        self.running = RunningJobs(self.db, settings)
        self.context = JobContext(db=self.db, publisher=self.publisher, running=self.running,
                                  transport=self.crawl_transport)
        self.report = fleet.WorkerReport(settings, capacity=settings.worker_crawls_per_process)
        self._tasks = [asyncio.create_task(self.running.serve()), asyncio.create_task(self._reap_forever()),
                       asyncio.create_task(self._report_forever())]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the process's loop and wait for its result (from a task's thread)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        with self._lock:
            self._pending.add(future)
            if self._abandoned:  # a cold shutdown began while this job was handed over
                future.cancel()
        try:
            return future.result()
        finally:
            with self._lock:
                self._pending.discard(future)

    def abandon(self) -> None:
        """Cancel every coroutine a task waits on (a cold shutdown): the tasks' threads return at once.

        A crawl cancelled this way writes nothing more; its attempt stops heart-beating with the process,
        and the reaper delivers it again, as after a kill.
        """
        with self._lock:
            self._abandoned = True
            pending = list(self._pending)
        for future in pending:
            future.cancel()

    async def _reap_forever(self) -> None:
        # Every worker process reaps, on its own loop: no queue of busy crawl slots stands between a dead
        # worker's jobs and their next delivery. Two reapers at once are safe (each re-queue is a guarded
        # UPDATE). The jitter keeps the processes started together from passing together.
        every = reap_interval(self.settings)
        await asyncio.sleep(random.uniform(0, every))
        while True:
            try:
                requeued = await runner.reap(self.settings, self._queue, context=self.context)
                if requeued:
                    log.warning("re-queued %d jobs whose worker was lost or whose delivery never started: %s",
                                len(requeued), ", ".join(map(str, requeued)))
            except Exception:  # the database is away; the next pass tries again
                log.warning("reaper pass failed", exc_info=True)
            await asyncio.sleep(every)

    async def _report_forever(self) -> None:
        every = heartbeat_interval(self.settings)
        while True:
            try:
                hosts = None if self.settings.redis_url else await process_schedule(None).stats()
                await self.report.write(running=len(self.running), hosts=hosts)
            except Exception:  # metrics only
                log.debug("could not write the worker report", exc_info=True)
            await asyncio.sleep(every)

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a task stuck in a client's clean-up (a Redis write being torn down) must not hold the
            # shutdown; whatever it was doing is only metrics or a pass the next process repeats.
            await asyncio.wait(self._tasks, timeout=3)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3):
                await self.report.remove()
        await self.crawl_transport.shutdown()
        await self.webhook_transport.shutdown()
        await self.publisher.close()
        await self.db.dispose()

    def close(self) -> None:
        """Stop the background work, close every connection and stop the loop."""
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)


_lock = threading.RLock()
_runtime: ProcessRuntime | None = None


def get(settings: Settings, queue: lifecycle.JobQueue) -> ProcessRuntime:
    """This process's runtime, started on first use; a forked child starts its own (nothing crosses a fork)."""
    global _runtime
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = ProcessRuntime(settings, queue)
        return _runtime


def abandon() -> None:
    """Cancel the jobs this process's runtime runs, if it started one (a cold shutdown)."""
    with _lock:
        current = _runtime
    if current is not None and current.pid == os.getpid():
        current.abandon()


def shutdown() -> None:
    """Close this process's runtime, if it started one."""
    global _runtime
    with _lock:
        current, _runtime = _runtime, None
    if current is not None and current.pid == os.getpid():
        current.close()
