"""Per-host crawl politeness counters on `/metrics`: requests, seconds waited for a turn, 429/503 answers.

With Redis the counters are the fleet's (every worker process adds to the same hashes, see
forest.crawler.hosts), so any API process shows them all. Without it (the embedded default) each process keeps its
own schedule: the API adds the counters the live worker processes write with their reports (forest.worker.fleet)
to its own, so a worker that stops takes its counts with it (Prometheus reads the drop as a counter reset).
At most `forest.crawler.hosts.MAX_HOST_LABELS` hosts are named; further hosts are summed as `host="other"`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from forest.config import Settings
from forest.crawler.hosts import HostStats, process_schedule
from forest.worker import fleet

log = logging.getLogger(__name__)
STATS_TIMEOUT_SECONDS = 1.0


class _Snapshot(Collector):
    """The counters read once for one scrape."""

    def __init__(self, stats: Mapping[str, HostStats]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("forest_crawl_host_requests", "Crawl requests sent, per host (host:port)",
                                       labels=["host"])
        waits = CounterMetricFamily("forest_crawl_host_wait_seconds",
                                    "Seconds crawl requests waited for their host's turn", labels=["host"])
        throttled = CounterMetricFamily("forest_crawl_host_throttled",
                                        "429 and 503 answers received, per host", labels=["host"])
        for host, s in sorted(self.stats.items()):
            requests.add_metric([host], s.requests)
            waits.add_metric([host], s.wait_seconds)
            throttled.add_metric([host], s.throttled)
        yield from (requests, waits, throttled)


async def host_metrics(settings: Settings) -> bytes:
    """The per-host counters in the Prometheus text format (empty if Redis does not answer in time)."""
    schedule = process_schedule(settings.redis_url)
    try:
        async with asyncio.timeout(STATS_TIMEOUT_SECONDS):
            stats = await schedule.stats()
            if not settings.redis_url:
                stats = _summed([stats, *[w.hosts for w in await fleet.read(settings) if w.hosts]])
    except Exception:  # metrics must not fail the scrape: the process's own metrics still go out
        log.warning("per-host crawl metrics unavailable", exc_info=True)
        return b""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(stats))
    return generate_latest(registry)


def _summed(parts: list[dict[str, HostStats]]) -> dict[str, HostStats]:
    out: dict[str, HostStats] = {}
    for part in parts:
        for host, s in part.items():
            had = out.get(host, HostStats())
            out[host] = HostStats(had.requests + s.requests, had.wait_seconds + s.wait_seconds,
                                  had.throttled + s.throttled)
    return out
