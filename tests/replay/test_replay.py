"""Access recording, open-loop replay and run comparison, against a real local HTTP server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from replay_target import Target
from starlette.testclient import TestClient
from typer.testing import CliRunner

from forest.replay import (
    AccessLogMiddleware,
    ReplayEntry,
    RunResult,
    TargetNotAllowed,
    compare,
    read_log,
    replay,
    synthetic_entries,
)
from forest.replay.cli import app as replay_cli
from forest.replay.recording import redact_query
from forest.replay.synthetic import discover_catalog

TIMING_TOLERANCE_S = 0.030
BASE_TS = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def write_log(path: Path, requests: list[tuple[float, str, str, str, str]]) -> Path:
    """Write an access log: (offset s, method, path, query, route) per line, as the middleware does."""
    with path.open("w", encoding="utf-8") as log:
        for offset, method, url_path, query, route in requests:
            ts = (BASE_TS + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            record = {"ts": ts, "method": method, "path": url_path, "query": query, "status": 200}
            log.write(json.dumps(record | {"latency_ms": 1.0, "route": route}) + "\n")
    return path


def evenly(path_and_query: str, count: int, every_s: float) -> list[ReplayEntry]:
    """``count`` GETs of one URL, ``every_s`` apart."""
    path, _, query = path_and_query.partition("?")
    return [ReplayEntry(offset=i * every_s, method="GET", path=path, query=query, route=path) for i in range(count)]


async def read_lines_when_written(path: Path, count: int) -> list[dict[str, Any]]:
    """The log's records once ``count`` lines have been flushed by the middleware."""
    for _ in range(200):
        if path.exists() and len(path.read_text().splitlines()) >= count:
            break
        await asyncio.sleep(0.01)
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- (a) access recording ---------------------------------------------------------------------


async def test_access_log_records_route_status_and_no_secrets(tmp_path: Path) -> None:
    api = FastAPI()

    @api.get("/api/v1/bids/{bid_id}")
    async def get_bid(bid_id: int) -> dict[str, int]:
        return {"id": bid_id}

    @api.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unhandled")

    log_path = tmp_path / "logs" / "access.jsonl"
    app = AccessLogMiddleware(api, log_path)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.get(
            "/api/v1/bids/42?ticket=TICKETVALUE&limit=5&Token=TOKENVALUE&access_token=ATVALUE&password=PWVALUE",
            headers={"Authorization": "Bearer BEARERVALUE", "Cookie": "session=COOKIEVALUE"},
        )
        missing = await client.get("/nowhere?x=1")
        failed = await client.get("/boom")
    assert (ok.status_code, missing.status_code, failed.status_code) == (200, 404, 500)

    records = await read_lines_when_written(log_path, 3)

    raw = log_path.read_text()
    for secret in ("TICKETVALUE", "TOKENVALUE", "ATVALUE", "PWVALUE", "BEARERVALUE", "COOKIEVALUE"):
        assert secret not in raw
    assert [set(record) for record in records] == [
        {"ts", "method", "path", "query", "status", "latency_ms", "route"}
    ] * 3
    first, second, third = records
    assert first | {"ts": None, "latency_ms": None} == {
        "ts": None,
        "latency_ms": None,
        "method": "GET",
        "path": "/api/v1/bids/42",
        "query": "limit=5",
        "status": 200,
        "route": "/api/v1/bids/{bid_id}",
    }
    assert (second["route"], second["status"], second["query"]) == ("/nowhere", 404, "x=1")
    assert (third["route"], third["status"]) == ("/boom", 500)
    for record in records:
        assert record["ts"].endswith("Z") and len(record["ts"].split(".")[1]) == 7
        assert abs(datetime.fromisoformat(record["ts"]) - datetime.now(UTC)) < timedelta(minutes=1)
        assert record["latency_ms"] >= 0


def test_access_log_is_flushed_on_shutdown(tmp_path: Path) -> None:
    api = FastAPI()

    @api.get("/ping")
    async def ping() -> str:
        return "pong"

    log_path = tmp_path / "access.jsonl"
    # A flush interval far beyond the test: only the lifespan shutdown can have written the lines.
    with TestClient(AccessLogMiddleware(api, log_path, flush_interval=3600)) as client:
        assert client.get("/ping?a=1").status_code == 200
        assert client.get("/ping?a=2").status_code == 200
        assert log_path.read_text() == ""

    assert [json.loads(line)["query"] for line in log_path.read_text().splitlines()] == ["a=1", "a=2"]


def test_redact_query_drops_secret_params_and_keeps_the_rest() -> None:
    query = "a=1&TICKET=x&access%5Ftoken=y&b=%EA%B3%B5&password&refresh_token=z&c=2"
    assert redact_query(query) == "a=1&b=%EA%B3%B5&c=2"


def test_access_log_lines_stay_whole_when_processes_share_the_file(tmp_path: Path) -> None:
    log_path = tmp_path / "shared.jsonl"
    writer = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from forest.replay.recording import AppendLog
        log = AppendLog(Path({str(log_path)!r}), flush_interval=0)
        for i in range(400):
            log.append({{"writer": int(sys.argv[1]), "i": i, "pad": "x" * 300}})
            if i % 7 == 0:
                log.flush()
        log.close()
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", writer, str(n)]) for n in range(3)]
    assert [process.wait(timeout=20) for process in processes] == [0] * 3

    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert sorted((r["writer"], r["i"]) for r in records) == [(w, i) for w in range(3) for i in range(400)]


# --- (b) replay sends the recorded requests at the recorded offsets ----------------------------


@pytest.mark.parametrize("speed", [1.0, 2.0])
async def test_replay_sends_recorded_requests_at_recorded_offsets(
    tmp_path: Path, fresh_target: Target, speed: float
) -> None:
    recorded = [
        (0.0, "GET", "/echo/a", "x=1", "/echo/{name}"),
        (0.08, "GET", "/echo/b", "", "/echo/{name}"),
        (0.14, "POST", "/echo/c", "", "/echo/{name}"),
        (0.25, "GET", "/echo/d", "q=%EA%B3%B5%EC%82%AC&page=2", "/echo/{name}"),
        (0.40, "GET", "/echo/e", "", "/echo/{name}"),
    ]
    entries = read_log(write_log(tmp_path / "access.jsonl", recorded))

    result = await replay(entries, target=fresh_target.url, speed=speed, concurrency=4)

    arrivals = fresh_target.arrivals
    assert [(a.method, a.path, a.query) for a in arrivals] == [(m, p, q) for _, m, p, q, _ in recorded]
    for arrival, (offset, *_rest) in zip(arrivals, recorded, strict=True):
        assert arrival.at - arrivals[0].at == pytest.approx(offset / speed, abs=TIMING_TOLERANCE_S)
    assert result.routes["GET /echo/{name}"].responses == 4
    assert result.routes["POST /echo/{name}"].responses == 1
    assert result.scheduled == 5


async def test_replay_duration_stops_scheduling(fresh_target: Target) -> None:
    entries = evenly("/slow?ms=0", 20, 0.05)

    result = await replay(entries, target=fresh_target.url, duration=0.22)

    assert len(fresh_target.arrivals) == 5
    assert result.overall.requests == 5


async def test_replay_follows_next_cursor_for_deep_pages(fresh_target: Target) -> None:
    entry = ReplayEntry(offset=0, method="GET", path="/api/v1/bids", query="limit=2", follow_pages=5)

    result = await replay([entry], target=fresh_target.url)

    assert [a.query for a in fresh_target.arrivals] == ["limit=2", "limit=2&cursor=page1", "limit=2&cursor=page2"]
    assert result.routes["GET /api/v1/bids"].responses == 1
    assert result.routes["GET /api/v1/bids (next page)"].responses == 2


# --- (c) errors are counted ----------------------------------------------------------------------


async def test_replay_counts_server_errors_and_client_errors(fresh_target: Target) -> None:
    entries = [
        *evenly("/fail", 3, 0.01),
        *evenly("/slow?ms=0", 2, 0.01),
        ReplayEntry(offset=0.02, method="GET", path="/missing"),
    ]

    result = await replay(entries, target=fresh_target.url)

    assert (result.routes["GET /fail"].server_errors, result.routes["GET /fail"].errors) == (3, 3)
    assert result.routes["GET /missing"].client_errors == 1
    assert result.routes["GET /slow"].errors == 0
    overall = result.overall
    assert (overall.requests, overall.errors, overall.client_errors) == (6, 3, 1)


async def test_replay_counts_refused_connections_as_errors(closed_port: int) -> None:
    result = await replay(evenly("/slow", 4, 0.01), target=f"http://127.0.0.1:{closed_port}")

    stats = result.routes["GET /slow"]
    assert (stats.network_errors, stats.errors, stats.responses) == (4, 4, 0)


# --- (d) percentiles reflect the server's latency -------------------------------------------------


async def test_replay_percentiles_match_injected_latency(fresh_target: Target) -> None:
    result = await replay(evenly("/slow?ms=100", 20, 0.025), target=fresh_target.url, concurrency=32)

    stats = result.routes["GET /slow"]
    assert stats.responses == 20
    assert 98 <= stats.percentile_ms(50) <= 140
    assert 98 <= stats.percentile_ms(99) <= 180


# --- (e) open loop: queueing delay counts ---------------------------------------------------------


async def test_replay_latency_includes_queueing_when_server_falls_behind(fresh_target: Target) -> None:
    # One request in flight at a time, 200 ms each, one due every 50 ms: the i-th response
    # arrives 200 * (i + 1) ms in, so its latency from its due time is 200 + 150 * i ms.
    result = await replay(evenly("/slow?ms=200", 8, 0.05), target=fresh_target.url, concurrency=1)

    stats = result.routes["GET /slow"]
    assert 195 <= stats.histogram.get_min_value() / 1000 <= 260
    assert stats.percentile_ms(50) >= 550
    assert stats.max_ms() >= 1200


async def test_replay_latency_stays_flat_when_server_keeps_up(fresh_target: Target) -> None:
    result = await replay(evenly("/slow?ms=200", 8, 0.05), target=fresh_target.url, concurrency=8)

    assert result.routes["GET /slow"].max_ms() < 600


# --- (f) compare --------------------------------------------------------------------------------


async def test_compare_flags_real_slowdown_and_not_noise(tmp_path: Path, target: Target) -> None:
    entries = evenly("/slow?ms=100", 30, 0.02)
    target.reset()
    baseline = await replay(entries, target=target.url, concurrency=64)
    target.reset(slowdown=2.0)
    slower = await replay(entries, target=target.url, concurrency=64)
    target.reset()
    again = await replay(entries, target=target.url, concurrency=64)
    baseline.save(tmp_path / "a.json")
    slower.save(tmp_path / "b.json")
    baseline = RunResult.load(tmp_path / "a.json")

    by_route = {row.route: row for row in compare(baseline, slower)}
    assert by_route["GET /slow"].verdict == "slower", by_route["GET /slow"]
    assert 0.6 <= by_route["GET /slow"].p50_change <= 1.3
    assert {row.route: row.verdict for row in compare(slower, baseline)}["GET /slow"] == "faster"
    same = {row.route: row for row in compare(baseline, again)}["GET /slow"]
    assert same.verdict == "no significant change", same

    cli = CliRunner().invoke(
        replay_cli,
        ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--fail-on-slower"],
        env={"COLUMNS": "200"},
    )
    assert cli.exit_code == 1
    assert "slower" in cli.output


# --- (g) loopback only -------------------------------------------------------------------------


async def test_replay_refuses_non_loopback_target(fresh_target: Target) -> None:
    with pytest.raises(TargetNotAllowed):
        await replay(evenly("/slow", 1, 0), target="http://192.0.2.10:8000")
    with pytest.raises(TargetNotAllowed):
        await replay(evenly("/slow", 1, 0), target="http://10.1.2.3")

    result = await replay(evenly("/slow", 1, 0), target=fresh_target.url.replace("127.0.0.1", "localhost"))
    assert result.overall.responses == 1


def test_cli_run_refuses_non_loopback_target() -> None:
    result = CliRunner().invoke(replay_cli, ["run", "synthetic", "--target", "http://192.0.2.10:8000"])

    assert result.exit_code == 2
    assert "refused" in result.output


# --- CLI and synthetic mix ---------------------------------------------------------------------


def test_cli_run_replays_a_log_and_saves_the_run(tmp_path: Path, fresh_target: Target) -> None:
    log = write_log(tmp_path / "access.jsonl", [(i * 0.01, "GET", "/slow", "ms=5", "/slow") for i in range(10)])
    out = tmp_path / "run.json"

    result = CliRunner().invoke(
        replay_cli,
        ["run", str(log), "--target", fresh_target.url, "--speed", "2", "--out", str(out)],
        env={"COLUMNS": "200"},
    )

    assert result.exit_code == 0, result.output
    assert "GET /slow" in result.output
    saved = json.loads(out.read_text())
    assert saved["routes"]["GET /slow"]["responses"] == 10
    assert RunResult.load(out).routes["GET /slow"].histogram.get_total_count() == 10


def test_synthetic_mix_is_poisson_at_the_given_rate_and_reproducible() -> None:
    entries = synthetic_entries(rate=200, duration=10, seed=7)

    assert entries == synthetic_entries(rate=200, duration=10, seed=7)
    assert len(entries) == pytest.approx(2000, rel=0.1)
    mean_gap = entries[-1].offset / (len(entries) - 1)
    assert mean_gap == pytest.approx(1 / 200, rel=0.1)
    keys = {entry.key for entry in entries}
    assert {
        "GET /api/v1/bids",
        "GET /api/v1/bids (deep pages)",
        "GET /api/v1/bids?department",
        "GET /api/v1/bids?views_gte",
        "GET /api/v1/bids?q",
        "GET /api/v1/bids/{bid_id}",
        "GET /api/v1/analytics/high-value-departments",
        "GET /api/v1/analytics/daily-counts",
        "POST /api/v1/crawls",
    } <= keys
    crawl = next(entry for entry in entries if entry.method == "POST")
    assert crawl.body == {"source_id": 1}


async def test_synthetic_catalog_uses_bids_the_target_serves(fresh_target: Target) -> None:
    catalog = await discover_catalog(fresh_target.url)

    assert catalog.bid_ids == (1, 2)
    assert catalog.departments == ("dept-1", "dept-2")
