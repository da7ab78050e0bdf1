"""Sync vs async benchmark: the bid list endpoint as `async def` on asyncpg vs. `def` on the threadpool with psycopg 3.

One command: `.venv/bin/python bench/sync_vs_async/run.py` (see bench/README.md). On a scratch PostgreSQL
database `forest_bench_sync_async` (created, migrated, seeded with 100,000 bids by Forest's generator,
dropped afterwards) it

1. starts `bench/sync_vs_async/app.py` twice with uvicorn, one worker each: `async_app` (an `async def`
   endpoint, SQLAlchemy's async engine on asyncpg) and `sync_app` (a plain `def` endpoint that FastAPI runs
   in its worker threads, SQLAlchemy's sync engine on psycopg 3), same SQL, same pool, same response body
   (checked byte for byte before measuring);
2. drives `GET /bids?limit=20&department=…` with closed-loop clients (`wrk`, else an httpx fallback) at
   1, 16 and 64 concurrent connections, ROUNDS rounds with the order of the two servers swapped each round,
   STEP_S seconds per step, reading each server's threadpool and pool use and its CPU time per step;
3. writes `bench/plots/sync_vs_async.png` and the `## Sync vs async` section of `bench/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.common import cpu_seconds, machine_with_postgres, pg_url, recreate_db, start_uvicorn, write_section  # noqa: E402
from bench.sessions.run import stop_app  # noqa: E402

from forest.bids.seed import seed_bids  # noqa: E402
from forest.cli import migrate  # noqa: E402
from forest.config import Settings  # noqa: E402
from forest.database import Database  # noqa: E402
from forest.replay.stats import RouteStats  # noqa: E402

PLOT = ROOT / "bench" / "plots" / "sync_vs_async.png"
PG_DB = "forest_bench_sync_async"
VAR = Path("/tmp/forest-bench-sync-async")
SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
BIDS = 100_000
DEPARTMENT = "산불방지과"
CONCURRENCIES = (1, 16, 64)
STEP_S = 8
ROUNDS = 2
WARMUP_S = 3
MODES = ("async", "sync")
LABELS = {"async": "`async def` + asyncpg", "sync": "`def` (threadpool) + psycopg 3"}


def pool_words() -> str:
    """The pool both servers use, in words."""
    s = settings()
    return (f"pool {s.db_pool_size} + {s.db_pool_max_overflow} overflow, "
            f"pre-ping {'on' if s.db_pool_pre_ping else 'off'}")


def settings() -> Settings:
    """Settings of the seeder and of both servers (Forest's defaults otherwise, its pool among them)."""
    return Settings(database_url=pg_url(PG_DB), secret_key=SECRET, var_dir=VAR)


async def seed() -> dict[str, Any]:
    """Seed the bids; return how many the benchmark's department has."""
    db = Database.from_settings(settings())
    try:
        async with db.sessionmaker() as session:
            report = await seed_bids(session=session, n=BIDS, sources=5, seed=7)
        conn = await asyncpg.connect(pg_url(PG_DB).replace("postgresql+asyncpg://", "postgresql://"))
        try:
            matching = int(await conn.fetchval("SELECT count(*) FROM bid WHERE department = $1", DEPARTMENT))
        finally:
            await conn.close()
    finally:
        await db.dispose()
    return {"rows": report.rows, "seconds": report.seconds, "matching": matching}


def start_app(mode: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `app:<mode>_app` with uvicorn (one worker) and wait until it answers."""
    env = {**os.environ, "FOREST_DATABASE_URL": pg_url(PG_DB), "FOREST_SECRET_KEY": SECRET,
           "FOREST_VAR_DIR": str(VAR), "FOREST_ENVIRONMENT": "local", "PYTHONPATH": str(ROOT / "src")}
    return start_uvicorn(ROOT / "bench" / "sync_vs_async", f"app:{mode}_app", env, log)


def to_ms(value: str) -> float:
    """A wrk duration ("812.00us", "3.41ms", "1.20s", "2.00m") in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    assert match, value
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[match.group(2)]


def wrk(url: str, clients: int, seconds: float) -> dict[str, Any]:
    """Closed loop: `clients` connections, each sending its next request when the last one is answered."""
    out = subprocess.run(["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s",
                          "--latency", url], capture_output=True, text=True, check=True).stdout
    requests = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    assert requests, out
    dist = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))  # wrk pads "1.20s" with a space
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n = int(requests.group(1))
    elapsed = to_ms(requests.group(2) + requests.group(3)) / 1000
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    return {"requests": n, "seconds": elapsed, "rps": (n - errors) / elapsed, "errors": errors,
            "p50_ms": to_ms(dist["50"]), "p99_ms": to_ms(dist["99"])}


async def httpx_closed_loop(url: str, clients: int, seconds: float) -> dict[str, Any]:
    """The same closed loop in Python, when wrk is missing (heavier on the shared CPUs)."""
    stats = RouteStats()
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def one_client() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    status = (await client.get(url)).status_code
                except httpx.HTTPError:
                    stats.record_network_error()
                    continue
                stats.record_response(status, time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    errors = stats.errors + stats.client_errors
    return {"requests": stats.requests, "seconds": elapsed, "rps": (stats.requests - errors) / elapsed,
            "errors": errors, "p50_ms": stats.percentile_ms(50), "p99_ms": stats.percentile_ms(99)}


def load(url: str, clients: int, seconds: float) -> dict[str, Any]:
    """Closed-loop load from wrk if installed, else from httpx."""
    if shutil.which("wrk"):
        return wrk(url, clients, seconds)
    return asyncio.run(httpx_closed_loop(url, clients, seconds))


def step(mode: str, proc: subprocess.Popen[bytes], base: str, clients: int, round_: int) -> dict[str, Any]:
    """One measured step: reset the server's sampler, load it, read the sampler and its CPU time."""
    httpx.get(f"{base}/stats?reset=1", timeout=10).raise_for_status()
    cpu0 = cpu_seconds(proc.pid)
    row = load(f"{base}/bids?limit=20&department={quote(DEPARTMENT)}", clients, STEP_S)
    cpu = cpu_seconds(proc.pid) - cpu0
    server = httpx.get(f"{base}/stats", timeout=10).json()
    ok = row["requests"] - row["errors"]
    row.update(mode=mode, clients=clients, round=round_, server=server, cpu_s=cpu,
               cpu_ms_per_request=cpu * 1000 / ok if ok else float("nan"),
               load1=os.getloadavg()[0])
    print(f"round {round_} {mode:5} c={clients:<3} {row['rps']:7.1f} req/s  p50 {row['p50_ms']:7.1f} ms  "
          f"p99 {row['p99_ms']:7.1f} ms  errors {row['errors']}  cpu {row['cpu_ms_per_request']:.2f} ms/req  "
          f"threads busy max {server['max']['threads_busy']}/{server['thread_tokens']}  "
          f"waiting max {server['max']['waiting_for_thread']}  conns max {server['max']['connections_out']}",
          flush=True)
    return row


def same_body(bases: dict[str, str]) -> dict[str, Any]:
    """Both servers answer byte-identical bodies; return facts about that body."""
    url = f"/bids?limit=20&department={quote(DEPARTMENT)}"
    bodies = {mode: httpx.get(base + url, timeout=10) for mode, base in bases.items()}
    for r in bodies.values():
        r.raise_for_status()
    first, second = (bodies[m].content for m in MODES)
    if first != second:
        raise RuntimeError(f"bodies differ:\n{first[:600]!r}\n{second[:600]!r}")
    data = bodies["async"].json()
    return {"bytes": len(first), "items": len(data["items"]), "has_more": data["has_more"]}


def measure(log: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Start both servers, check their bodies, warm them up, then run the rounds."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    bases: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    try:
        for mode in MODES:
            procs[mode], bases[mode] = start_app(mode, log)
        body = same_body(bases)
        for mode in MODES:
            load(f"{bases[mode]}/bids?limit=20&department={quote(DEPARTMENT)}", 16, WARMUP_S)
        for round_ in range(1, ROUNDS + 1):
            order = MODES if round_ % 2 else tuple(reversed(MODES))
            for clients in CONCURRENCIES:
                for mode in order:
                    rows.append(step(mode, procs[mode], bases[mode], clients, round_))
    finally:
        for proc in procs.values():
            stop_app(proc)
    return rows, body


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (mode, clients): throughput over all rounds, mean p50/p99 of the rounds, server maxima."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for mode in MODES:
        for clients in CONCURRENCIES:
            mine = [r for r in rows if r["mode"] == mode and r["clients"] == clients]
            ok = sum(r["requests"] - r["errors"] for r in mine)
            out[(mode, clients)] = {
                "rps": ok / sum(r["seconds"] for r in mine),
                "rps_rounds": [r["rps"] for r in mine],
                "p50_ms": statistics.mean(r["p50_ms"] for r in mine),
                "p99_ms": statistics.mean(r["p99_ms"] for r in mine),
                "p99_rounds": [r["p99_ms"] for r in mine],
                "errors": sum(r["errors"] for r in mine), "requests": sum(r["requests"] for r in mine),
                "cpu_ms": sum(r["cpu_s"] for r in mine) * 1000 / ok if ok else float("nan"),
                "threads_max": max(r["server"]["max"]["threads_busy"] for r in mine),
                "threads_mean": statistics.mean(r["server"]["mean"]["threads_busy"] for r in mine),
                "waiting_max": max(r["server"]["max"]["waiting_for_thread"] for r in mine),
                "waiting_mean": statistics.mean(r["server"]["mean"]["waiting_for_thread"] for r in mine),
                "conns_max": max(r["server"]["max"]["connections_out"] for r in mine),
                "conns_mean": statistics.mean(r["server"]["mean"]["connections_out"] for r in mine),
                "os_threads_max": max(r["server"]["os_threads_max"] for r in mine),
                "tokens": mine[0]["server"]["thread_tokens"],
            }
    return out


def plot(summary: dict[tuple[str, int], dict[str, Any]]) -> None:
    """Throughput and p50/p99 against concurrent clients, one line per server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    colors = {"async": "tab:blue", "sync": "tab:orange"}
    names = {"async": "async def + asyncpg", "sync": "def (threadpool) + psycopg 3"}
    for mode in MODES:
        s = [summary[(mode, c)] for c in CONCURRENCIES]
        axes[0].plot(CONCURRENCIES, [x["rps"] for x in s], marker="o", color=colors[mode], label=names[mode])
        axes[1].plot(CONCURRENCIES, [x["p99_ms"] for x in s], marker="o", color=colors[mode],
                     label=f"{names[mode]}: p99")
        axes[1].plot(CONCURRENCIES, [x["p50_ms"] for x in s], marker="o", ls="--", color=colors[mode],
                     label=f"{names[mode]}: p50")
    ratio = [summary[("async", c)]["rps"] / summary[("sync", c)]["rps"] for c in CONCURRENCIES]
    axes[2].bar([str(c) for c in CONCURRENCIES], ratio, color="tab:green")
    axes[2].axhline(1, color="grey", lw=1, ls=":")
    for i, r in enumerate(ratio):
        axes[2].text(i, r, f"{r:.2f}×", ha="center", va="bottom")
    axes[0].set_ylim(bottom=0)
    axes[0].set_title("requests/s (closed loop)")
    axes[1].set_title("latency, ms (log)")
    axes[1].set_yscale("log")
    axes[2].set_title("requests/s async / sync, same run")
    for ax in axes[:2]:
        ax.set_xscale("log", base=2)
        ax.set_xticks(CONCURRENCIES, [str(c) for c in CONCURRENCIES])
        ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("concurrent clients")
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"GET /bids?limit=20&department=… ({BIDS:,} bids), one uvicorn worker each")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def verdict(summary: dict[tuple[str, int], dict[str, Any]]) -> list[str]:
    """Plain statements derived from the figures of this run."""
    ratios = {c: summary[("async", c)]["rps"] / summary[("sync", c)]["rps"] for c in CONCURRENCIES}
    p99 = {c: summary[("sync", c)]["p99_ms"] / summary[("async", c)]["p99_ms"] for c in CONCURRENCIES}
    errors = sum(summary[(m, c)]["errors"] for m in MODES for c in CONCURRENCIES)
    lines = [
        "- **Bottom line:** async / sync requests/s "
        + ", ".join(f"{ratios[c]:.2f}× at {c}" for c in CONCURRENCIES)
        + " clients; requests/s went " + " → ".join(f"{summary[('async', c)]['rps']:.0f}" for c in CONCURRENCIES)
        + " for async and " + " → ".join(f"{summary[('sync', c)]['rps']:.0f}" for c in CONCURRENCIES)
        + f" for sync as clients grew. {'No request failed' if not errors else f'{errors} requests failed'} "
        "in either server."]
    for c in CONCURRENCIES:
        a, s = summary[("async", c)], summary[("sync", c)]
        if abs(ratios[c] - 1) < 0.1:
            word = "about the same throughput (within 10 %)"
        elif ratios[c] > 1:
            word = f"async served {ratios[c]:.2f}× the requests/s of sync"
        else:
            word = f"sync served {1 / ratios[c]:.2f}× the requests/s of async"
        lines.append(f"- **{c} client{'s' if c > 1 else ''}:** {word}; p99 {a['p99_ms']:.1f} ms async vs "
                     f"{s['p99_ms']:.1f} ms sync ({p99[c]:.2f}×); CPU per request {a['cpu_ms']:.2f} ms async vs "
                     f"{s['cpu_ms']:.2f} ms sync.")
    s64 = summary[("sync", 64)]
    lines.append(
        f"- **Threadpool at 64 clients:** the sync server has {s64['tokens']} worker-thread tokens (anyio's default "
        f"limiter). With 64 requests in flight at most {s64['threads_max']} ran in threads (mean "
        f"{s64['threads_mean']:.1f}) and up to {s64['waiting_max']} waited for a thread (mean "
        f"{s64['waiting_mean']:.1f}); at most {s64['conns_max']} pooled connections were checked out "
        f"({pool_words()}), so on average {max(0.0, s64['threads_mean'] - s64['conns_mean']):.1f} of the busy "
        "threads held no connection: blocked in SQLAlchemy's pool waiting for one, or in the second hop below. "
        f"{s64['errors']} of {s64['requests']:,} requests failed (pool timeout 3 s). The process had up to "
        f"{s64['os_threads_max']} OS threads. A `def` endpoint with a `response_model` takes two thread hops per "
        "request: the endpoint, then the response validation, which FastAPI also runs in the threadpool for "
        "non-async endpoints.")
    a1, s1 = summary[("async", 1)], summary[("sync", 1)]
    gap = 1000 / s1["rps"] - 1000 / a1["rps"]
    cpu_growth = {m: summary[(m, CONCURRENCIES[-1])]["cpu_ms"] / summary[(m, 1)]["cpu_ms"] for m in MODES}
    per_round = [x / y for x, y in zip(a1["rps_rounds"], s1["rps_rounds"], strict=True)]
    one = f"the mean time per request was {1000 / a1['rps']:.2f} ms async and {1000 / s1['rps']:.2f} ms sync; "
    if abs(gap) < 0.1 or min(per_round) <= 1 <= max(per_round):
        one += ("no consistent difference (async / sync per round: "
                + ", ".join(f"{r:.2f}×" for r in per_round) + "): the sync path's two hand-offs to a worker thread "
                "and back per request (endpoint, then response validation) are lost in this machine's noise. ")
    elif gap > 0:
        one += (f"sync took {gap:.2f} ms longer per request in every round, the cost of its two hand-offs to a "
                "worker thread and back (endpoint, then response validation). ")
    else:
        one += f"async took {-gap:.2f} ms longer per request in every round. "
    lines.append(
        "- **Why (reading of the figures):** with one client, requests/s is 1 / latency: " + one
        + "With 16 and 64 clients the one process is CPU-bound (it shares two cores with PostgreSQL and the load "
        "generator), so requests/s follows CPU per request: from 1 to "
        f"{CONCURRENCIES[-1]} clients that changed {cpu_growth['async']:.2f}× for async and "
        f"{cpu_growth['sync']:.2f}× for sync, consistent with the cost of switching between up to "
        f"{summary[('sync', CONCURRENCIES[-1])]['tokens']} threads under the GIL. Async does not make the query "
        "faster; it avoids the thread hand-offs and holds more requests in flight than a threadpool has threads.")
    return lines


def write_results(m: dict[str, str], seeded: dict[str, Any], body: dict[str, Any], rows: list[dict[str, Any]],
                  summary: dict[tuple[str, int], dict[str, Any]], seconds: float, load_start: str) -> str:
    """Replace the `## Sync vs async` section of bench/RESULTS.md."""
    tool = (f"`wrk -t{{1|2}} -c{{clients}} -d{STEP_S}s --latency`" if shutil.which("wrk")
            else "an httpx closed-loop client")
    lines = [
        "## Sync vs async",
        "",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; run time {seconds:.0f} s",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, PostgreSQL {m['postgresql']}, "
        f"Python {m['python']}; loopback; load average at start {load_start} (shared machine: absolute "
        "figures are noisy, the ratios within this run are the point)",
        "- Command: `.venv/bin/python bench/sync_vs_async/run.py` (scratch database `forest_bench_sync_async`, "
        f"{seeded['rows']:,} bids seeded by Forest's generator, {seeded['matching']:,} of them in `{DEPARTMENT}`; "
        "`bench/sync_vs_async/app.py`, one uvicorn process with one worker per server, started together)",
        f"- Endpoint: `GET /bids?limit=20&department={DEPARTMENT}`, the SQL of the API's keyset first page "
        "(`department IN (…) ORDER BY post_date DESC, id DESC LIMIT 21`), session per request, `Page[BidRead]` "
        f"body with a signed next cursor, byte-identical from both servers ({body['bytes']:,} bytes, "
        f"{body['items']} items); no authentication. Both engines: {pool_words()}, Forest's "
        "timeouts.",
        f"- Load: closed loop from {tool} on the same machine, 1, 16 and 64 concurrent connections, {STEP_S} s per "
        f"step after a {WARMUP_S} s warm-up per server; {ROUNDS} rounds, the two servers alternating within each "
        "concurrency and their order swapped between rounds. requests/s = successful responses over both rounds; "
        "p50 and p99 = mean of the rounds' percentiles. CPU = the server process's user + system time per "
        "request (PostgreSQL and the client not counted).",
        "",
        "| clients | server | requests/s | p50 ms | p99 ms | errors | CPU ms/request | threads busy max (mean) "
        "| waiting for a thread max (mean) | connections out max (mean) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in CONCURRENCIES:
        for mode in MODES:
            s = summary[(mode, c)]
            threads = (f"{s['threads_max']} / {s['tokens']} ({s['threads_mean']:.1f})" if mode == "sync"
                       else f"{s['threads_max']} ({s['threads_mean']:.1f})")
            lines.append(f"| {c} | {LABELS[mode]} | {s['rps']:.0f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | "
                         f"{s['errors']} of {s['requests']:,} | {s['cpu_ms']:.2f} | {threads} | "
                         f"{s['waiting_max']} ({s['waiting_mean']:.1f}) | {s['conns_max']} ({s['conns_mean']:.1f}) |")
    lines += [
        "",
        "Ratio async / sync, same run (requests/s; p99 as sync / async, so above 1 favours async too):",
        "",
        "| clients | requests/s async / sync | per round | p99 sync / async | per round |",
        "|---:|---:|---|---:|---|",
    ]
    for c in CONCURRENCIES:
        a, s = summary[("async", c)], summary[("sync", c)]
        per_round = ", ".join(f"{x / y:.2f}×" for x, y in zip(a["rps_rounds"], s["rps_rounds"], strict=True))
        p99_round = ", ".join(f"{y / x:.2f}×" for x, y in zip(a["p99_rounds"], s["p99_rounds"], strict=True))
        lines.append(f"| {c} | **{a['rps'] / s['rps']:.2f}×** | {per_round} | {s['p99_ms'] / a['p99_ms']:.2f}× | "
                     f"{p99_round} |")
    lines += [
        "",
        "Per step (round, clients, server: requests/s, p99 ms, 1-minute load average after the step): "
        + "; ".join(f"{r['round']}/{r['clients']}/{r['mode']}: {r['rps']:.0f}, {r['p99_ms']:.1f}, {r['load1']:.1f}"
                    for r in rows) + ".",
        "",
        "### Verdict",
        "",
        *verdict(summary),
        "",
        "![sync vs async](plots/sync_vs_async.png)",
        "",
    ]
    return write_section("## Sync vs async", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print results, leave RESULTS.md and plots alone")
    args = parser.parse_args()
    started = time.perf_counter()
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    m = machine_with_postgres()
    m["cpu"] = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), m["cpu"])
    VAR.mkdir(parents=True, exist_ok=True)
    log = VAR / "servers.log"
    log.write_bytes(b"")
    asyncio.run(recreate_db(PG_DB))
    try:
        migrate.upgrade("head", settings())
        seeded = asyncio.run(seed())
        print(f"seeded {seeded['rows']:,} bids in {seeded['seconds']:.1f} s; {seeded['matching']:,} in {DEPARTMENT}",
              flush=True)
        rows, body = measure(log)
    finally:
        asyncio.run(recreate_db(PG_DB, drop_only=True))
    (VAR / "rows.json").write_text(json.dumps({"rows": rows, "seeded": seeded, "body": body}, indent=1))
    summary = summarise(rows)
    seconds = time.perf_counter() - started
    if args.no_write:
        for line in verdict(summary):
            print(line)
        return
    plot(summary)
    print(write_results(m, seeded, body, rows, summary, seconds, load_start))


if __name__ == "__main__":
    main()
