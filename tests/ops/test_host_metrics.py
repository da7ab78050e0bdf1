"""Per-host crawl counters on /metrics: the fleet's from Redis (PostgreSQL deployments), the process's on SQLite."""

from __future__ import annotations

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from forest.config import Settings
from forest.crawler.engine import CrawlConfig, crawl
from forest.crawler.hosts import STATS_KEYS, process_schedule
from forest.crawler.memory import MemoryStore
from forest.demo_site.testing import running_demo_site


def host_samples(text: str, host: str) -> dict[str, float]:
    """The samples of the per-host families for one host."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("forest_crawl_host_") and sample.labels.get("host") == host:
                out[sample.name] = sample.value
    return out


async def test_metrics_count_requests_waits_and_throttling_per_host(client: httpx.AsyncClient,
                                                                    settings: Settings) -> None:
    if settings.redis_url:
        redis.Redis.from_url(settings.redis_url).delete(*STATS_KEYS)
    with running_demo_site(notices=30, seed=2) as demo:
        host = demo.base_url.removeprefix("http://")
        demo.board.set_fault("rate_limited", remaining=1, path_prefix="/kfs/bid")  # 429, Retry-After: 1
        config = CrawlConfig(start_url=demo.url("/kfs/bid/list.do"), preset="demo_board", allow_hosts=[host],
                             delay_seconds=0.05, max_pages=2, fetch_details=False, backoff_base=0.01,
                             host_schedule=process_schedule(settings.redis_url))
        result = await crawl(config, MemoryStore())
        sent = sum(demo.board.request_counts.values())
    assert not result.failed and sent == 4  # robots.txt, the refused page 1, page 1 again, page 2
    r = await client.get("/metrics")
    assert r.status_code == 200
    samples = host_samples(r.text, host)
    assert samples["forest_crawl_host_requests_total"] == sent
    assert samples["forest_crawl_host_throttled_total"] == 1
    assert samples["forest_crawl_host_wait_seconds_total"] >= 0.9  # page 1's retry waited out the Retry-After
