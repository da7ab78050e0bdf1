"""What a replay measures: latency histograms and outcome counts per route (`RouteStats`) and per run (`RunResult`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

# Latencies are recorded in microseconds from 1 µs to one hour with 3 significant digits (0.1 % error).
HISTOGRAM_LOWEST_US = 1
HISTOGRAM_HIGHEST_US = 3_600_000_000
HISTOGRAM_DIGITS = 3

#: Percentiles reported for every route, as (label, percentile).
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


def new_histogram() -> HdrHistogram:
    """Return an empty latency histogram (microseconds)."""
    return HdrHistogram(HISTOGRAM_LOWEST_US, HISTOGRAM_HIGHEST_US, HISTOGRAM_DIGITS)


@dataclass
class RouteStats:
    """Latency histogram and outcome counts of one route (or of the whole run)."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    responses: int = 0
    client_errors: int = 0
    server_errors: int = 0
    network_errors: int = 0

    @property
    def requests(self) -> int:
        """Requests that finished, with a response or a network error."""
        return self.responses + self.network_errors

    @property
    def errors(self) -> int:
        """Server errors (status ≥ 500) plus network errors."""
        return self.server_errors + self.network_errors

    def record_response(self, status: int, latency_s: float) -> None:
        """Count one HTTP response and its latency."""
        self.responses += 1
        if status >= 500:
            self.server_errors += 1
        elif status >= 400:
            self.client_errors += 1
        micros = min(max(round(latency_s * 1_000_000), HISTOGRAM_LOWEST_US), HISTOGRAM_HIGHEST_US)
        self.histogram.record_value(micros)

    def record_network_error(self) -> None:
        """Count one request that got no response (refused, reset, timed out)."""
        self.network_errors += 1

    def merge(self, other: RouteStats) -> None:
        """Add another route's counts and latencies to this one."""
        self.histogram.add(other.histogram)
        self.responses += other.responses
        self.client_errors += other.client_errors
        self.server_errors += other.server_errors
        self.network_errors += other.network_errors

    def percentile_ms(self, percentile: float) -> float:
        """Latency at ``percentile`` (0..100) in milliseconds; 0 without responses."""
        if self.histogram.get_total_count() == 0:
            return 0.0
        return float(self.histogram.get_value_at_percentile(percentile)) / 1000

    def max_ms(self) -> float:
        """Highest recorded latency in milliseconds."""
        if self.histogram.get_total_count() == 0:
            return 0.0
        return float(self.histogram.get_max_value()) / 1000

    def to_dict(self, elapsed_s: float) -> dict[str, Any]:
        """Summarise as JSON: counts, throughput, percentiles and the encoded histogram."""
        latency = {label: self.percentile_ms(p) for label, p in PERCENTILES}
        latency["max"] = self.max_ms()
        latency["mean"] = float(self.histogram.get_mean_value()) / 1000 if self.histogram.get_total_count() else 0.0
        return {
            "requests": self.requests,
            "responses": self.responses,
            "client_errors": self.client_errors,
            "server_errors": self.server_errors,
            "network_errors": self.network_errors,
            "errors": self.errors,
            "throughput_rps": self.responses / elapsed_s if elapsed_s > 0 else 0.0,
            "latency_ms": latency,
            "histogram": self.histogram.encode().decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouteStats:
        """Rebuild from ``to_dict`` output (the histogram is decoded, not re-estimated)."""
        return cls(
            histogram=HdrHistogram.decode(str(data["histogram"]).encode("ascii")),
            responses=int(data["responses"]),
            client_errors=int(data["client_errors"]),
            server_errors=int(data["server_errors"]),
            network_errors=int(data["network_errors"]),
        )


@dataclass
class RunResult:
    """Everything measured by one replay run."""

    target: str
    speed: float
    concurrency: int
    started_at: str
    elapsed_s: float
    scheduled: int
    routes: dict[str, RouteStats]

    @property
    def overall(self) -> RouteStats:
        """All routes merged."""
        total = RouteStats()
        for stats in self.routes.values():
            total.merge(stats)
        return total

    def throughput(self, stats: RouteStats) -> float:
        """Responses per second of ``stats`` over this run's wall time."""
        return stats.responses / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Serialise for ``--out``; ``compare`` reads it back with ``from_dict``."""
        return {
            "version": 1,
            "target": self.target,
            "speed": self.speed,
            "concurrency": self.concurrency,
            "started_at": self.started_at,
            "elapsed_s": self.elapsed_s,
            "scheduled": self.scheduled,
            "overall": self.overall.to_dict(self.elapsed_s),
            "routes": {key: stats.to_dict(self.elapsed_s) for key, stats in sorted(self.routes.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Rebuild a run saved with ``to_dict``."""
        return cls(
            target=str(data["target"]),
            speed=float(data["speed"]),
            concurrency=int(data["concurrency"]),
            started_at=str(data["started_at"]),
            elapsed_s=float(data["elapsed_s"]),
            scheduled=int(data["scheduled"]),
            routes={str(key): RouteStats.from_dict(value) for key, value in data["routes"].items()},
        )

    def save(self, path: Path) -> None:
        """Write the run as JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> RunResult:
        """Read a run written by ``save``."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "routes" not in data:
            raise ValueError(f"{path}: not a replay run file")
        return cls.from_dict(data)

