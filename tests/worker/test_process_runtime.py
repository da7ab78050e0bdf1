"""A worker process's runtime: one loop that many task threads share, a transport that outlives its clients, a
resolver that remembers answers for a while."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import CancelledError, ThreadPoolExecutor

import httpx
import pytest

from forest.config import Settings
from forest.demo_site.testing import DemoSite, running_demo_site
from forest.worker import runtime
from forest.worker.runtime import CachedResolver, ProcessRuntime
from tests.conftest import make_settings


class _NeverSent:
    """The job queue of these runtimes: nothing should be re-queued here."""

    async def send(self, job_id: uuid.UUID, task_id: str) -> None:
        raise AssertionError(f"nothing should be re-queued here ({job_id})")

    async def revoke(self, task_id: str) -> None:
        return None


_never_sent = _NeverSent()


@pytest.fixture
def board() -> Iterator[DemoSite]:
    """A small demo board."""
    with running_demo_site(notices=5, seed=2) as site:
        yield site


@pytest.fixture
def process(settings: Settings, board: DemoSite) -> Iterator[ProcessRuntime]:
    """A runtime as a worker process starts it, allowed to reach the board."""
    allowed = make_settings(settings.database_url, settings.var_dir,
                            crawl_allow_hosts=[board.base_url.removeprefix("http://")])
    rt = ProcessRuntime(allowed, _never_sent)
    try:
        yield rt
    finally:
        rt.close()


def test_task_threads_share_one_loop_and_wait_concurrently(process: ProcessRuntime) -> None:
    async def job() -> int:
        await asyncio.sleep(0.5)  # a crawl waiting on a board
        return id(asyncio.get_running_loop())

    start = time.monotonic()
    with ThreadPoolExecutor(20) as threads:
        loops = list(threads.map(lambda _: process.run(job()), range(20)))
    assert set(loops) == {id(process.loop)}
    assert time.monotonic() - start < 2.5  # 20 x 0.5 s one after another would be 10 s


def test_crawl_transport_outlives_each_client(process: ProcessRuntime, board: DemoSite) -> None:
    async def fetch() -> int:
        async with httpx.AsyncClient(transport=process.crawl_transport) as client:  # closed at the end
            return (await client.get(board.url("/robots.txt"))).status_code

    assert [process.run(fetch()) for _ in range(3)] == [200, 200, 200]


def test_runtime_belongs_to_its_process(settings: Settings) -> None:
    first = runtime.get(settings, _never_sent)
    pid = first.pid
    try:
        assert runtime.get(settings, _never_sent) is first
        first.pid = -1  # as a forked child sees its parent's runtime
        second = runtime.get(settings, _never_sent)
        assert second is not first and second.loop is not first.loop and second.pid == pid
    finally:
        first.pid = pid
        first.close()
        runtime.shutdown()


async def test_resolver_remembers_answers_for_its_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def system(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(runtime, "system_resolver", system)
    resolve = CachedResolver(ttl=0.3)
    assert await resolve("board.example", 80) == await resolve("board.example", 80) == ["127.0.0.1"]
    assert calls == ["board.example"]
    await asyncio.sleep(0.35)
    await resolve("board.example", 80)
    assert calls == ["board.example", "board.example"]


def test_abandon_returns_every_waiting_thread(process: ProcessRuntime) -> None:
    started = threading.Semaphore(0)

    async def crawl() -> None:
        started.release()
        await asyncio.sleep(3600)

    with ThreadPoolExecutor(4) as threads:
        waiting = [threads.submit(process.run, crawl()) for _ in range(3)]
        for _ in waiting:
            assert started.acquire(timeout=5)
        process.abandon()  # a cold shutdown: the pool's threads must not wait an hour
        late = threads.submit(process.run, crawl())  # handed over as the shutdown began
        for future in [*waiting, late]:
            with pytest.raises(CancelledError):
                future.result(timeout=5)
