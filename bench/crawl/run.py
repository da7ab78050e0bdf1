"""Crawl benchmark: Forest's crawler beside a Scrapy spider on the demo board, and bulk upserts into PostgreSQL.

One command: `.venv/bin/python bench/crawl/run.py` (see bench/README.md). It

1. serves the demo board (2,000 notices: ~200 list pages + ~2,000 detail pages) with uvicorn in a subprocess;
2. crawls it in alternating rounds with Forest (`forest.crawler.engine.crawl` into `MemoryStore`, robots on,
   politeness off, concurrency 16) and with a Scrapy spider (same settings, same `forest.crawler` parsers on
   `response.text`), each in its own process, measuring wall time and CPU seconds inside that process;
3. upserts synthetic notices into a scratch PostgreSQL database `forest_bench_crawl` through
   `forest.bids.ingest.upsert_notices`, one transaction per batch (inserts, then a re-run that changes views only,
   then a run that edits every row), and, as the same run's baseline, through `upsert_rows` (stored hashes read
   first, then multi-row INSERT … VALUES with parameters per row: the statement shape upsert_notices used on
   PostgreSQL before); then drops the database;
4. writes `bench/plots/crawl.png` and the `## Crawl` section of `bench/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, free_port, pg_url, recreate_db, update_section  # noqa: E402

PLOT = ROOT / "bench" / "plots" / "crawl.png"
NOTICES = 2000
CONCURRENCY = 16
ROUNDS = 5
LIST_PATH = "/kfs/bid/list.do"
PG_DB = "forest_bench_crawl"
UPSERT_ROWS = 40_000
BATCH_SIZES = (500, 2000, 5000)
PAGES_TARGET_RATIO = 1.5
UPSERT_TARGET = 20_000


def cpu_seconds() -> float:
    """User + system CPU time of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- crawlers (each runs in its own process: `run.py --crawler forest|scrapy --base URL`) -----------------------

def crawl_with_forest(base: str) -> dict[str, Any]:
    """Forest's engine into a MemoryStore; pages = robots.txt + list pages + detail pages."""
    from forest.crawler.engine import CrawlConfig, crawl
    from forest.crawler.memory import MemoryStore

    host = base.removeprefix("http://")
    config = CrawlConfig(start_url=base + LIST_PATH, preset="demo_board", max_pages=10_000, polite=False,
                         concurrency=CONCURRENCY, obey_robots=True, allow_hosts=(host,), incremental=False)
    store = MemoryStore()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    result = asyncio.run(crawl(config, store))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    if result.failed:
        raise SystemExit(f"forest crawl failed: {result.error}")
    pages = 1 + result.progress.pages_done + len(store.notices)
    return {"pages": pages, "list_pages": result.progress.pages_done, "notices": len(store.notices),
            "wall": wall, "cpu": cpu, "errors": len(result.errors)}


def crawl_with_scrapy(base: str) -> dict[str, Any]:
    """A Scrapy spider with the same parsers, robots on, no delay, 16 concurrent requests."""
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy.http import Response

    from forest.crawler.parse import Notice, apply_detail
    from forest.crawler.presets import get_parser

    parser = get_parser("demo_board")
    notices: dict[str, Notice] = {}
    counters = {"pages": 0, "list_pages": 0, "errors": 0}

    class DemoBoardSpider(scrapy.Spider):  # type: ignore[misc]
        name = "demo_board"
        start_urls: ClassVar[list[str]] = [base + LIST_PATH]
        seen: ClassVar[set[str]] = set()

        def parse(self, response: Response) -> Any:
            counters["pages"] += 1
            counters["list_pages"] += 1
            listing = parser.parse_list(response.text, response.url)
            counters["errors"] += len(listing.errors)
            for notice in listing.notices:
                if notice.external_id in self.seen:  # pinned rows repeat on every page
                    continue
                self.seen.add(notice.external_id)
                yield scrapy.Request(notice.url, callback=self.parse_detail, cb_kwargs={"notice": notice})
            if listing.next_url and listing.notices:
                yield scrapy.Request(listing.next_url, callback=self.parse)

        def parse_detail(self, response: Response, notice: Notice) -> Any:
            counters["pages"] += 1
            complete = apply_detail(notice, parser.parse_detail(response.text, response.url))
            notices[complete.external_id] = complete
            yield None

    process = CrawlerProcess(settings={
        "ROBOTSTXT_OBEY": True, "CONCURRENT_REQUESTS": CONCURRENCY, "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY,
        "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "COOKIES_ENABLED": False, "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False, "RETRY_TIMES": 3, "USER_AGENT": "ForestBench/1.0 (scrapy)",
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    })
    process.crawl(DemoBoardSpider)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    process.start()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    counters["pages"] += 1  # robots.txt, fetched by RobotsTxtMiddleware
    return {**counters, "notices": len(notices), "wall": wall, "cpu": cpu}


def run_crawler(name: str, base: str) -> dict[str, Any]:
    """Run one crawler in a fresh process and read its JSON report."""
    done = subprocess.run([sys.executable, __file__, "--crawler", name, "--base", base], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} crawler failed:\n{done.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["pages_per_s"] = report["pages"] / report["wall"]
    report["cpu_per_1000"] = report["cpu"] / report["pages"] * 1000
    return report


# --- the demo board ------------------------------------------------------------------------------------------------

def start_demo(port: int) -> subprocess.Popen[bytes]:
    """uvicorn serving a 2,000-notice demo board in a subprocess; returns once it answers."""
    code = ("import uvicorn; from forest.demo_site.app import create_demo_app; "
            f"uvicorn.run(create_demo_app(notices={NOTICES}, seed=1), host='127.0.0.1', port={port}, "
            "log_level='warning', access_log=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("demo board did not start")


def reset_demo(base: str) -> None:
    """Put the board back to its generated state (views, counters) between rounds."""
    import httpx

    httpx.post(base + "/_demo/reset", timeout=10).raise_for_status()


# --- upserts into PostgreSQL ---------------------------------------------------------------------------------------

def synthetic_notices(n: int, seed: int = 3) -> list[Any]:
    """Deterministic notices shaped like the demo board's."""
    from forest.crawler.parse import Attachment, Notice

    rng = random.Random(seed)
    departments = ["산림정책과", "산림자원과", "국유림경영과", "산림복지시설과", "운영지원과", "산림병해충방제과"]
    start = dt.date(2026, 11, 20)
    out = []
    for i in range(n):
        external_id = str(200_000 + i)
        files = tuple(Attachment(name=f"공고문_{i}_{k}.hwp", url=f"https://example.org/f?id={i}&sn={k}")
                      for k in range(rng.choice((0, 1, 2))))
        out.append(Notice(external_id=external_id, title=f"{rng.choice(departments)} 물품 구매 입찰 공고 제{i}호",
                          department=rng.choice(departments), post_date=start - dt.timedelta(days=i // 40),
                          views=rng.randint(0, 5000), url=f"https://example.org/view.do?nttId={external_id}",
                          attachments=files))
    return out


def bench_upserts(tmp: Path) -> dict[str, dict[str, Any]]:
    """Bids per second for several batch sizes (insert, views-only re-run, edit): upsert_notices and the baseline."""
    from dataclasses import replace

    from sqlalchemy import delete, text
    from sqlalchemy.ext.asyncio import AsyncSession

    from forest.bids.ingest import upsert_notices, upsert_rows
    from forest.bids.models import Bid
    from forest.cli import migrate
    from forest.config import Settings
    from forest.crawler.parse import Notice
    from forest.crawler.store import UpsertResult
    from forest.database import Database, utcnow
    from forest.sources.models import Source

    settings = Settings(database_url=pg_url(PG_DB), var_dir=tmp, secret_key="bench-secret-" + "x" * 40,
                        broker_url="memory://", crawl_allow_hosts=[])  # type: ignore[arg-type]
    asyncio.run(recreate_db(PG_DB))
    try:
        migrate.upgrade("head", settings)
        notices = synthetic_notices(UPSERT_ROWS)
        ticked = [replace(n, views=n.views + 1) for n in notices]
        edited = [replace(n, title=n.title + " (정정)") for n in notices]

        async def baseline(session: AsyncSession, source_id: int, batch: list[Notice]) -> UpsertResult:
            return await upsert_rows(session, source_id, batch, {})

        async def one_size(db: Database, source_id: int, upsert: Any, label: str, size: int) -> dict[str, float]:
            async with db.sessionmaker() as session, session.begin():
                await session.execute(delete(Bid).where(Bid.source_id == source_id))
            async with db.engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM ANALYZE bid"))
            row: dict[str, float] = {}
            for phase, rows in (("insert", notices), ("views_only", ticked), ("edit", edited)):
                t0 = time.perf_counter()
                counted = 0
                for i in range(0, len(rows), size):
                    async with db.sessionmaker() as session, session.begin():
                        result = await upsert(session, source_id, rows[i:i + size])
                    counted += len(result.new) + len(result.updated)
                seconds = time.perf_counter() - t0
                # What autovacuum would do on a live table; without statistics the baseline's lookup of
                # stored hashes scans the whole source for each batch.
                async with db.engine.connect() as conn:
                    await conn.execute(text("ANALYZE bid"))
                    await conn.commit()
                expected = len(rows) if phase != "views_only" else 0
                if counted != expected:
                    raise SystemExit(f"{label} {phase}: {counted} new/updated, expected {expected}")
                row[phase] = len(rows) / seconds
            return row

        async def run() -> dict[str, dict[str, Any]]:
            db = Database.from_settings(settings)
            out: dict[str, dict[str, Any]] = {"upsert_notices": {}, "baseline": {}}
            try:
                async with db.sessionmaker() as session:
                    source = Source(name="bench", start_url="https://example.org/list.do", max_pages=10,
                                    timezone="Asia/Seoul", polite=True, enabled=False, created_at=utcnow())
                    session.add(source)
                    await session.commit()
                    source_id = source.id
                for label, upsert in (("upsert_notices", upsert_notices), ("baseline", baseline)):
                    for size in BATCH_SIZES:
                        out[label][str(size)] = await one_size(db, source_id, upsert, label, size)
            finally:
                await db.dispose()
            return out

        return asyncio.run(run())
    finally:
        asyncio.run(recreate_db(PG_DB, drop_only=True))


# --- report --------------------------------------------------------------------------------------------------------

def machine() -> str:
    """CPU model, cores, OS and Python of this machine."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{model}, {os.cpu_count()} CPUs, {system}, Python {platform.python_version()}"


def plot(
    forest: dict[str, float], scrapy_: dict[str, float], upserts: dict[str, Any], baseline: dict[str, Any]
) -> None:
    """Three panels: pages/s, CPU s per 1,000 pages, upsert bids/s by batch size (with the baseline's inserts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    names, colours = ["Forest", "Scrapy"], ["#2e7d32", "#8d6e63"]
    for ax, key, title in ((axes[0], "best_pages_per_s", "pages / second, best round (higher is better)"),
                           (axes[1], "best_cpu_per_1000", "CPU seconds per 1,000 pages (lower is better)")):
        values = [forest[key], scrapy_[key]]
        bars = ax.bar(names, values, color=colours)
        ax.bar_label(bars, fmt="%.0f" if key == "best_pages_per_s" else "%.2f")
        ax.set_title(title, fontsize=10)
    sizes = list(upserts)
    width = 0.2
    series = (("insert", upserts, "insert", "#1565c0"), ("views only", upserts, "views_only", "#64b5f6"),
              ("edit", upserts, "edit", "#ef6c00"), ("baseline insert", baseline, "insert", "#9e9e9e"))
    for k, (label, table, phase, colour) in enumerate(series):
        xs = [i + (k - 1.5) * width for i in range(len(sizes))]
        axes[2].bar(xs, [table[s][phase] for s in sizes], width=width, color=colour, label=label)
    axes[2].axhline(UPSERT_TARGET, color="grey", linestyle="--", linewidth=1, label="target 20,000/s")
    axes[2].set_xticks(range(len(sizes)), [f"batch {s}" for s in sizes])
    axes[2].set_title("upsert_notices into PostgreSQL: bids / second", fontsize=10)
    axes[2].legend(fontsize=8)
    fig.suptitle(f"Crawl benchmark: demo board, {NOTICES:,} notices, concurrency {CONCURRENCY}, "
                 f"best of {ROUNDS} rounds")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)


def summarise(reports: list[dict[str, Any]]) -> dict[str, float]:
    """Best of the rounds (the least disturbed by other load on the machine) and medians."""
    return {
        "pages": reports[0]["pages"],
        "notices": reports[0]["notices"],
        "best_pages_per_s": max(r["pages_per_s"] for r in reports),
        "median_pages_per_s": statistics.median(r["pages_per_s"] for r in reports),
        "best_cpu_per_1000": min(r["cpu_per_1000"] for r in reports),
        "median_cpu_per_1000": statistics.median(r["cpu_per_1000"] for r in reports),
        "best_wall": min(r["wall"] for r in reports),
    }


def load_average() -> str:
    """The 1-minute load average, to show how busy the machine was."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def main() -> None:
    """Run everything and write the results."""
    import scrapy

    started = dt.datetime.now(dt.UTC)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    demo = start_demo(port)
    runs: dict[str, list[dict[str, Any]]] = {"forest": [], "scrapy": []}
    load_before = load_average()
    try:
        run_crawler("forest", base)  # warm-up: imports and the server's first requests
        for i in range(ROUNDS):
            order = ("forest", "scrapy") if i % 2 == 0 else ("scrapy", "forest")
            for name in order:
                reset_demo(base)
                report = run_crawler(name, base)
                runs[name].append(report)
                print(f"round {i + 1} {name:6s}: {report['pages']} pages in {report['wall']:.2f} s "
                      f"= {report['pages_per_s']:.0f} pages/s, {report['cpu_per_1000']:.2f} CPU s / 1,000 pages, "
                      f"{report['notices']} notices", flush=True)
    finally:
        demo.terminate()
        demo.wait(10)
    load_after = load_average()
    forest, scrapy_ = summarise(runs["forest"]), summarise(runs["scrapy"])
    ratio = forest["best_pages_per_s"] / scrapy_["best_pages_per_s"]
    round_ratios = [f["pages_per_s"] / s["pages_per_s"] for f, s in zip(runs["forest"], runs["scrapy"], strict=True)]
    median_ratio = statistics.median(round_ratios)
    cpu_ratio = scrapy_["best_cpu_per_1000"] / forest["best_cpu_per_1000"]
    print(f"Forest / Scrapy pages/s: best {ratio:.2f}x, per-round median {median_ratio:.2f}x "
          f"(target >= {PAGES_TARGET_RATIO}x); CPU per page: Scrapy uses {cpu_ratio:.2f}x Forest's", flush=True)

    tmp = ROOT / "var" / "bench-crawl"
    tmp.mkdir(parents=True, exist_ok=True)
    measured = bench_upserts(tmp)
    upserts, baseline = measured["upsert_notices"], measured["baseline"]
    for label, table in measured.items():
        for size, row in table.items():
            print(f"{label} batch {size}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in row.items()), flush=True)
    best_insert = max(row["insert"] for row in upserts.values())
    best_baseline = max(row["insert"] for row in baseline.values())
    plot(forest, scrapy_, upserts, baseline)

    def per_round(name: str) -> str:
        return ", ".join(f"{r['pages_per_s']:.0f}" for r in runs[name])

    verdict_pages = "met" if min(ratio, median_ratio) >= PAGES_TARGET_RATIO else "**missed**"
    verdict_upsert = "met" if best_insert >= UPSERT_TARGET else "**missed**"
    lines = [
        "## Crawl",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}; PostgreSQL on localhost; Scrapy {scrapy.__version__}",
        "- Command: `.venv/bin/python bench/crawl/run.py`",
        f"- Setup: demo board (uvicorn subprocess, {NOTICES:,} notices, seed 1), robots.txt obeyed, politeness off,"
        f" concurrency {CONCURRENCY}; each crawler in its own process, alternating, {ROUNDS} rounds after a warm-up,"
        " best round shown (medians in brackets). Pages = robots.txt + list pages + detail pages."
        " CPU = user + system time of the crawler"
        " process (the board's CPU is not counted). Both use the same `forest.crawler` parsers; Forest fetches"
        " through its egress-checked transport (every request and redirect hop checked, each host resolved once"
        " per crawl, keep-alive connections on asyncio streams), Scrapy through Twisted with its default"
        " middlewares, retries 3, cookies off.",
        f"- 1-minute load average before / after the crawl rounds: {load_before} / {load_after}"
        " (other work shares this machine; wall-clock figures move with it, CPU per page much less).",
        "",
        "| crawler | pages | best wall s | pages/s | CPU s / 1,000 pages |",
        "|---|---|---|---|---|",
        *(f"| {label} | {r['pages']:.0f} | {r['best_wall']:.2f} | {r['best_pages_per_s']:.0f} "
          f"({r['median_pages_per_s']:.0f}) | {r['best_cpu_per_1000']:.2f} ({r['median_cpu_per_1000']:.2f}) |"
          for label, r in (("Forest (`crawl()` → MemoryStore)", forest), ("Scrapy spider", scrapy_))),
        "",
        f"Forest / Scrapy, same run: **{ratio:.2f}×** pages/s best against best, {median_ratio:.2f}× median of the"
        f" per-round ratios (target ≥ {PAGES_TARGET_RATIO}×: {verdict_pages}); Scrapy spends {cpu_ratio:.2f}×"
        " Forest's CPU per page.",
        "",
        f"Per round (pages/s): Forest {per_round('forest')}; Scrapy {per_round('scrapy')}.",
        "",
        f"`upsert_notices` into PostgreSQL (scratch database `{PG_DB}`, {UPSERT_ROWS:,} synthetic bids, one"
        " transaction per batch, `ANALYZE bid` between phases as autovacuum would on a live table;"
        " insert = all new, views only = same rows with views +1, edit = every title changed). Baseline, same run:"
        " `upsert_rows`, the previous PostgreSQL statement shape (stored hashes read first, then multi-row"
        " `INSERT … VALUES … ON CONFLICT` with 11 parameters per row, 500 rows per statement):",
        "",
        "| batch | insert bids/s | views-only bids/s | edit bids/s | baseline insert / views-only / edit |",
        "|---|---|---|---|---|",
        *(f"| {size} | {row['insert']:,.0f} | {row['views_only']:,.0f} | {row['edit']:,.0f} | "
          f"{baseline[size]['insert']:,.0f} / {baseline[size]['views_only']:,.0f} / {baseline[size]['edit']:,.0f} |"
          for size, row in upserts.items()),
        "",
        f"Best insert rate {best_insert:,.0f} bids/s, {best_insert / best_baseline:.1f}× the baseline's best"
        f" {best_baseline:,.0f}/s (target ≥ {UPSERT_TARGET:,}/s: {verdict_upsert}); slowest phase at any batch size"
        f" {min(min(row.values()) for row in upserts.values()):,.0f} bids/s.",
        "",
        "![crawl benchmark](plots/crawl.png)",
        "",
    ]
    update_section("## Crawl", "\n".join(lines) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    cli.add_argument("--crawler", choices=("forest", "scrapy"), help=argparse.SUPPRESS)
    cli.add_argument("--base", help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.crawler:
        report = crawl_with_forest(args.base) if args.crawler == "forest" else crawl_with_scrapy(args.base)
        print(json.dumps(report))
    else:
        main()
