"""One crawl in its own process through a Redis host schedule (run by test_crawler_hosts, like a worker would)."""

from __future__ import annotations

import asyncio
import json
import sys

from forest.crawler.engine import CrawlConfig, crawl
from forest.crawler.hosts import RedisSchedule
from forest.crawler.memory import MemoryStore


async def main(redis_url: str, prefix: str, start_url: str, host: str, delay: float, pages: int) -> None:
    schedule = RedisSchedule(redis_url, prefix=prefix + "host:",
                             stats_keys=(prefix + "requests", prefix + "wait", prefix + "throttled"))
    config = CrawlConfig(start_url=start_url, preset="demo_board", allow_hosts=[host], delay_seconds=delay,
                         max_pages=pages, fetch_details=False, incremental=False, backoff_base=0.01,
                         host_schedule=schedule)
    result = await crawl(config, MemoryStore())
    await schedule.aclose()
    print(json.dumps({"pages": result.progress.pages_done, "error": result.error}))


if __name__ == "__main__":
    url, prefix, start, host, delay, pages = sys.argv[1:7]
    asyncio.run(main(url, prefix, start, host, float(delay), int(pages)))
