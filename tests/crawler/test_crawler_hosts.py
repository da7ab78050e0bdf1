"""Per-host politeness shared between crawls, processes and (through Redis) machines, measured at the board."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from statistics import median

import pytest
import redis
from crawler_support import demo_config, demo_host

from forest.config import Settings
from forest.crawler.engine import crawl
from forest.crawler.hosts import HostSchedule, MemorySchedule, RedisSchedule, process_schedule
from forest.crawler.memory import MemoryStore
from forest.demo_site.testing import DemoSite, running_demo_site
from forest.sources.crawling import crawl_config
from forest.sources.models import Source
from tests.conftest import REDIS_URL

CHILD = Path(__file__).with_name("hosts_child.py")
ROOT = Path(__file__).resolve().parents[2]
DELAY = 0.2
# Two boards of the demo host (the same notices in two encodings), three crawls.
BOARDS = ("/kfs/bid/list.do", "/euckr/bid/list.do", "/kfs/bid/list.do")


def gaps(arrivals: list[tuple[float, str]]) -> list[float]:
    """Seconds between consecutive requests the board received."""
    times = sorted(t for t, _ in arrivals)
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.fixture
async def redis_schedule() -> AsyncIterator[tuple[str, RedisSchedule]]:
    """A key prefix of this test's own in the test Redis DB, and a schedule on it; the keys are deleted after."""
    prefix = f"forest:test:{uuid.uuid4().hex[:8]}:"
    schedule = redis_schedule_on(prefix)
    yield prefix, schedule
    await schedule.aclose()
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def redis_schedule_on(prefix: str) -> RedisSchedule:
    """A schedule on the test Redis DB under `prefix` (as a separate process would build it)."""
    return RedisSchedule(REDIS_URL, prefix=prefix + "host:",
                         stats_keys=(prefix + "requests", prefix + "wait", prefix + "throttled"))


def fast(demo: DemoSite, path: str, schedule: HostSchedule | None, **overrides: object):  # type: ignore[no-untyped-def]
    """A polite crawl of one of the demo host's boards, list pages only."""
    values: dict[str, object] = {"delay_seconds": DELAY, "max_pages": 4, "fetch_details": False,
                                 "incremental": False, "host_schedule": schedule}
    values.update(overrides)
    return demo_config(demo, path, **values)


async def test_crawls_sharing_the_process_schedule_keep_the_hosts_delay(demo: DemoSite) -> None:
    shared = MemorySchedule()
    results = await asyncio.gather(*(crawl(fast(demo, path, shared), MemoryStore())
                                     for path in BOARDS))
    assert all(not r.failed and r.progress.pages_done == 4 for r in results)
    arrivals = demo.board.arrivals()
    assert len(arrivals) == 3 * 5  # robots.txt and 4 list pages each
    assert min(gaps(arrivals)) >= DELAY
    stats = (await shared.stats())[demo_host(demo)]
    assert stats.requests == 15 and stats.wait_seconds > 0


async def test_crawls_with_schedules_of_their_own_break_the_hosts_delay(demo: DemoSite) -> None:
    # The check above can fail: three crawls each keeping its own pace (the old per-crawl politeness) are
    # each polite alone, and together hit the host three times as often.
    results = await asyncio.gather(*(crawl(fast(demo, path, None), MemoryStore())
                                     for path in BOARDS))
    assert all(not r.failed for r in results)
    assert min(gaps(demo.board.arrivals())) < DELAY / 2


async def test_two_processes_on_one_host_keep_its_delay(demo: DemoSite,
                                                        redis_schedule: tuple[str, RedisSchedule]) -> None:
    prefix, schedule = redis_schedule
    children = [subprocess.Popen([sys.executable, str(CHILD), REDIS_URL, prefix, demo.url(path), demo_host(demo),
                                  str(DELAY), "5"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for path in ("/kfs/bid/list.do", "/euckr/bid/list.do")]
    outputs = [child.communicate(timeout=60) for child in children]
    assert all(child.returncode == 0 for child in children), [err.decode()[-2000:] for _, err in outputs]
    assert [json.loads(out)["pages"] for out, _ in outputs] == [5, 5]
    arrivals = demo.board.arrivals()
    assert len(arrivals) == 12
    paths = {p for _, p in arrivals}
    assert {"/kfs/bid/list.do", "/euckr/bid/list.do"} <= paths
    # Interleaved, not one after the other: both processes were crawling at the same time.
    order = [p for _, p in sorted(arrivals) if p != "/robots.txt"]
    assert order != sorted(order)
    assert min(gaps(arrivals)) >= DELAY
    stats = await schedule.stats()
    assert stats[demo_host(demo)].requests == 12


async def test_retry_after_from_one_board_slows_every_crawl_of_the_host(
        demo: DemoSite, redis_schedule: tuple[str, RedisSchedule]) -> None:
    prefix, schedule = redis_schedule
    other = redis_schedule_on(prefix)  # a second client, as another worker process has
    # The euckr board answers its first list page with 429 and Retry-After: 1; the kfs board never does.
    demo.board.set_fault("rate_limited", remaining=1, path_prefix="/euckr/bid")
    try:
        results = await asyncio.gather(
            crawl(fast(demo, "/kfs/bid/list.do", schedule, delay_seconds=0.05, max_pages=12), MemoryStore()),
            crawl(fast(demo, "/euckr/bid/list.do", other, delay_seconds=0.05, max_pages=2), MemoryStore()))
    finally:
        await other.aclose()
    assert all(not r.failed for r in results), [r.error for r in results]
    arrivals = sorted(demo.board.arrivals())
    euckr = [t for t, p in arrivals if p.startswith("/euckr/bid")]
    refused_at = euckr[0]  # the 429
    after = [(t, p) for t, p in arrivals if t > refused_at]
    assert after, "the kfs crawl had finished before the 429: nothing to slow down"
    assert any(p.startswith("/kfs/bid") for _, p in after)
    # Nothing reached the host, from either crawl, until the second asked for had passed.
    assert after[0][0] - refused_at >= 1.0
    assert min(gaps(arrivals)) >= 0.05
    stats = (await schedule.stats())[demo_host(demo)]
    assert stats.throttled == 1


async def test_a_larger_robots_crawl_delay_wins_over_the_source_delay(demo: DemoSite) -> None:
    demo.board.robots_txt = "User-agent: *\nCrawl-delay: 0.4\n"
    shared = MemorySchedule()
    results = await asyncio.gather(*(crawl(fast(demo, path, shared, delay_seconds=0.1, max_pages=3), MemoryStore())
                                     for path in ("/kfs/bid/list.do", "/euckr/bid/list.do")))
    assert all(not r.failed for r in results)
    arrivals = sorted(demo.board.arrivals())
    assert len(arrivals) == 8
    # Only the second crawl's robots.txt request may follow the first at the source's 0.1 s: the
    # Crawl-delay is not known to anyone until the first robots.txt has been read.
    second_robots = [k for k, (_, p) in enumerate(arrivals) if p == "/robots.txt"][1]
    later = [g for k, g in enumerate(gaps(arrivals), start=1) if k != second_robots]
    assert min(later) >= 0.4
    assert min(gaps(arrivals)) >= 0.1


async def test_a_host_with_many_boards_does_not_slow_another_host(demo: DemoSite) -> None:
    shared = MemorySchedule()
    with running_demo_site(notices=60, seed=3, host="127.0.0.2") as other:
        allow = [demo_host(demo), demo_host(other)]
        busy = [crawl(fast(demo, path, shared, allow_hosts=allow, delay_seconds=0.1, max_pages=3), MemoryStore())
                for path in BOARDS * 2]
        started = time.monotonic()

        async def lone() -> float:
            result = await crawl(fast(other, "/kfs/bid/list.do", shared, allow_hosts=allow, delay_seconds=0.1,
                                      max_pages=3), MemoryStore())
            assert not result.failed
            return time.monotonic() - started

        lone_task = asyncio.create_task(lone())
        await asyncio.gather(*busy)
        lone_seconds = await lone_task
        busy_seconds = time.monotonic() - started
        other_gaps = gaps(other.board.arrivals())
    # 6 crawls x 4 requests on the busy host take >= 2.3 s; the other host's 4 go at their own pace.
    assert busy_seconds >= 23 * 0.1
    assert lone_seconds < 4 * 0.1 + 0.8
    assert median(other_gaps) < 0.2


def test_workers_share_one_schedule_per_process_in_redis_or_memory(tmp_path: Path) -> None:
    embedded = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/f.db", var_dir=tmp_path, redis_url=None)
    fleet = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/f.db", var_dir=tmp_path, redis_url=REDIS_URL)
    url = "http://127.0.0.1:8001/kfs/bid/list.do"
    source = Source(name="board", start_url=url, preset="demo_board", polite=True, delay_seconds=1.0,
                    timezone="Asia/Seoul")
    local = crawl_config(embedded, None, url=url, max_pages=3).host_schedule
    assert isinstance(local, MemorySchedule)
    assert crawl_config(embedded, source, url=url, max_pages=3).host_schedule is local is process_schedule(None)
    shared = crawl_config(fleet, source, url=url, max_pages=3).host_schedule
    assert crawl_config(fleet, None, url=url, max_pages=3).host_schedule is shared
    assert isinstance(shared, RedisSchedule) and shared.url == REDIS_URL


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_free_host_begins_with_its_reservation_and_a_busy_one_still_waits_its_delay(
        kind: str, redis_schedule: tuple[str, RedisSchedule]) -> None:
    schedule: MemorySchedule | RedisSchedule = MemorySchedule() if kind == "memory" else redis_schedule[1]
    steps: list[str] = []
    reserve, begin = schedule._reserve, schedule._begin

    async def counted_reserve(host: str, delay: float, timeout: float) -> float:
        steps.append("reserve")
        return await reserve(host, delay, timeout)

    async def counted_begin(host: str, delay: float, timeout: float, waited: float) -> float:
        steps.append("begin")
        return await begin(host, delay, timeout, waited)

    schedule._reserve, schedule._begin = counted_reserve, counted_begin  # type: ignore[method-assign]
    host = f"free-{kind}:80"
    async with schedule.turn(host, 0.2, timeout=5):
        first = time.monotonic()
    assert steps == ["reserve"]  # the host was free: no separate begin
    steps.clear()
    async with schedule.turn(host, 0.2, timeout=5):
        second = time.monotonic()
    assert steps[0] == "reserve" and "begin" in steps  # the slot was 0.2 s away: reserved, slept, confirmed
    assert second - first >= 0.2
    await asyncio.sleep(0.25)
    steps.clear()
    async with schedule.turn(host, 0.2, timeout=5):
        pass
    assert steps == ["reserve"]  # free again once the delay has passed since the end
    # Two crawls at once on a free host: one begins at once, the other waits for the end plus the delay.
    times: list[float] = []

    async def one() -> None:
        async with schedule.turn(host, 0.2, timeout=5):
            times.append(time.monotonic())
            await asyncio.sleep(0.1)
        times.append(time.monotonic())

    await asyncio.sleep(0.25)
    await asyncio.gather(one(), one())
    assert times[2] - times[1] >= 0.2  # the second started 0.2 s after the first ended
    stats = await schedule.stats()
    assert stats[host].requests == 5
