"""Replay before/after: Forest's synthetic traffic mix against the pre-keyset, crawl-in-request API and today's.

One command: `.venv/bin/python bench/replay_before_after/run.py` (see bench/README.md). It

1. creates a template database `forest_bench_replay_seed` (migrated, 200,000 bids from `forest seed bids`'
   generator, a few seconds) and, for each side, clones it into the scratch database `forest_bench_replay`, so
   both sides start from identical data; both are dropped at the end (`--keep-db` keeps the template for the
   next run);
2. starts the demo board (`boards.py`, a subprocess serving it on 127.0.0.1 and one loopback host per crawl
   source) and, per side, one API process:
   - **before**: `bench/replay_before_after/before_app.py` (LIMIT/OFFSET bid list, crawls run inside
     `POST /api/v1/crawls`),
   - **after**: `forest api` as it is (keyset list, crawls answered 202) plus one `forest worker` (Celery,
     Redis DB 11);
3. replays the same schedule, built by `forest.replay.synthetic.synthetic_entries` (listing, deep pages,
   filters, details, analytics, crawl submissions), open loop with `forest.replay.runner.replay`, against each;
4. compares the runs with `forest.replay.report.compare` (what `forest replay compare` prints) and writes the
   `## Replay before/after` section of bench/RESULTS.md and bench/plots/replay_before_after.png.

Two adaptations of the mix, applied identically to both sides: deep-page walks start at a seeded, uniformly
random depth in the list (the mix's walks start at page 1, where OFFSET costs nothing), expressed as the row
offset for the OFFSET API and as the cursor the keyset API would have issued at that row; and each crawl submission
names its own never-crawled demo-board source (so every crawl does the same work instead of returning an
already-active job or stopping early as an incremental re-crawl), each on its own loopback host (Forest's
politeness schedule is per host across all crawls, so crawls of one host would wait for each other's turns).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import math
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import redis
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.common import PG_ADMIN_DSN, dsn, free_port, machine_with_postgres, pg_url, recreate_db, update_section  # noqa: E402
from bench.jobs.run import cdf  # noqa: E402
from bench.pagination.run import keyset_cursor, wait_ready  # noqa: E402

from forest.bids.models import Bid  # noqa: E402
from forest.bids.seed import seed_bids  # noqa: E402
from forest.cli import migrate  # noqa: E402
from forest.config import Settings  # noqa: E402
from forest.database import Database, utcnow  # noqa: E402
from forest.demo_site.fleet import host_address  # noqa: E402
from forest.replay.entries import ReplayEntry  # noqa: E402
from forest.replay.report import OVERALL, RouteComparison, compare, comparison_table, run_table  # noqa: E402
from forest.replay.runner import replay  # noqa: E402
from forest.replay.stats import RunResult  # noqa: E402
from forest.replay.synthetic import DEFAULT_MIX, Catalog, discover_catalog, synthetic_entries  # noqa: E402
from forest.security import create_access_token  # noqa: E402
from forest.sources.models import Source  # noqa: E402
from forest.users import service as users  # noqa: E402
from tests.plugin import Stack  # noqa: E402  (the process spawning shared with the job tests)

TEMPLATE_DB = "forest_bench_replay_seed"
PG_DB = "forest_bench_replay"
REDIS_URL = os.environ.get("FOREST_BENCH_REPLAY_REDIS_URL", "redis://127.0.0.1:6379/11")
SECRET = "bench-replay-secret-key-0123456789-abcdefghijklmnop"
VAR = ROOT / "var" / "bench-replay-before-after"
RESULTS_HEADING = "## Replay before/after"
PLOT = ROOT / "bench" / "plots" / "replay_before_after.png"

BIDS = 200_000
RATE = 20.0  # offered requests/s (Poisson), the same for both sides
DURATION = 60.0  # seconds of schedule per side
SEED = 1
WARMUP_SECONDS = 5.0
PAGE = 20
DEMO_NOTICES = 2_000
CRAWL_SOURCES = 200  # fresh demo-board sources per clone; crawl submission k uses source k
CRAWL_MAX_PAGES = 1
CRAWL_DELAY_SECONDS = 0.2  # politeness delay between the crawler's requests to the board
DRAIN_TIMEOUT = 90.0  # after the replay, how long to wait for the worker's backlog
ADMIN_EMAIL = "bench-replay@example.com"
DEEP_LABEL = "GET /api/v1/bids (deep pages)"
CRAWL_KEY = "POST /api/v1/crawls"


def settings_for(db: str, allow: list[str]) -> Settings:
    """Settings of the bench process (same database, Redis and secret as the servers)."""
    return Settings(database_url=pg_url(db), var_dir=VAR, secret_key=SECRET, broker_url=REDIS_URL,
                    redis_url=REDIS_URL, crawl_allow_hosts=allow, environment="local")


def worker_slots() -> int:
    """Crawls one worker process runs at once: `FOREST_WORKER_CRAWLS_PER_PROCESS` or Forest's default."""
    default = Settings.model_fields["worker_crawls_per_process"].default
    return int(os.environ.get("FOREST_WORKER_CRAWLS_PER_PROCESS") or default)


def crawl_list_url(k: int, demo_port: int) -> str:
    """The demo board's list page as crawl source `k` reaches it: on its own loopback host."""
    return f"http://{host_address(k)}:{demo_port}/kfs/bid/list.do"


# --- databases -------------------------------------------------------------------------------------------


async def drop_template() -> None:
    """Drop the template database."""
    await recreate_db(TEMPLATE_DB, drop_only=True)


async def prepare_template() -> dict[str, Any]:
    """Create, migrate and seed the template database unless it already holds BIDS bids (kept by --keep-db)."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", TEMPLATE_DB):
            await conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    finally:
        await conn.close()
    settings = settings_for(TEMPLATE_DB, [])
    await asyncio.to_thread(migrate.upgrade, "head", settings)
    seeded = None
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            have = int(await session.scalar(select(func.count()).select_from(Bid)) or 0)
            if have < BIDS:
                report = await seed_bids(session=session, n=BIDS - have, sources=5, seed=SEED)
                seeded = {"rows": report.rows, "seconds": report.seconds}
                print(f"seeded {report.rows:,} bids in {report.seconds:.1f} s", flush=True)
            user = await users.ensure_admin(session=session, email=ADMIN_EMAIL, password="bench-replay-password")
            await session.commit()
            total = int(await session.scalar(select(func.count()).select_from(Bid)) or 0)
        return {"user_id": user.id, "total": total, "seeded": seeded}
    finally:
        await db.dispose()


async def clone(drop_only: bool = False) -> None:
    """(Re)create the scratch database as a copy of the template."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", PG_DB)
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}"')
        if drop_only:
            return
        for attempt in range(10):
            # CREATE DATABASE … TEMPLATE needs the template to have no other connections (autovacuum may visit).
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                               TEMPLATE_DB)
            try:
                await conn.execute(f'CREATE DATABASE "{PG_DB}" TEMPLATE "{TEMPLATE_DB}"')
                return
            except asyncpg.ObjectInUseError:
                if attempt == 9:
                    raise
                await asyncio.sleep(1)
    finally:
        await conn.close()


async def add_crawl_sources(settings: Settings, demo_port: int) -> list[int]:
    """Demo-board sources nobody has crawled yet: each crawl submission gets its own, on its own host."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            now = utcnow()
            rows = [{"name": f"bench-replay-crawl-{k}", "start_url": crawl_list_url(k, demo_port),
                     "preset": "demo_board",
                     "max_pages": CRAWL_MAX_PAGES, "timezone": "Asia/Seoul", "polite": True,
                     "delay_seconds": CRAWL_DELAY_SECONDS, "enabled": False, "created_at": now}
                    for k in range(CRAWL_SOURCES)]
            ids = list((await session.scalars(insert(Source).returning(Source.id), rows)).all())
            await session.commit()
            return ids
    finally:
        await db.dispose()


async def rows_at(depths: list[int]) -> dict[int, tuple[dt.date, int]]:
    """(post_date, id) of the depth-th row (1-based) of the default order, i.e. the row before that depth."""
    conn = await asyncpg.connect(dsn(PG_DB))
    try:
        rows = await conn.fetch(
            "SELECT rn, post_date, id FROM (SELECT post_date, id, row_number() OVER "
            "(ORDER BY post_date DESC, id DESC) AS rn FROM bid) AS t WHERE rn = ANY($1::bigint[])",
            sorted({d for d in depths if d > 0}))
        return {int(r["rn"]): (r["post_date"], int(r["id"])) for r in rows}
    finally:
        await conn.close()


async def job_stats() -> list[dict[str, Any]]:
    """Every crawl job of the scratch database: state and timestamps."""
    conn = await asyncpg.connect(dsn(PG_DB))
    try:
        rows = await conn.fetch("SELECT state, created_at, started_at, finished_at, pages_done, items_seen, error "
                                "FROM crawl_job ORDER BY created_at")
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def active_jobs() -> int:
    """Crawl jobs still queued or running in the scratch database."""
    conn = await asyncpg.connect(dsn(PG_DB))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM crawl_job WHERE state IN ('queued', 'running')"))
    finally:
        await conn.close()


# --- the schedule ----------------------------------------------------------------------------------------


def start_depths(entries: list[ReplayEntry], total: int) -> list[int]:
    """A start depth (rows skipped) for each deep-page walk: a page drawn uniformly from the whole list, seeded."""
    rng = random.Random(SEED + 1000)
    last_start = max(total // PAGE - 10, 1)  # leave room for the walk's 3-6 pages
    return [rng.randrange(last_start) * PAGE for entry in entries if entry.key == DEEP_LABEL]


def side_entries(plan: list[ReplayEntry], side: str, depths: list[int], positions: dict[int, tuple[dt.date, int]],
                 sources: list[int], settings: Settings) -> list[ReplayEntry]:
    """The plan as one side receives it: deep walks start at their depth, each crawl names its own source."""
    out: list[ReplayEntry] = []
    deep = iter(depths)
    crawl = 0
    for entry in plan:
        if entry.key == DEEP_LABEL:
            depth = next(deep)
            if depth:
                if side == "before":
                    cursor = str(depth)
                else:
                    post_date, bid_id = positions[depth]
                    cursor = keyset_cursor(settings, post_date, bid_id)
                entry = dataclasses.replace(entry, query=f"{entry.query}&cursor={cursor}")
        elif entry.key == CRAWL_KEY:
            entry = dataclasses.replace(entry, body={"source_id": sources[crawl % len(sources)]})
            crawl += 1
        out.append(entry)
    return out


# --- one side --------------------------------------------------------------------------------------------


def start_before_api(stack: Stack) -> str:
    """The before app under uvicorn, one process, like `forest api`."""
    port = free_port()
    log = (VAR / "before-api.log").open("ab")
    stack.procs["before-api"] = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.replay_before_after.before_app:create_before_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=stack.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    asyncio.run(wait_ready(f"{base}/healthz", stack.procs["before-api"]))
    return base


def wait_worker(name: str, timeout: float = 60.0) -> None:
    """Wait until the Celery worker logs that it is ready."""
    log = VAR / f"{name}.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and re.search(r"\S+@\S+ ready\.", log.read_text(errors="replace")):
            return
        time.sleep(0.3)
    raise RuntimeError(f"worker not ready:\n{log.read_text(errors='replace')[-3000:]}")


def run_side(side: str, env: dict[str, str], settings: Settings, headers: dict[str, str], demo_port: int,
             plan_for: Any) -> dict[str, Any]:
    """Clone the database, start this side's processes, warm up, replay, collect crawl outcomes."""
    asyncio.run(clone())
    sources = asyncio.run(add_crawl_sources(settings, demo_port))
    redis.Redis.from_url(REDIS_URL).flushdb()
    for name in (f"{side}-api", f"{side}-worker"):
        (VAR / f"{name}.log").unlink(missing_ok=True)
    stack = Stack(env=env, database_url=pg_url(PG_DB), demo=None, var_dir=VAR)
    try:
        if side == "before":
            base = start_before_api(stack)
        else:
            stack.spawn("after-worker", "worker", "--hostname", "bench-replay@%h")
            base = stack.start_api("after-api")
            wait_worker("after-worker")
        catalog = asyncio.run(discover_catalog(base, headers=headers))
        entries = plan_for(side, catalog, sources)
        warm_mix = {k: v for k, v in DEFAULT_MIX.items() if k != "crawl"}
        warm = synthetic_entries(rate=RATE, duration=WARMUP_SECONDS, seed=SEED + 500, catalog=catalog, mix=warm_mix)
        asyncio.run(replay(warm, target=base, headers=headers))
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        result = asyncio.run(replay(entries, target=base, headers=headers))
        replay_seconds = time.monotonic() - started
        active_at_end = asyncio.run(active_jobs())
        drain_seconds = 0.0
        if side == "after":
            while asyncio.run(active_jobs()) and time.monotonic() - started - replay_seconds < DRAIN_TIMEOUT:
                time.sleep(1.0)
            drain_seconds = time.monotonic() - started - replay_seconds
        jobs = asyncio.run(job_stats())
        result.save(VAR / f"{side}.json")
        print(f"{side}: {result.overall.responses} responses in {result.elapsed_s:.1f} s, "
              f"{result.overall.errors} errors; jobs active at the end {active_at_end}", flush=True)
        return {"result": result, "jobs": jobs, "active_at_end": active_at_end, "drain_seconds": drain_seconds,
                "still_active": asyncio.run(active_jobs()), "load": (load_before, os.getloadavg()[0])}
    finally:
        stack.stop_all()
        asyncio.run(clone(drop_only=True))
        redis.Redis.from_url(REDIS_URL).flushdb()


# --- report ----------------------------------------------------------------------------------------------


def job_summary(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by state and submit→finished seconds of a side's crawl jobs."""
    states: dict[str, int] = {}
    for job in jobs:
        states[job["state"]] = states.get(job["state"], 0) + 1
    done = sorted((j["finished_at"] - j["created_at"]).total_seconds() for j in jobs if j["finished_at"])
    run = sorted((j["finished_at"] - j["started_at"]).total_seconds() for j in jobs
                 if j["finished_at"] and j["started_at"])

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))] if values else float("nan")

    return {"jobs": len(jobs), "states": states, "result_p50": pct(done, 0.5), "result_p99": pct(done, 0.99),
            "result_max": done[-1] if done else float("nan"), "crawl_p50": pct(run, 0.5),
            "pages": sorted({j["pages_done"] for j in jobs}), "items": sorted({j["items_seen"] for j in jobs})}


def ratio(a: float, b: float) -> str:
    """after / before as text."""
    return f"{b / a:.2f}×" if a > 0 else "n/a"


def fmt_ms(value: float) -> str:
    """Milliseconds with sensible precision."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def route_rows(before: RunResult, after: RunResult, comparisons: list[RouteComparison]) -> list[str]:
    """Markdown rows: one per route (and all routes), before → after."""
    verdicts = {c.route: c for c in comparisons}
    keys = [*sorted(before.routes.keys() | after.routes.keys()), OVERALL]
    rows = []
    for key in keys:
        b = before.overall if key == OVERALL else before.routes.get(key)
        a = after.overall if key == OVERALL else after.routes.get(key)
        if b is None or a is None:
            continue
        c = verdicts.get(key)
        name = "**all routes**" if key == OVERALL else f"`{key}`"
        verdict: str = "—" if c is None else c.verdict
        if c is not None and c.reason.startswith("fewer than"):
            verdict += " (< 20 responses)"
        rows.append(
            f"| {name} | {b.responses} / {a.responses} | {fmt_ms(b.percentile_ms(50))} → {fmt_ms(a.percentile_ms(50))}"
            f" ({ratio(b.percentile_ms(50), a.percentile_ms(50))}) | {fmt_ms(b.percentile_ms(99))} → "
            f"{fmt_ms(a.percentile_ms(99))} ({ratio(b.percentile_ms(99), a.percentile_ms(99))}) | "
            f"{fmt_ms(b.max_ms())} → {fmt_ms(a.max_ms())} | {before.throughput(b):.1f} → {after.throughput(a):.1f} | "
            f"{b.client_errors} / {a.client_errors} | {b.errors} / {a.errors} | {verdict} |")
    return rows


def plot(before: RunResult, after: RunResult) -> None:
    """p50/p99 per route, before vs after (log), and the overall latency distributions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(before.routes.keys() & after.routes.keys())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 5.5), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.2
    xs = range(len(keys))
    for offset, (label, run, colour) in enumerate((("before", before, "tab:red"), ("after", after, "tab:green"))):
        p50 = [run.routes[k].percentile_ms(50) for k in keys]
        p99 = [run.routes[k].percentile_ms(99) for k in keys]
        ax1.bar([x + (offset * 2 - 1.5) * width for x in xs], p50, width, color=colour, alpha=0.45,
                label=f"{label} p50")
        ax1.bar([x + (offset * 2 - 0.5) * width for x in xs], p99, width, color=colour, label=f"{label} p99")
    labels = [k.replace("/api/v1", "").replace(" ", "\n", 1).replace("/analytics/", "analytics/\n")
              .replace("high-value-", "high-value-\n") for k in keys]
    ax1.set_xticks(list(xs), labels, fontsize=7)
    ax1.set_yscale("log")
    ax1.set_ylabel("latency, ms (log)")
    ax1.set_title(f"per route, open loop {RATE:.0f} req/s for {DURATION:.0f} s, same schedule")
    ax1.grid(True, axis="y", which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    cdf(ax2, before.overall.histogram, "before: OFFSET, crawl in request")
    cdf(ax2, after.overall.histogram, "after: keyset, crawl on a worker")
    for line, colour in zip(ax2.lines, ("tab:red", "tab:green"), strict=True):
        line.set_color(colour)
    ax2.set_xscale("log")
    ax2.set_xlabel("latency (ms, log)")
    ax2.set_ylabel("percentile")
    ax2.set_ylim(0, 100)
    ax2.set_title("all routes")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def write_results(info: dict[str, str], facts: dict[str, Any], sides: dict[str, dict[str, Any]],
                  comparisons: list[RouteComparison], seconds: float, depths: list[int]) -> str:
    """Replace the `## Replay before/after` section of bench/RESULTS.md."""
    before, after = sides["before"]["result"], sides["after"]["result"]
    jb, ja = job_summary(sides["before"]["jobs"]), job_summary(sides["after"]["jobs"])
    by_route = {c.route: c for c in comparisons}
    overall = by_route[OVERALL]
    crawl_b, crawl_a = before.routes.get(CRAWL_KEY), after.routes.get(CRAWL_KEY)
    deep_b, deep_a = before.routes.get(DEEP_LABEL), after.routes.get(DEEP_LABEL)
    others = [c for c in comparisons if c.route not in (OVERALL, CRAWL_KEY, DEEP_LABEL)]
    seeded = facts["seeded"]
    seed_note = (f", seeded in {seeded['seconds']:.1f} s" if seeded else ", a template kept by an earlier run")

    def names(verdict: str) -> str:
        routes = [f"`{c.route}`" for c in comparisons if c.verdict == verdict and c.route != OVERALL]
        return ", ".join(routes) or "none"

    def states(summary: dict[str, Any]) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(summary["states"].items())) or "none"

    verdict_lines = [
        f"- `forest replay compare` (before as the baseline, min effect 10 %, α 0.01) over all routes: "
        f"**{overall.verdict}** ({overall.reason}). Faster: {names('faster')}. Slower: {names('slower')}. "
        f"No significant change: {names('no significant change')}.",
    ]
    if crawl_b and crawl_a:
        b50, a50 = crawl_b.percentile_ms(50), crawl_a.percentile_ms(50)
        backlog = sides["after"]
        if ja["result_p50"] > jb["result_p50"]:
            result_text = (
                f"The crawl's result did not arrive sooner: after, a job finished {ja['result_p50']:.1f} s "
                f"(p50; p99 {ja['result_p99']:.1f} s) after its submission, against {jb['result_p50']:.1f} s "
                f"(p99 {jb['result_p99']:.1f} s) when the request itself crawled")
        else:
            result_text = (
                f"The crawl's result also arrived no later: after, a job finished {ja['result_p50']:.1f} s "
                f"(p50; p99 {ja['result_p99']:.1f} s) after its submission, against {jb['result_p50']:.1f} s "
                f"(p99 {jb['result_p99']:.1f} s) when the request itself crawled")
        verdict_lines.append(
            f"- **Crawl submissions** answered in {fmt_ms(a50)} ms (p50) after vs {fmt_ms(b50)} ms before "
            f"({ratio(b50, a50)} of before): before, the response waited for the whole crawl (the list page and "
            f"its detail pages with a {CRAWL_DELAY_SECONDS} s politeness delay); after, it returns once the job is "
            f"committed and queued, and the client follows progress on the WebSocket or `GET /api/v1/crawls/{{id}}`. "
            f"{result_text} ({backlog['active_at_end']} jobs were queued or running when the replay ended; the "
            f"backlog took {backlog['drain_seconds']:.0f} s more"
            + (f", {backlog['still_active']} still unfinished when the benchmark stopped waiting" if
               backlog["still_active"] else "")
            + "). The API's latency does not depend on when the worker finishes a job.")
    if deep_b and deep_a:
        ordered = sorted(depths)
        verdict_lines.append(
            f"- **Deep pages**: p50 {fmt_ms(deep_b.percentile_ms(50))} → {fmt_ms(deep_a.percentile_ms(50))} ms "
            f"({ratio(deep_b.percentile_ms(50), deep_a.percentile_ms(50))}), p99 {fmt_ms(deep_b.percentile_ms(99))} "
            f"→ {fmt_ms(deep_a.percentile_ms(99))} ms ({ratio(deep_b.percentile_ms(99), deep_a.percentile_ms(99))}). "
            f"{len(depths)} walks started at depths uniform over the list (median {ordered[len(ordered) // 2]:,} "
            f"rows, max {ordered[-1]:,}): OFFSET reads and discards every skipped row, the keyset seek starts at "
            f"the cursor's row; the cost grows with the depth (the pagination benchmark measures seconds at a million "
            "rows).")
    if others:
        changes = "; ".join(f"`{c.route}` {ratio(c.p99_a_ms, c.p99_b_ms)}" for c in others)
        verdict_lines.append(
            "- **The other routes** run the same code on both sides (their first pages cost OFFSET nothing), so "
            "what moves them is contention from the two changed paths: before, deep OFFSET scans keep PostgreSQL "
            "busy and crawls fetch, parse and store pages inside the API process, between its requests; after, "
            f"the worker does the crawling in its own processes (on the same {info['nproc']} CPUs). One run "
            f"does not separate the two causes. p99 after/before: {changes}."
            + (" Routes with fewer than 20 responses always get *no significant change* from `compare`."
               if any(c.reason.startswith("fewer than") for c in others) else ""))
    verdict_lines.append(
        f"- Errors (5xx and network): before {before.overall.errors}, after {after.overall.errors}. Throughput over "
        f"each run's wall time: {before.throughput(before.overall):.1f} vs {after.throughput(after.overall):.1f} "
        f"responses/s for the same schedule (a run that falls behind takes longer to answer it). 1-minute load "
        f"average at the start/end of each replay: before {sides['before']['load'][0]:.1f}/"
        f"{sides['before']['load'][1]:.1f}, after {sides['after']['load'][0]:.1f}/{sides['after']['load'][1]:.1f}; "
        "one run per side, so small differences (a few tens of %) on the low-traffic routes are within run-to-run "
        "noise on this shared machine.")

    lines = [
        RESULTS_HEADING,
        "",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; run time {seconds:.0f} s",
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, PostgreSQL {info['postgresql']}, "
        f"Python {info['python']}; everything on loopback (replay client, API, worker, demo board, PostgreSQL and "
        "Redis share the CPUs, and the machine is shared with other work: absolute latencies are noisy, the "
        "before/after ratios within this run are the point)",
        "- Command: `.venv/bin/python bench/replay_before_after/run.py` (scratch database `forest_bench_replay`, "
        f"cloned for each side from `{TEMPLATE_DB}`: {facts['total']:,} bids from `forest seed bids`' generator"
        f"{seed_note}; both dropped afterwards; demo board subprocess with {DEMO_NOTICES:,} notices, listening on "
        f"127.0.0.1 and {CRAWL_SOURCES} more loopback hosts (`boards.py`); Redis DB 11; "
        "one API process per side)",
        f"- Load: `forest.replay`'s synthetic mix (25 % list, 10 % deep pages, 20 % filters, 30 % details, "
        f"10 % analytics, 5 % crawl submissions), Poisson {RATE:.0f} requests/s for {DURATION:.0f} s, seed {SEED}, "
        "open loop (latency from each request's due time), at most 64 in flight; the same schedule for both sides, "
        f"each after a {WARMUP_SECONDS:.0f} s warm-up without crawls. Two adaptations, the same on both sides: "
        f"deep-page walks (3–6 pages of {PAGE}) start at a uniformly random depth of the list instead of page 1 "
        "(as the OFFSET row number before, as the cursor the keyset API would have issued at that row after), and "
        f"each crawl submission names its own never-crawled demo-board source ({CRAWL_MAX_PAGES} list page and "
        f"its details, politeness delay {CRAWL_DELAY_SECONDS} s: ~{jb['crawl_p50']:.1f} s per crawl) on a loopback "
        "host of its own (Forest keeps one politeness schedule per host across all crawls), so every crawl does the "
        "same work.",
        "- **before** (`bench/replay_before_after/before_app.py`): Forest's app with `GET /api/v1/bids` paged by "
        "LIMIT/OFFSET (the cursor is the row offset) and `POST /api/v1/crawls` crawling inside the request "
        "(Forest's `submit`, then the worker's `run_job` awaited in the API's event loop; 200 with the finished "
        "job).",
        "- **after**: `forest api` as it is (keyset pagination; crawl submissions answered 202) and one "
        f"`forest worker` (Celery, its defaults: one process, up to {worker_slots()} crawls at once) running the "
        "crawls.",
        "- Run files: `var/bench-replay-before-after/before.json` and `after.json`; `forest replay compare "
        "var/bench-replay-before-after/before.json var/bench-replay-before-after/after.json` reprints the "
        "comparison. Plot: [plots/replay_before_after.png](plots/replay_before_after.png).",
        "",
        "Latency in ms, before → after (after/before); responses, 4xx and errors (5xx + network) as before / after; "
        "throughput in responses/s over each run's wall time; verdict of `forest replay compare` with before as "
        "the baseline:",
        "",
        "| route | responses | p50 | p99 | max | throughput | 4xx | errors | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        *route_rows(before, after, comparisons),
        "",
        f"Crawl jobs: before {jb['jobs']} ({states(jb)}), each crawled inside its request (p50 {jb['crawl_p50']:.1f} s "
        f"of crawling); after {ja['jobs']} ({states(ja)}) on the worker (p50 {ja['crawl_p50']:.1f} s of crawling); "
        f"pages per crawl {', '.join(map(str, sorted(set(jb['pages']) | set(ja['pages']))))}.",
        "",
        "### Verdict",
        "",
        *verdict_lines,
        "",
        "![replay before/after](plots/replay_before_after.png)",
        "",
    ]
    section = "\n".join(lines) + "\n"
    update_section(RESULTS_HEADING, section)
    return section


# --- main ------------------------------------------------------------------------------------------------


def main() -> None:
    global RATE, DURATION
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=RATE, help="offered requests/s (both sides)")
    parser.add_argument("--duration", type=float, default=DURATION, help="seconds of schedule per side")
    parser.add_argument("--no-write", action="store_true", help="print results, leave RESULTS.md and the plot alone")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the seeded template {TEMPLATE_DB} for next time")
    args = parser.parse_args()
    RATE, DURATION = args.rate, args.duration
    started = time.perf_counter()
    VAR.mkdir(parents=True, exist_ok=True)
    info = machine_with_postgres()
    facts = asyncio.run(prepare_template())
    stack = Stack(env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"},
                  database_url=pg_url(PG_DB), demo=None, var_dir=VAR)
    demo_port = free_port()
    (VAR / "demo.log").unlink(missing_ok=True)
    stack.procs["demo"] = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "replay_before_after" / "boards.py"), "--port", str(demo_port),
         "--hosts", str(CRAWL_SOURCES), "--notices", str(DEMO_NOTICES), "--seed", "7"],
        cwd=ROOT, env=stack.env, stdout=(VAR / "demo.log").open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        demo = f"http://127.0.0.1:{demo_port}"
        asyncio.run(wait_ready(f"{demo}/robots.txt", stack.procs["demo"]))
        allow = [f"{host_address(k)}:{demo_port}" for k in range(CRAWL_SOURCES)]
        settings = settings_for(PG_DB, allow)
        token, _ = create_access_token(settings, facts["user_id"])
        headers = {"Authorization": f"Bearer {token}"}
        env = {**os.environ, "FOREST_DATABASE_URL": pg_url(PG_DB), "FOREST_BROKER_URL": REDIS_URL,
               "FOREST_REDIS_URL": REDIS_URL, "FOREST_SECRET_KEY": SECRET, "FOREST_VAR_DIR": str(VAR),
               "FOREST_CRAWL_ALLOW_HOSTS": ",".join(allow), "FOREST_ENVIRONMENT": "local", "PYTHONUNBUFFERED": "1",
               # The mix submits crawls as one user faster than the per-user limit allows.
               "FOREST_RATE_LIMIT_CRAWLS_PER_USER": "",
               "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
        # One schedule for both sides, drawn once the first server tells the mix which bids exist.
        plan: list[ReplayEntry] = []
        depths: list[int] = []
        positions: dict[int, tuple[dt.date, int]] = {}

        def plan_for(side: str, catalog: Catalog, sources: list[int]) -> list[ReplayEntry]:
            if not plan:
                plan.extend(synthetic_entries(rate=RATE, duration=DURATION, seed=SEED, catalog=catalog))
                depths.extend(start_depths(plan, facts["total"]))
                positions.update(asyncio.run(rows_at(depths)))
            return side_entries(plan, side, depths, positions, sources, settings)

        sides: dict[str, dict[str, Any]] = {}
        for side in ("before", "after"):
            print(f"--- {side} ---", flush=True)
            sides[side] = run_side(side, env, settings, headers, demo_port, plan_for)
    finally:
        stack.stop_all()
        redis.Redis.from_url(REDIS_URL).flushdb()
        if not args.keep_db:
            asyncio.run(drop_template())
    before, after = sides["before"]["result"], sides["after"]["result"]
    comparisons = compare(before, after)
    from rich.console import Console

    console = Console(width=160)
    console.print(run_table(before, title="before: OFFSET list, crawl in the request"))
    console.print(run_table(after, title="after: keyset list, crawl on a worker"))
    console.print(comparison_table(comparisons, title="before → after"))
    seconds = time.perf_counter() - started
    if args.no_write:
        for side in ("before", "after"):
            print(side, job_summary(sides[side]["jobs"]))
        return
    plot(before, after)
    print(write_results(info, facts, sides, comparisons, seconds, depths))


if __name__ == "__main__":
    main()
