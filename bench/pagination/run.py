"""Pagination benchmark: keyset vs OFFSET vs fastapi-pagination on 1,000,000 bids, API vs raw, analytics.

One command: `.venv/bin/python bench/pagination/run.py`. It creates (once) the PostgreSQL database
`forest_bench`, migrates it, seeds it with `forest seed bids`' generator, starts the servers with
uvicorn in subprocesses and writes `bench/RESULTS.md` (## Pagination) and `bench/plots/pagination.png`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.common import ensure_db, free_port, machine, pg_url, update_section  # noqa: E402
from bench.pagination import lists  # noqa: E402

from forest.analytics import service as analytics  # noqa: E402
from forest.bids import service as bids_service  # noqa: E402
from forest.bids.filters import BidFilters  # noqa: E402
from forest.bids.models import Bid  # noqa: E402
from forest.bids.seed import seed_bids  # noqa: E402
from forest.bids.service import BID_KEYSET  # noqa: E402
from forest.cli import migrate  # noqa: E402
from forest.config import Settings  # noqa: E402
from forest.database import Database  # noqa: E402
from forest.pagination import CURSOR_VERSION, CursorSigner, filter_hash  # noqa: E402
from forest.security import create_access_token  # noqa: E402
from forest.users import service as users  # noqa: E402
from forest.users.models import User  # noqa: E402

BENCH_DB = os.environ.get("FOREST_BENCH_DB", "forest_bench")
ROWS = int(os.environ.get("FOREST_BENCH_ROWS", "1000000"))
SAMPLES = int(os.environ.get("FOREST_BENCH_SAMPLES", "25"))
DEPARTMENT = "산불방지과"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
VAR = ROOT / "var" / "bench-pagination"
ANALYTICS_INDEX = "ix_bid_post_date_covering"
# The analytics as a normal user runs them (shared sources only: the synthetic boards have no owner).
VIEWER = User(id=0, email="bench@example.com", is_admin=False)
PAGE = 20
SEED_LOG = VAR / "seed.json"
# `q` targets: Korean words of 2-4 syllables from the seeded titles and bodies (their share of the bids is in the
# results).
Q_WORDS = ("임도", "함양", "소나무", "빅데이터")
Q_TARGET_MS = 50.0


def bench_settings() -> Settings:
    """Settings of every process in the benchmark."""
    return Settings(database_url=pg_url(BENCH_DB), var_dir=VAR, secret_key=SECRET,
                    environment="local", db_pool_size=20)


async def prepare(settings: Settings) -> dict[str, Any]:
    """Seed up to ROWS bids; return the bench user's token and facts about the machine and data."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            have = int(await session.scalar(select(func.count()).select_from(Bid)) or 0)
            seeded = json.loads(SEED_LOG.read_text()) if SEED_LOG.exists() else None
            if have < ROWS:
                report = await seed_bids(session=session, n=ROWS - have, sources=5, seed=1)
                seeded = {"rows": report.rows, "seconds": report.seconds, "rate": report.rows_per_second,
                          "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}
                SEED_LOG.write_text(json.dumps(seeded))
                print(f"seeded {report.rows:,} bids in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s)")
            user = await users.ensure_admin(session=session, email="bench@example.com", password="bench-password-1")
            total = int(await session.scalar(select(func.count()).select_from(Bid)) or 0)
            version = str(await session.scalar(text("SHOW server_version")))
        token, _ = create_access_token(settings, user.id, user.token_version)
        return {"token": token, "total": total, "pg": version, "seeded": seeded}
    finally:
        await db.dispose()


def start_server(target: str, port: int, settings: Settings, *, factory: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FOREST_DATABASE_URL": settings.database_url, "FOREST_VAR_DIR": str(VAR),
           "FOREST_SECRET_KEY": SECRET, "FOREST_ENVIRONMENT": "local", "FOREST_DB_POOL_SIZE": "20",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    args = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning", "--workers", "1"]
    if factory:
        args.append("--factory")
    return subprocess.Popen(args, cwd=ROOT, env=env)


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


async def median_ms(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float:
    """Median wall time of sequential requests after 3 warm-ups (5 samples when one takes over a second)."""
    start = time.perf_counter()
    for _ in range(3):
        (await client.get(url, headers=headers)).raise_for_status()
    samples = SAMPLES if time.perf_counter() - start < 3 else min(SAMPLES, 5)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        r = await client.get(url, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
    return statistics.median(times)


async def row_at(settings: Settings, offset: int, *, sort: str = "-post_date") -> tuple[Any, int]:
    """(sort value, id) of the row just before `offset` in the order of `sort` (-post_date, or closes_at with
    its nulls last)."""
    db = Database.from_settings(settings)
    if sort == "-post_date":
        column, order = Bid.post_date, (Bid.post_date.desc(), Bid.id.desc())
    else:
        column, order = Bid.closes_at, (Bid.closes_at.asc().nulls_last(), Bid.id.asc())
    try:
        async with db.sessionmaker() as session:
            await session.execute(text("SET LOCAL statement_timeout = 0"))
            row = (await session.execute(select(column, Bid.id).order_by(*order).offset(offset - 1).limit(1))).one()
            return row[0], row.id
    finally:
        await db.dispose()


async def closes_at_counts(settings: Settings) -> int:
    """How many bids have a deadline (the `values` run of the closes_at sort)."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).where(Bid.closes_at.is_not(None))) or 0)
    finally:
        await db.dispose()


def sort_cursor(settings: Settings, sort: str, value: Any, bid_id: int) -> str:
    """The cursor the API would have issued after this row of `sort` (no filters)."""
    signer = CursorSigner(settings.signing_keys())
    return signer.dumps({"v": CURSOR_VERSION, "e": BID_KEYSET.endpoint, "s": sort,
                         "f": filter_hash(BidFilters().cursor_binding()),
                         "k": [None if value is None else value.isoformat(), bid_id], "d": "n"})


def keyset_cursor(settings: Settings, post_date: dt.date, bid_id: int) -> str:
    """The cursor the API would have issued after walking to this row (signed with the same key)."""
    signer = CursorSigner(settings.signing_keys())
    return signer.dumps({"v": CURSOR_VERSION, "e": BID_KEYSET.endpoint, "s": "-post_date",
                         "f": filter_hash(BidFilters().cursor_binding()), "k": [post_date.isoformat(), bid_id],
                         "d": "n"})


def fp_cursor(template: str, post_date: dt.date, bid_id: int) -> str:
    """A fastapi-pagination (sqlakeyset) cursor positioned after this row, built from a real one."""
    from fastapi_pagination.cursor import decode_cursor, encode_cursor

    marker = decode_cursor(template)
    assert marker is not None
    # sqlakeyset bookmarks read ">d:YYYY-MM-DD~i:ID": direction, then typed values joined by "~".
    new = re.sub(r"d:\d{4}-\d\d-\d\d~i:\d+", f"d:{post_date.isoformat()}~i:{bid_id}", marker)
    assert new != marker, marker
    encoded = encode_cursor(new)
    assert encoded is not None
    return encoded


async def analytics_timings(settings: Settings) -> dict[str, Any]:
    """Median of the analytics queries through the service, with and without the covering index."""
    db = Database.from_settings(settings)
    out: dict[str, Any] = {}
    try:
        async with db.sessionmaker() as session:
            for label in ("with", "without"):
                if label == "without":
                    # Dropped inside the transaction and rolled back afterwards: nothing changes for good.
                    await session.execute(text(f"DROP INDEX {ANALYTICS_INDEX}"))
                for name, run in (
                    ("high-value-departments", lambda: analytics.high_value_departments(
                        session=session, user=VIEWER, min_views=1000, days=30, limit=50)),
                    ("daily-counts", lambda: analytics.daily_counts(session=session, user=VIEWER, days=30)),
                ):
                    for _ in range(3):
                        await run()
                    times = []
                    for _ in range(SAMPLES):
                        start = time.perf_counter()
                        await run()
                        times.append((time.perf_counter() - start) * 1000)
                    out[f"{name}/{label}"] = statistics.median(times)
                    plan = await analytics.explain(session=session, name=name, analyze=True)
                    (VAR / f"plan-{name}-{label}-index.txt").write_text(f"{plan.sql}\n\n{plan.plan_text}\n")
            await session.rollback()
    finally:
        await db.dispose()
    return out


async def measure(settings: Settings, facts: dict[str, Any]) -> dict[str, Any]:
    total = facts["total"]
    headers = {"Authorization": f"Bearer {facts['token']}"}
    depths = [0, 10_000, 100_000, total - PAGE]
    positions = {d: await row_at(settings, d) for d in depths if d}
    api_port = free_port()
    api = start_server("bench.pagination.app:create_bench_app", api_port, settings, factory=True)
    results: dict[str, Any] = {"depths": depths, "latency": {"keyset": [], "offset": [], "fastapi-pagination": []}}
    try:
        await wait_ready(f"http://127.0.0.1:{api_port}/healthz", api)
        base = f"http://127.0.0.1:{api_port}"
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            first = (await client.get("/bench/fp-cursor?size=20", headers=headers)).json()
            template = first["next_page"]
            for depth in depths:
                if depth == 0:
                    urls = {"keyset": f"/api/v1/bids?limit={PAGE}", "offset": f"/bench/offset?limit={PAGE}",
                            "fastapi-pagination": f"/bench/fp-cursor?size={PAGE}"}
                else:
                    post_date, bid_id = positions[depth]
                    urls = {"keyset": f"/api/v1/bids?limit={PAGE}&cursor={keyset_cursor(settings, post_date, bid_id)}",
                            "offset": f"/bench/offset?limit={PAGE}&offset={depth}",
                            "fastapi-pagination": f"/bench/fp-cursor?size={PAGE}&cursor="
                                                  f"{fp_cursor(template, post_date, bid_id)}"}
                # Same page everywhere: check the three methods return the same first id at this depth.
                ids = set()
                for method, url in urls.items():
                    body = (await client.get(url, headers=headers)).json()
                    items = body if isinstance(body, list) else body["items"]
                    ids.add(items[0]["id"])
                    results["latency"][method].append(await median_ms(client, url, headers))
                assert len(ids) == 1, (depth, ids)
                print(f"depth {depth:>9,}: " + ", ".join(f"{m} {v[-1]:.1f} ms" for m, v in results["latency"].items()))
            results["deadline"] = await deadline_depths(client, settings, headers, total)
            results["q"] = await q_latencies(client, settings, headers)
    finally:
        api.send_signal(signal.SIGINT)
        try:
            api.wait(timeout=10)
        except subprocess.TimeoutExpired:
            api.kill()
    results["analytics"] = await analytics_timings(settings)
    print("analytics:", {k: f"{v:.1f} ms" for k, v in results["analytics"].items()})
    return results


async def deadline_depths(
    client: httpx.AsyncClient, settings: Settings, headers: dict[str, str], total: int,
) -> list[tuple[str, float]]:
    """Median page latency of `sort=closes_at` (nulls last) at the first page, 10k, 100k, the last page with a
    deadline and the last page (deep in the run of bids without one)."""
    with_deadline = await closes_at_counts(settings)
    depths = [("0", 0), ("10,000", 10_000), ("100,000", 100_000),
              (f"{with_deadline - PAGE:,} (last with a deadline)", with_deadline - PAGE),
              (f"{total - PAGE:,} (last page, no deadline)", total - PAGE)]
    out = []
    for label, depth in depths:
        url = f"/api/v1/bids?limit={PAGE}&sort=closes_at"
        if depth:
            value, bid_id = await row_at(settings, depth, sort="closes_at")
            url += f"&cursor={sort_cursor(settings, 'closes_at', value, bid_id)}"
        page = (await client.get(url, headers=headers)).json()
        assert len(page["items"]) == PAGE, (label, page)
        out.append((label, await median_ms(client, url, headers)))
        print(f"closes_at depth {label}: {out[-1][1]:.1f} ms")
    return out


async def q_matches(settings: Settings, word: str) -> int:
    """How many bids `q=word` selects (counted apart: an exact count can outlast the API's count timeout)."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            await session.execute(text("SET LOCAL statement_timeout = 0"))
            stmt = bids_service.apply_filters(select(func.count()).select_from(Bid), BidFilters(q=word))
            return int(await session.scalar(stmt) or 0)
    finally:
        await db.dispose()


async def q_latencies(
    client: httpx.AsyncClient, settings: Settings, headers: dict[str, str],
) -> list[dict[str, Any]]:
    """First page (20 rows, default sort) of `q` for each word: median latency and how many bids match."""
    out = []
    for word in Q_WORDS:
        url = f"/api/v1/bids?limit={PAGE}&q={quote(word)}"
        count = await q_matches(settings, word)
        out.append({"q": word, "matches": count, "ms": await median_ms(client, url, headers)})
        print(f"q={word}: {out[-1]['ms']:.1f} ms, {count:,} matches")
    return out


LIST_URLS = {"bids": f"/api/v1/bids?limit=20&department={DEPARTMENT}", "sources": "/api/v1/sources?limit=20",
             "crawls": "/api/v1/crawls?limit=20", "alerts": "/api/v1/alerts?limit=20"}
LIST_TARGETS = {"bids": 0.75, "sources": 0.6, "crawls": 0.6, "alerts": 0.6}


def list_verdict(measured: dict[str, Any]) -> list[str]:
    """The throughput lines of the verdict."""
    table = lists.summary(measured)
    missed = [name for name, row in table.items() if row["ratio"] < LIST_TARGETS[name]]
    return [f"- `forest api` as shipped serves the bid list at {table['bids']['ratio']:.2f}× the raw handler "
            f"(target ≥ 0.75×), sources {table['sources']['ratio']:.2f}×, crawls {table['crawls']['ratio']:.2f}×, "
            f"alerts {table['alerts']['ratio']:.2f}× (targets ≥ 0.6×): "
            + ("every target met." if not missed else f"missed for {', '.join(missed)}."),
            "- Both servers run one process on the same 2 CPUs as PostgreSQL and wrk; per request the API checks the "
            "bearer token (verified once, user row cached for a few seconds), refuses unknown parameters, validates "
            "the query, signs the next cursor, builds the Link header and counts the request for /metrics, which the "
            "raw handler does not."]


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.5))
    labels = ["0", "10k", "100k", "last (1M)"]
    for method, marker in (("keyset", "o"), ("offset", "s"), ("fastapi-pagination", "^")):
        ax1.plot(labels, results["latency"][method], marker=marker, label=method)
    ax1.set_yscale("log")
    ax1.set_xlabel("page depth (rows skipped)")
    ax1.set_ylabel("median latency per page, ms (log)")
    ax1.set_title("GET a page of 20 bids, -post_date")
    ax1.legend()
    table = lists.summary(results["lists"])
    names = list(table)
    ax2.bar(names, [table[n]["ratio"] for n in names], color="tab:green")
    for x, name in enumerate(names):
        ax2.plot([x] * len(table[name]["ratios"]), table[name]["ratios"], "k.", markersize=4)
    ax2.axhline(0.75, color="tab:gray", linestyle="--", linewidth=1)
    ax2.axhline(0.6, color="tab:gray", linestyle=":", linewidth=1)
    ax2.set_ylabel("forest api ÷ raw handler (requests/s)")
    ax2.set_title(f"first page of 20, {lists.CONNECTIONS} connections")
    names = ["high-value-departments", "daily-counts"]
    width = 0.38
    xs = range(len(names))
    ax3.bar([x - width / 2 for x in xs], [results["analytics"][f"{n}/with"] for n in names], width, label="with index")
    ax3.bar([x + width / 2 for x in xs], [results["analytics"][f"{n}/without"] for n in names], width,
            label="without index")
    ax3.set_xticks(list(xs), names)
    ax3.set_ylabel("median ms")
    ax3.set_title(f"analytics on {results['total']:,} bids")
    ax3.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def write_results(results: dict[str, Any], facts: dict[str, Any], info: dict[str, str]) -> None:
    lat = results["latency"]
    labels = ["0", "10,000", "100,000", f"{results['depths'][-1]:,} (last page)"]
    rows = "\n".join(
        f"| {label} | {lat['keyset'][i]:.1f} | {lat['offset'][i]:.1f} | {lat['fastapi-pagination'][i]:.1f} |"
        for i, label in enumerate(labels))
    keyset_ratio = lat["keyset"][-1] / lat["keyset"][0]
    offset_ratio = lat["offset"][-1] / lat["offset"][0]
    fp_ratio = lat["fastapi-pagination"][-1] / lat["fastapi-pagination"][0]
    a = results["analytics"]
    hv = a["high-value-departments/with"]
    hv_without = a["high-value-departments/without"]
    verdict = [
        f"- keyset at the last page is {keyset_ratio:.2f}× its first page (target ≤ 1.5×: "
        f"{'met' if keyset_ratio <= 1.5 else 'missed'}); OFFSET is {offset_ratio:.0f}×, "
        f"fastapi-pagination {fp_ratio:.2f}×; at the last page keyset is "
        f"{lat['offset'][-1] / lat['keyset'][-1]:.0f}× faster than OFFSET.",
        *list_verdict(results["lists"]),
        f"- high-value-departments: {hv:.1f} ms with `{ANALYTICS_INDEX}`, "
        f"{hv_without:.1f} ms without (target ≤ 20 ms: {'met' if hv <= 20 else 'missed'}); "
        f"daily-counts: {a['daily-counts/with']:.1f} ms with, {a['daily-counts/without']:.1f} ms without.",
    ]
    table = lists.summary(results["lists"])
    rps_rows = "\n".join(
        f"| `{LIST_URLS[name]}` | {row['api']:.0f} | {row['raw']:.0f} | {row['ratio']:.2f} | "
        f"{', '.join(f'{r:.2f}' for r in row['ratios'])} | ≥ {LIST_TARGETS[name]}: "
        f"{'met' if row['ratio'] >= LIST_TARGETS[name] else 'missed'} |" for name, row in table.items())
    seeded = facts["seeded"]
    seed_line = (f"- Seeding (when `{BENCH_DB}` was created): {seeded['rows']:,} rows in {seeded['seconds']:.1f} s "
                 f"({seeded['rate']:,.0f} rows/s: COPY of bids and bodies, rebuild of the secondary indexes incl. the "
                 f"trigram and bigram GINs, VACUUM ANALYZE; load average then {seeded['load']}).\n" if seeded else "")
    deadline = results["deadline"]
    deadline_rows = "\n".join(f"| {label} | {ms:.1f} | {ms / deadline[0][1]:.2f}× |" for label, ms in deadline)
    worst = max(abs(ms / deadline[0][1] - 1) for _, ms in deadline)
    verdict.append(
        f"- `sort=closes_at` (nulls last, two index runs) at depth stays within ±{worst * 100:.0f} % of its first "
        f"page (target ±50 %: {'met' if worst <= 0.5 else 'missed'}).")
    q_rows = "\n".join(
        f"| `{r['q']}` | {len(r['q'].replace(' ', ''))} | {r['matches']:,} ({r['matches'] / results['total']:.1%}) "
        f"| {r['ms']:.1f} | {'met' if r['ms'] <= Q_TARGET_MS else 'missed'} |" for r in results["q"])
    q_missed = [r["q"] for r in results["q"] if r["ms"] > Q_TARGET_MS]
    verdict.append(f"- `q` first page p50 ≤ {Q_TARGET_MS:.0f} ms: "
                   + ("met for every word." if not q_missed else f"missed for {', '.join(q_missed)}."))
    section = f"""## Pagination

- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC
- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, PostgreSQL {facts['pg']},
  Python {info['python']}; load average at start {info['load']} (the machine is shared: absolute numbers
  are noisy, ratios within one run are the point)
- Command: `.venv/bin/python bench/pagination/run.py` (database `{BENCH_DB}`, {results['total']:,} bids seeded
  by `forest seed bids`' generator, seed 1, 5 sources; one uvicorn worker per server; {SAMPLES} sequential requests
  per median (5 when a request takes over a second), after 3 warm-ups, against the bench app (`forest.app` plus the
  OFFSET and fastapi-pagination endpoints) with a pool of 20; throughput from `wrk -t1 -c{lists.CONNECTIONS}
  -d{lists.LOAD_SECONDS}s` on the same machine against `forest api` as shipped (see below))
{seed_line}
### Page latency by depth (median ms, `sort=-post_date`, 20 rows)

| depth | keyset (`/api/v1/bids`) | OFFSET (bench-only endpoint) | fastapi-pagination `CursorPage` |
|---|---|---|---|
{rows}

### Deadline sort by depth (median ms, `sort=closes_at`, 20 rows)

| depth | keyset | × first page |
|---|---|---|
{deadline_rows}

### `q` over title and body: first page (median ms, 20 rows, `sort=-post_date`)

| q | syllables | bids matching | p50 ms | ≤ {Q_TARGET_MS:.0f} ms |
|---|---|---|---|---|
{q_rows}

### Throughput: every list as shipped

`forest api` (`python -m forest.cli.main api`: its own uvicorn options, so no access log, `FOREST_REQUEST_LOG`'s
default; `FOREST_ENVIRONMENT=production`, every other setting at its default, so a pool of 10) against a raw
Starlette + asyncpg + orjson handler per list (`bench/pagination/raw_app.py`, one uvicorn worker, no access log)
running the SQL the API builds for that page and answering the same bytes (the run checks the bodies are equal
first). Signed in as a normal user (not an admin); the first page of 20 of each list (bids of one department;
sources: the shared ones; crawls and alerts: the user's 40).
{len(results['lists']['rounds'])} interleaved rounds (per round each list on the API, then on the raw handler); load
average after the rounds: {results['lists']['load']}.

| list | API req/s | raw req/s | × raw (median) | × raw each round | target |
|---|---|---|---|---|---|
{rps_rows}

### Analytics (median ms through the service, {results['total']:,} bids)

| query | with `{ANALYTICS_INDEX}` | without |
|---|---|---|
| high-value-departments (min_views=1000, days=30) | {hv:.1f} | {hv_without:.1f} |
| daily-counts (days=30) | {a['daily-counts/with']:.1f} | {a['daily-counts/without']:.1f} |

### Verdict

{chr(10).join(verdict)}

![pagination](plots/pagination.png)
"""
    update_section("## Pagination", section)


def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    settings = bench_settings()
    info = machine()
    asyncio.run(ensure_db(BENCH_DB))
    migrate.upgrade("head", settings=settings)
    facts = asyncio.run(prepare(settings))
    results = asyncio.run(measure(settings, facts))
    results["lists"] = lists.measure_lists(settings, VAR)
    results["total"] = facts["total"]
    plot(results, ROOT / "bench" / "plots" / "pagination.png")
    write_results(results, facts, info)
    print("wrote bench/RESULTS.md (## Pagination) and bench/plots/pagination.png")


if __name__ == "__main__":
    main()
