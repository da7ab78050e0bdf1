"""Sessions benchmark: session per request vs. a sessionmaker per call vs. one long-lived shared session.

One command: `.venv/bin/python bench/sessions/run.py` (see bench/README.md). On a scratch PostgreSQL database
`forest_bench_sessions` (created, migrated, seeded with 20,000 bids, dropped afterwards) it

1. starts `bench/sessions/app.py` (Forest's models and engine, default pool: 10 + 10 overflow) with uvicorn,
   one fresh process per pattern, and replays `GET /<pattern>/{id}` open loop (Poisson, `forest.replay.runner`)
   at several rates, sampling `pg_stat_activity` every 100 ms for the connections the app holds;
2. demonstrates, in-process, what goes wrong with one long-lived session: a stale read from the identity
   map after another connection updated the row, a transaction left `idle in transaction` (and what the
   server's `idle_in_transaction_session_timeout` then does to it), and concurrent use of one `AsyncSession`;
3. writes `bench/plots/sessions.png` and the `## Sessions` section of `bench/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.common import PG_ADMIN_DSN, machine_with_postgres, pg_url, recreate_db, start_uvicorn, write_section  # noqa: E402

from forest.bids.models import Bid  # noqa: E402
from forest.bids.seed import seed_bids  # noqa: E402
from forest.cli import migrate  # noqa: E402
from forest.config import Settings  # noqa: E402
from forest.database import Database, create_engine  # noqa: E402
from forest.replay.entries import ReplayEntry  # noqa: E402
from forest.replay.runner import replay  # noqa: E402

PLOT = ROOT / "bench" / "plots" / "sessions.png"
PG_DB = "forest_bench_sessions"
BIDS = 20_000
PATTERNS = ("per-request", "per-call", "shared", "shared-locked")
RATES = (20, 40, 80)
SECONDS = 8
CONCURRENCY = 256


def settings() -> Settings:
    """Settings pointing at the scratch database."""
    return Settings(database_url=pg_url(PG_DB), secret_key="x" * 40, var_dir=Path("/tmp/forest-bench-sessions"))  # type: ignore[arg-type]


async def seed() -> None:
    """Seed the bids."""
    db = Database.from_settings(settings())
    try:
        async with db.sessionmaker() as session:
            await seed_bids(session=session, n=BIDS, sources=5, seed=2)
    finally:
        await db.dispose()


def start_app(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the bench app with uvicorn and wait until it answers."""
    env = {**os.environ, "FOREST_DATABASE_URL": pg_url(PG_DB), "PYTHONPATH": str(ROOT / "src")}
    return start_uvicorn(ROOT / "bench" / "sessions", "app:app", env, log)


def stop_app(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the app, SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def entries(pattern: str, rate: float, seconds: float, seed_: int) -> list[ReplayEntry]:
    """Poisson arrivals of `GET /<pattern>/{random bid id}`."""
    rng = random.Random(seed_)
    out: list[ReplayEntry] = []
    t = 0.0
    while t < seconds:
        out.append(ReplayEntry(offset=t, method="GET", path=f"/{pattern}/{rng.randint(1, BIDS)}",
                               route=f"/{pattern}/{{id}}"))
        t += rng.expovariate(rate)
    return out


async def sample_connections(stop: asyncio.Event, samples: list[Counter[str]]) -> None:
    """Count the app's connections per state in pg_stat_activity every 100 ms."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        while not stop.is_set():
            rows = await conn.fetch("SELECT coalesce(state, '?') AS state, count(*) AS n FROM pg_stat_activity "
                                    "WHERE datname = $1 AND application_name = 'forest' GROUP BY 1", PG_DB)
            samples.append(Counter({r["state"]: int(r["n"]) for r in rows}))
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                pass
    finally:
        await conn.close()


async def measure(pattern: str, base: str, rate: float) -> dict[str, Any]:
    """One open-loop run at `rate` with connection sampling."""
    stop = asyncio.Event()
    samples: list[Counter[str]] = []
    sampler = asyncio.create_task(sample_connections(stop, samples))
    run = await replay(entries(pattern, rate, SECONDS, int(rate)), target=base, concurrency=CONCURRENCY,
                       request_timeout=10)
    stop.set()
    await sampler
    stats = run.overall
    totals = [sum(s.values()) for s in samples] or [0]
    return {"pattern": pattern, "rate": rate, "requests": stats.requests, "errors": stats.errors,
            "ok": stats.responses - stats.server_errors - stats.client_errors,
            "throughput": (stats.responses - stats.server_errors - stats.client_errors) / run.elapsed_s,
            "p50_ms": stats.percentile_ms(50), "p99_ms": stats.percentile_ms(99), "max_ms": stats.max_ms(),
            "conn_max": max(totals), "conn_mean": sum(totals) / len(totals),
            "active_max": max((s.get("active", 0) for s in samples), default=0),
            "idle_in_tx_max": max((s.get("idle in transaction", 0) for s in samples), default=0)}


async def error_sample(base: str, pattern: str) -> str:
    """Status and body of a few concurrent requests, to name the failure."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        responses = await asyncio.gather(*(client.get(f"/{pattern}/{k}") for k in range(1, 41)))
    statuses = Counter(r.status_code for r in responses)
    return ", ".join(f"{n}× {code}" for code, n in sorted(statuses.items()))


async def demos() -> dict[str, Any]:
    """What breaks with one long-lived session, shown directly."""
    s = settings()
    db = Database.from_settings(s)
    out: dict[str, Any] = {}
    try:
        shared: AsyncSession = db.sessionmaker()
        # 1. Stale read: the identity map keeps the first copy of a row for the session's lifetime.
        bid = await shared.get(Bid, 1)
        assert bid is not None
        before = bid.views
        async with db.sessionmaker() as other:
            await other.execute(update(Bid).where(Bid.id == 1).values(views=Bid.views + 1000))
            await other.commit()
        again = await shared.get(Bid, 1)
        queried = (await shared.scalars(select(Bid).where(Bid.id == 1))).one()
        column = await shared.scalar(select(Bid.views).where(Bid.id == 1))
        async with db.sessionmaker() as fresh:
            fresh_views = (await fresh.get(Bid, 1)).views  # type: ignore[union-attr]
        out["stale"] = {"before": before, "get": again.views if again else None, "select_entity": queried.views,
                        "select_column": column, "fresh_session": fresh_views}
        # 2. The read began a transaction that nothing ends: the connection idles inside it.
        pid = await shared.scalar(text("SELECT pg_backend_pid()"))
        await asyncio.sleep(2)
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            row = await conn.fetchrow("SELECT state, extract(epoch FROM now() - xact_start) AS age FROM "
                                      "pg_stat_activity WHERE pid = $1", pid)
        finally:
            await conn.close()
        out["idle_in_tx"] = {"state": row["state"], "age_s": float(row["age"])}
        await shared.close()
        # ...and the server ends such a transaction after idle_in_transaction_session_timeout (Forest: 60 s;
        # 1 s here), so the long-lived session's next query fails.
        short = create_engine(s, connect_args={"server_settings": {"application_name": "forest-demo",
                                                                     "idle_in_transaction_session_timeout": "1000"}})
        try:
            session = AsyncSession(short)
            await session.get(Bid, 2)
            await asyncio.sleep(2)
            try:
                await session.scalar(select(Bid.views).where(Bid.id == 3))
                out["timeout_error"] = "no error"
            except Exception as exc:  # the point of the demo is the error itself
                out["timeout_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            await session.close()
        finally:
            await short.dispose()
        # 3. Concurrent use of one AsyncSession from several tasks, with the engine's pool empty (as in a
        # fresh process) and with a connection idle in it (the demos above left one).
        out["concurrent"] = await gathered_gets(Database.from_settings(s))
        out["concurrent_warm"] = await gathered_gets(db, dispose=False)
    finally:
        await db.dispose()
    return out


async def gathered_gets(db: Database, *, dispose: bool = True) -> dict[str, Any]:
    """Twenty `session.get` calls gathered on one new `AsyncSession`: how many failed, and with what."""
    shared = db.sessionmaker()
    try:
        results = await asyncio.gather(*(shared.get(Bid, k) for k in range(10, 30)), return_exceptions=True)
        errors = Counter(f"{type(r).__name__}: {str(r).splitlines()[0][:140]}" for r in results
                         if isinstance(r, BaseException))
        out: dict[str, Any] = {"calls": len(results), "failed": sum(errors.values()),
                               "errors": errors.most_common(3)}
        try:
            await shared.close()
        except Exception as exc:  # closing after concurrent misuse may itself fail
            out["close_error"] = type(exc).__name__
        return out
    finally:
        if dispose:
            await db.dispose()


def plot(rows: list[dict[str, Any]]) -> None:
    """Throughput, p99 and connections against the offered rate, one line per pattern."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for pattern in PATTERNS:
        mine = [r for r in rows if r["pattern"] == pattern]
        rates = [r["rate"] for r in mine]
        axes[0].plot(rates, [r["throughput"] for r in mine], marker="o", label=pattern)
        axes[1].plot(rates, [max(r["p99_ms"], 0.1) for r in mine], marker="o", label=pattern)
        axes[2].plot(rates, [r["conn_max"] for r in mine], marker="o", label=pattern)
    axes[0].plot(RATES, RATES, color="grey", ls=":", lw=1, label="offered")
    axes[0].set_title("successful responses/s")
    axes[1].set_title("p99 latency (ms, log; all responses)")
    axes[1].set_yscale("log")
    axes[2].set_title("max connections in pg_stat_activity")
    for ax in axes:
        ax.set_xlabel("offered rate (requests/s, open loop)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def write_results(m: dict[str, str], seconds: float, rows: list[dict[str, Any]], failures: dict[str, str],
                  d: dict[str, Any]) -> str:
    """Replace the `## Sessions` section of bench/RESULTS.md."""
    base = {r["rate"]: r for r in rows if r["pattern"] == "per-request"}
    lines = [
        "## Sessions",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, PostgreSQL {m['postgresql']}, "
        f"Python {m['python']}; loopback. Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. "
        f"Run time {seconds:.0f} s.",
        "",
        "Command: `.venv/bin/python bench/sessions/run.py` (scratch database `forest_bench_sessions`, "
        f"{BIDS:,} seeded bids; `bench/sessions/app.py`, one uvicorn process per pattern, Forest's engine with its "
        "default pool of 10 + 10 overflow). Each request reads one bid by id and the 20 newest ids. Open loop, "
        f"Poisson arrivals, {SECONDS} s per rate, at most {CONCURRENCY} requests in flight. Baseline: the "
        "session per request (Forest's `get_session` dependency) at the same rate, same run. "
        "Plot: [plots/sessions.png](plots/sessions.png).",
        "",
        "| pattern | offered/s | ok/s | errors (5xx + network) | p50 | p99 | p99 vs baseline | "
        "connections max / mean | `idle in transaction` max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ref = base.get(r["rate"])
        ratio = f"{r['p99_ms'] / ref['p99_ms']:.2f}×" if ref and ref["p99_ms"] else "n/a"
        lines.append(f"| {r['pattern']} | {r['rate']} | {r['throughput']:.0f} | {r['errors']} of {r['requests']} | "
                     f"{r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {ratio} | {r['conn_max']} / "
                     f"{r['conn_mean']:.1f} | {r['idle_in_tx_max']} |")
    st, it, cc, cw = d["stale"], d["idle_in_tx"], d["concurrent"], d["concurrent_warm"]
    lines += [
        "",
        "Forty concurrent requests against a fresh process of each pattern: "
        + "; ".join(f"`{p}`: {s}" for p, s in failures.items()) + ".",
        "",
        "What breaks with one long-lived session (in-process demonstrations, same database):",
        "",
        f"- **Stale reads (identity map).** The shared session read bid 1 (views {st['before']}); another "
        f"connection added 1,000 views and committed. The shared session then returned views {st['get']} from "
        f"`session.get`, {st['select_entity']} from `select(Bid)` (the row is re-read but the loaded object is not "
        f"overwritten), while `select(Bid.views)` returned {st['select_column']} and a fresh session "
        f"{st['fresh_session']}.",
        f"- **Leaked transaction.** After that read the connection sat `{it['state']}` in pg_stat_activity, its "
        f"transaction {it['age_s']:.1f} s old and never ended: autobegin opened it and nothing commits or closes a "
        "session that lives forever. The server ends such transactions after `idle_in_transaction_session_timeout` "
        f"(Forest sets 60 s; 1 s in the demo), and the long-lived session's next query failed: `{d['timeout_error']}`.",
        f"- **Concurrent use.** {cc['calls']} `session.get` calls gathered on one new `AsyncSession` while the "
        f"engine's pool is empty (a fresh process): {cc['failed']} failed"
        + (": " + "; ".join(f"{n}× `{e}`" for e, n in cc["errors"]) if cc["errors"] else "")
        + f". The same with a connection idle in the pool: {cw['failed']} failed"
        + (": " + "; ".join(f"{n}× `{e}`" for e, n in cw["errors"]) if cw["errors"] else "")
        + (". Without pool pre-ping (Forest's default) that checkout does not wait, so the first call holds the "
           "connection before the others start and SQLAlchemy's asyncpg adapter queues them on its lock: no error, "
           "but every task runs inside the one transaction." if not cw["failed"] else "."),
        "",
    ]
    return write_section("## Sessions", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print results, leave RESULTS.md and plots alone")
    args = parser.parse_args()
    started = time.perf_counter()
    m = machine_with_postgres()
    log = Path("/tmp/forest-bench-sessions.log")
    asyncio.run(recreate_db(PG_DB))
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    try:
        migrate.upgrade("head", settings())
        asyncio.run(seed())
        for pattern in PATTERNS:
            proc, base = start_app(log)
            try:
                asyncio.run(replay(entries(pattern, 50, 2, 0), target=base))  # warm-up
                for rate in RATES:
                    row = asyncio.run(measure(pattern, base, rate))
                    rows.append(row)
                    print(f"{pattern:14} {rate:4}/s ok {row['throughput']:6.1f}/s errors {row['errors']:5} "
                          f"p99 {row['p99_ms']:8.1f} ms conns {row['conn_max']}", flush=True)
            finally:
                stop_app(proc)
            proc, base = start_app(log)
            try:
                failures[pattern] = asyncio.run(error_sample(base, pattern))
            finally:
                stop_app(proc)
        d = asyncio.run(demos())
        print(d, flush=True)
    finally:
        asyncio.run(recreate_db(PG_DB, drop_only=True))
    seconds = time.perf_counter() - started
    if args.no_write:
        print(failures)
        return
    plot(rows)
    print(write_results(m, seconds, rows, failures, d))


if __name__ == "__main__":
    main()
