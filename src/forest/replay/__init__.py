"""Access recording and open-loop traffic replay for load testing a Forest API."""

from __future__ import annotations

from forest.replay.entries import ReplayEntry, read_log
from forest.replay.recording import AccessLogMiddleware
from forest.replay.report import RouteComparison, compare
from forest.replay.runner import TargetNotAllowed, replay
from forest.replay.stats import RouteStats, RunResult
from forest.replay.synthetic import synthetic_entries

__all__ = [
    "AccessLogMiddleware",
    "ReplayEntry",
    "RouteComparison",
    "RouteStats",
    "RunResult",
    "TargetNotAllowed",
    "compare",
    "read_log",
    "replay",
    "synthetic_entries",
]
