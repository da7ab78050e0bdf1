"""Fleet benchmark: many polite crawls of many hosts on 2 worker processes, measured at the boards.

One command (see bench/README.md): `.venv/bin/python bench/fleet/run.py` (the full run: 1,000 sources on 250 hosts).
On a scratch PostgreSQL database `forest_bench_fleet` (created, migrated, seeded with bids, dropped afterwards)
and Redis DB 13 (broker, events and the shared per-host schedule) it

- serves a fleet of demo boards from one process (`python -m forest.demo_site.fleet`, at `nice -n 10`: it
  stands in for remote sites): `--hosts` hosts as distinct 127.0.0.x addresses on one port, `--boards-per-host`
  boards each, robots.txt with `Crawl-delay: 1` on every `--crawl-delay-every`-th host; the fleet logs the
  arrival time of every request per host;
- creates one polite source per board (`--delay` seconds, `--pages` list pages, details on) for each phase;
- per phase starts `forest worker --concurrency 2` as shipped (2 worker processes), measures
  `GET /api/v1/bids?limit=20` (open loop, Poisson) idle, submits every source's crawl, measures the same reads
  while the fleet crawls, waits for the crawls to end (or `--baseline-seconds` for the baseline) and reads the
  workers' CPU time and the boards' arrival logs;
- phases: **baseline** = today's model, one crawl per process (`FOREST_WORKER_CRAWLS_PER_PROCESS=1`), measured for
  `--baseline-seconds` and then stopped; **fleet** = many crawls per process (the worker's default, or
  `--crawls-per-process`), to the end;

then writes the `## Fleet` section of bench/RESULTS.md: aggregate pages/s, worker CPU per page, the most
requests any host saw in any 1 s and 10 s window, violations of each host's delay (gaps between consecutive
requests shorter than max(source delay, Crawl-delay), measured with the boards' clock), and the read p99 ratio.

A small run (about a minute): `--hosts 20 --boards-per-host 2 --pages 2 --delay 0.2 --baseline-seconds 15
--read-seconds 10 --no-write`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import select, update

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.common import bid_list_reads, free_port, machine_with_postgres, pg_url, recreate_db, write_section  # noqa: E402

from forest.bids.seed import seed_bids  # noqa: E402
from forest.cli import migrate  # noqa: E402
from forest.config import Settings  # noqa: E402
from forest.crawls.models import CrawlJob  # noqa: E402
from forest.database import Database, utcnow  # noqa: E402
from forest.demo_site.fleet import crawl_delay_of, host_address  # noqa: E402
from forest.replay.runner import replay  # noqa: E402
from forest.security import create_access_token  # noqa: E402
from forest.sources.models import Source  # noqa: E402
from forest.users.models import User  # noqa: E402
from tests.crawls.conftest import Stack  # noqa: E402  (the process spawning shared with the job tests)

PG_DB = "forest_bench_fleet"
REDIS_URL = os.environ.get("FOREST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
WORKERS = 2
BOARD_NICE = 10
NOTICES_PER_BOARD = 110  # 11 list pages of 10: a 10-page crawl never runs out of board
TARGET_PAGES_PER_SECOND = 200.0
TARGET_READ_RATIO = 1.5
FINAL = {"succeeded", "failed", "cancelled"}
DEFAULT_CRAWLS_PER_PROCESS = Settings.model_fields["worker_crawls_per_process"].default


def settings_for(var_dir: Path, allow: list[str]) -> Settings:
    """Settings of the bench process itself (same database and Redis as the stack)."""
    return Settings(database_url=pg_url(PG_DB), var_dir=var_dir, secret_key=SECRET, broker_url=REDIS_URL,
                    redis_url=REDIS_URL, crawl_allow_hosts=allow, environment="local")


async def prepare(settings: Settings, bids: int) -> tuple[int, float]:
    """Seed bids for the reads to page through; an admin who owns the crawls. Returns (admin id, seed seconds)."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            seeded = await seed_bids(session=session, n=bids, sources=5, seed=1)
        async with db.sessionmaker() as session:
            admin = User(email="fleet-admin@example.com", password_hash="x", is_admin=True, created_at=utcnow())
            session.add(admin)
            await session.commit()
            return admin.id, seeded.seconds
    finally:
        await db.dispose()


async def add_sources(settings: Settings, label: str, urls: list[str], *, pages: int, delay: float) -> list[int]:
    """One polite source per board URL."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            sources = [Source(name=f"fleet-{label}-{k}", start_url=url, preset="demo_board", max_pages=pages,
                              timezone="Asia/Seoul", polite=True, delay_seconds=delay, enabled=True,
                              created_at=utcnow()) for k, url in enumerate(urls)]
            session.add_all(sources)
            await session.commit()
            return [s.id for s in sources]
    finally:
        await db.dispose()


async def submit_all(settings: Settings, admin_id: int, source_ids: list[int]) -> list[str]:
    """Submit every source's crawl through `crawls.lifecycle.submit`, as `POST /api/v1/crawls` does (without its
    per-user submission rate limit, which would take the fleet half an hour to get through)."""
    from forest.crawls import lifecycle
    from forest.crawls.schemas import CrawlCreate
    from forest.worker.celery_app import make_celery
    from forest.worker.dispatch import Dispatcher

    queue = Dispatcher(make_celery(settings))  # the API's JobQueue, on this run's broker

    class Silent:  # nobody listens to the bench admin's events
        async def publish(self, _events: object) -> None:
            return None

    db = Database.from_settings(settings)
    ids: list[str] = []
    try:
        async with db.sessionmaker() as session:
            admin = await session.get(User, admin_id)
            assert admin is not None
            for sid in source_ids:
                job = await lifecycle.submit(session=session, settings=settings, user=admin,
                                             job_in=CrawlCreate(source_id=sid), idempotency_key=None,
                                             queue=queue, announcer=Silent())
                ids.append(str(job.id))
    finally:
        await db.dispose()
    return ids


async def job_states(settings: Settings, ids: list[str]) -> dict[str, int]:
    """How many of these jobs are in each state."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            states = (await session.scalars(select(CrawlJob.state).where(CrawlJob.id.in_(ids)))).all()
    finally:
        await db.dispose()
    out: dict[str, int] = {}
    for state in states:
        out[state] = out.get(state, 0) + 1
    return out


async def cancel_unfinished(settings: Settings, ids: list[str]) -> None:
    """End the phase's jobs that are still queued or running (their workers are about to be stopped)."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            unfinished = CrawlJob.state.in_(("queued", "running"))
            await session.execute(update(CrawlJob).where(CrawlJob.id.in_(ids), unfinished)
                                  .values(state="cancelled", cancel_requested=True, finished_at=utcnow()))
            await session.commit()
    finally:
        await db.dispose()


def tree_cpu(root: int) -> float:
    """User + system CPU seconds of a process and all its live descendants (a worker's supervisor and its
    worker processes, which lead process groups of their own), plus their reaped children's."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # ppid; utime, stime, and the CPU of children already reaped (cutime, cstime)
        stats[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / tick)
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, (ppid, _) in stats.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(stats[pid][1] for pid in tree if pid in stats)


def named_cpu(names: tuple[str, ...]) -> float:
    """User + system CPU seconds of every live process whose command name is one of `names` (PostgreSQL's
    server and backends run as their own processes, not the bench's children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, rest = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        if head.split("(", 1)[1] in names:
            # utime, stime and the reaped children's (PostgreSQL's ended backends count in the postmaster's)
            total += sum(int(f) for f in rest.split()[11:15]) / tick
    return total


def component_cpu(stack: Stack, worker: subprocess.Popen[bytes], fleet_pid: int) -> dict[str, float]:
    """CPU seconds so far of each part of the run: the workers, the API, PostgreSQL, Redis, the boards."""
    api = stack.procs["api"].pid
    return {"workers": tree_cpu(worker.pid), "api": tree_cpu(api), "postgres": named_cpu(("postgres",)),
            "redis": named_cpu(("redis-server",)), "boards": tree_cpu(fleet_pid)}


def window_max(times: list[float], width: float) -> int:
    """The most requests inside any window [t, t + width) starting at a request."""
    best, j = 0, 0
    for i, t in enumerate(times):
        j = max(j, i)
        while j < len(times) and times[j] < t + width:
            j += 1
        best = max(best, j - i)
    return best


def analyse(arrivals: dict[str, list[float]], delays: dict[str, float], since: float,
            until: float | None = None) -> dict[str, Any]:
    """Pages, rate and per-host pace from the boards' arrival logs."""
    per_host = {h: sorted(t for t in ts if t >= since and (until is None or t <= until)) for h, ts in arrivals.items()}
    per_host = {h: ts for h, ts in per_host.items() if ts}
    all_times = sorted(t for ts in per_host.values() for t in ts)
    violations = 0
    min_margin = float("inf")
    for host, ts in per_host.items():
        delay = delays.get(host, 0.0)
        for a, b in itertools.pairwise(ts):
            gap = b - a
            min_margin = min(min_margin, gap - delay)
            if gap < delay:
                violations += 1
    pages = len(all_times)
    span = (all_times[-1] - all_times[0]) if pages > 1 else 0.0
    busy = [len(ts) for ts in per_host.values()]
    # Spread within the phase: pages/s of each whole minute from the first arrival on.
    minutes = [sum(1 for t in all_times if all_times[0] + 60 * k <= t < all_times[0] + 60 * (k + 1)) / 60
               for k in range(int(span // 60))] if pages > 1 else []
    return {
        "pages": pages, "span_s": span, "pages_per_s": pages / span if span else 0.0, "hosts": len(per_host),
        "violations": violations, "min_margin_s": min_margin if min_margin != float("inf") else None,
        "max_1s": max((window_max(ts, 1.0) for ts in per_host.values()), default=0),
        "max_10s": max((window_max(ts, 10.0) for ts in per_host.values()), default=0),
        "median_host_pages": statistics.median(busy) if busy else 0,
        "per_minute": minutes,
    }


def summary(run: Any) -> dict[str, Any]:
    """Overall figures of a replay run."""
    stats = run.overall
    return {"requests": stats.requests, "errors": stats.errors, "p50_ms": stats.percentile_ms(50),
            "p99_ms": stats.percentile_ms(99), "max_ms": stats.max_ms()}


def run_phase(stack: Stack, settings: Settings, args: argparse.Namespace, *, label: str, crawls_per_process: int,
              source_ids: list[int], admin_id: int, api: str, fleet: str, delays: dict[str, float],
              time_limit: float | None, fleet_pid: int) -> dict[str, Any]:
    """One phase: workers up, idle reads, submit, loaded reads, wait (or stop at `time_limit`), measure."""
    token, _ = create_access_token(settings, admin_id)
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{fleet}/_fleet/reset", timeout=10).raise_for_status()
    extra = {"FOREST_WORKER_CRAWLS_PER_PROCESS": str(crawls_per_process)} if crawls_per_process else {}
    if args.worker_nice is not None:
        extra["FOREST_WORKER_NICE"] = str(args.worker_nice)
    worker = stack.spawn(f"worker-{label}", "worker", "--concurrency", str(WORKERS), "--hostname", f"{label}@%h",
                         extra_env=extra)
    time.sleep(8)
    entries = bid_list_reads(args.read_rate, args.read_seconds, seed=3)
    asyncio.run(replay(bid_list_reads(args.read_rate, 3, seed=3), target=api, headers=headers))  # warm-up
    idle = summary(asyncio.run(replay(entries, target=api, headers=headers)))
    cpu_before = component_cpu(stack, worker, fleet_pid)
    started = time.time()
    ids = asyncio.run(submit_all(settings, admin_id, source_ids))
    print(f"[{label}] submitted {len(ids)} crawls in {time.time() - started:.1f} s", flush=True)
    time.sleep(min(args.ramp_seconds, time_limit or args.ramp_seconds))
    loaded = summary(asyncio.run(replay(entries, target=api, headers=headers)))
    deadline = started + (time_limit if time_limit is not None else args.max_seconds)
    states: dict[str, int] = {}
    while time.time() < deadline:
        states = asyncio.run(job_states(settings, ids))
        if sum(n for s, n in states.items() if s in FINAL) == len(ids):
            break
        print(f"[{label}] {time.time() - started:.0f} s: {states}", flush=True)
        time.sleep(5)
    ended = time.time()
    cpu_after = component_cpu(stack, worker, fleet_pid)
    parts = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
    cpu = parts["workers"]
    host_metrics = scrape_host_metrics(api)
    arrivals: dict[str, list[float]] = httpx.get(f"{fleet}/_fleet/arrivals", timeout=60).json()
    states = asyncio.run(job_states(settings, ids))
    asyncio.run(cancel_unfinished(settings, ids))
    stack.kill(f"worker-{label}", signal.SIGKILL)
    redis.Redis.from_url(REDIS_URL).flushdb()  # the broker's leftover deliveries and the schedule's state
    result = analyse(arrivals, delays, started, ended)
    result.update({"label": label, "crawls_per_process": crawls_per_process, "sources": len(source_ids),
                   "wall_s": ended - started, "cpu_s": cpu, "states": states, "idle": idle, "loaded": loaded,
                   "metrics_requests": host_metrics})
    result["cpu_ms_per_page"] = 1000 * cpu / result["pages"] if result["pages"] else float("nan")
    result["parts_ms_per_page"] = {k: 1000 * v / result["pages"] if result["pages"] else float("nan")
                                   for k, v in parts.items()}
    result["read_p99_ratio"] = loaded["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] else float("inf")
    print(f"[{label}] {result['pages']} pages in {result['span_s']:.1f} s = {result['pages_per_s']:.1f} pages/s, "
          f"CPU {result['cpu_ms_per_page']:.2f} ms/page, violations {result['violations']}, max/1 s "
          f"{result['max_1s']}, max/10 s {result['max_10s']}, read p99 {idle['p99_ms']:.1f} -> "
          f"{loaded['p99_ms']:.1f} ms, states {states}", flush=True)
    print(f"[{label}] CPU ms per page: " + ", ".join(f"{k} {v:.2f}" for k, v in result["parts_ms_per_page"].items()),
          flush=True)
    return result


def scrape_host_metrics(api: str) -> int:
    """Requests the fleet counted in the shared schedule (sum of `forest_crawl_host_requests_total` on /metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{api}/metrics", timeout=10).text
    return int(sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "forest_crawl_host_requests_total"))


def verdict(ok: bool) -> str:
    """Met / missed."""
    return "met" if ok else "**missed**"


def write_results(m: dict[str, str], args: argparse.Namespace, command: str, seconds: float,
                  rounds: list[dict[str, Any]], load: tuple[str, str]) -> str:
    """Replace the `## Fleet` section of bench/RESULTS.md."""
    base = [r for r in rounds if r["label"].startswith("baseline")]
    new = [r for r in rounds if r["label"].startswith("fleet")]
    lines = [
        "## Fleet",
        "",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; run time {seconds:.0f} s.",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, PostgreSQL {m['postgresql']}, Python "
        f"{m['python']}; everything on loopback. 1-minute load average before / after: {load[0]} / {load[1]} "
        "(other work shared this machine; the ratios against the baseline of the same run are what count).",
        f"- Command: `flock /tmp/forest-bench.lock {command}`",
        f"- Setup: {args.hosts} hosts (127.0.0.x, one fleet process at `nice -n {BOARD_NICE}`), {args.boards_per_host} "
        f"boards each = {args.hosts * args.boards_per_host} polite sources per phase (delay {args.delay:g} s, "
        f"{args.pages} list pages, details on; robots.txt `Crawl-delay: 1` on every {args.crawl_delay_every}th "
        f"host); `forest worker --concurrency {WORKERS}` as shipped (2 worker processes), PostgreSQL, Redis "
        "(broker, events, shared per-host schedule), one `forest api` process. Pages = requests the boards "
        "received (robots.txt, list and detail pages), counted at the boards; rate = pages / (last - first "
        "arrival); CPU = user + system time of the worker processes. Violation = two consecutive requests to one "
        "host closer than max(source delay, its Crawl-delay), by the boards' clock. Reads: "
        f"`GET /api/v1/bids?limit=20`, Poisson {args.read_rate}/s for {args.read_seconds} s, idle (workers up, "
        f"no crawls) vs from {args.ramp_seconds} s after submission.",
        "",
        "| phase | crawls per process | crawls ended | pages | s | pages/s | CPU ms/page | max req/host in 1 s | "
        "in 10 s | violations | closest gap - delay | read p99 idle → loaded | ratio |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rounds:
        ended = sum(n for s, n in r["states"].items() if s in FINAL)
        margin = f"{r['min_margin_s'] * 1000:+.1f} ms" if r["min_margin_s"] is not None else "n/a"
        per_process = r["crawls_per_process"] or f"{DEFAULT_CRAWLS_PER_PROCESS} (default)"
        lines.append(
            f"| {r['label']} | {per_process} | {ended}/{r['sources']} | {r['pages']:,} | "
            f"{r['span_s']:.0f} | {r['pages_per_s']:.1f} | {r['cpu_ms_per_page']:.2f} | {r['max_1s']} | "
            f"{r['max_10s']} | {r['violations']} | {margin} | {r['idle']['p99_ms']:.1f} → "
            f"{r['loaded']['p99_ms']:.1f} ms | {r['read_p99_ratio']:.2f}× |")
    lines.append("")
    bound = sum(1 / max(args.delay, crawl_delay_of(i, args.crawl_delay_every) or 0.0) for i in range(args.hosts))
    if base and new:
        b_rate = statistics.median(r["pages_per_s"] for r in base)
        n_rate = statistics.median(r["pages_per_s"] for r in new)
        spread = ", ".join(f"{r['pages_per_s']:.1f}" for r in new)
        lines += [
            f"Fleet / baseline, same run: **{n_rate / b_rate:.1f}×** pages/s ({n_rate:.1f} vs {b_rate:.1f}; fleet "
            f"rounds {spread}). Targets: ≥ {TARGET_PAGES_PER_SECOND:.0f} pages/s: "
            f"{verdict(n_rate >= TARGET_PAGES_PER_SECOND)}; 0 violations: "
            f"{verdict(all(r['violations'] == 0 for r in rounds))}; read p99 ≤ {TARGET_READ_RATIO}× idle: "
            f"{verdict(all(r['read_p99_ratio'] <= TARGET_READ_RATIO for r in new))}. Upper bound of the rate: "
            f"Σ 1/delay over hosts ≈ {bound:.0f} "
            "pages/s (less the response time, since each host's gap runs from the end of the previous response).",
            "",
        ]
    for r in rounds:
        if r["per_minute"]:
            lines.append(f"{r['label']}: pages/s per whole minute of the phase: "
                         + ", ".join(f"{x:.1f}" for x in r["per_minute"]) + ".")
    lines.append("")
    lines.append("CPU per page of every part of the run (user + system ms per page the boards received; PostgreSQL "
                 "counts every backend, Redis the whole server): "
                 + "; ".join(f"{r['label']}: " + ", ".join(f"{k} {v:.2f}" for k, v in r["parts_ms_per_page"].items())
                             for r in rounds) + ".")
    lines.append("")
    lines.append("Requests the shared schedule counted (`forest_crawl_host_requests_total` on the API's /metrics) "
                 "vs requests the boards received, per phase: "
                 + "; ".join(f"{r['label']} {r['metrics_requests']:,} / {r['pages']:,}" for r in rounds) + ".")
    return write_section("## Fleet", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=250)
    parser.add_argument("--boards-per-host", type=int, default=4)
    parser.add_argument("--pages", type=int, default=10, help="list pages per crawl")
    parser.add_argument("--delay", type=float, default=1.0, help="each source's politeness delay (s)")
    parser.add_argument("--crawl-delay-every", type=int, default=5, help="every N-th host has Crawl-delay: 1")
    parser.add_argument("--crawls-per-process", type=int, default=0,
                        help="the fleet phase's FOREST_WORKER_CRAWLS_PER_PROCESS (0: the worker's default)")
    parser.add_argument("--rounds", type=int, default=1, help="fleet phases (each with fresh sources)")
    parser.add_argument("--baseline-seconds", type=float, default=60.0, help="how long the baseline runs")
    parser.add_argument("--max-seconds", type=float, default=1200.0, help="a fleet phase's time limit")
    parser.add_argument("--ramp-seconds", type=float, default=20.0, help="submission to the loaded reads")
    parser.add_argument("--read-rate", type=float, default=50.0)
    parser.add_argument("--read-seconds", type=float, default=30.0)
    parser.add_argument("--bids", type=int, default=50_000, help="bids seeded before the run")
    parser.add_argument("--worker-nice", type=int, default=None,
                        help="the workers' FOREST_WORKER_NICE (default: the product's own, 10)")
    parser.add_argument("--no-write", action="store_true", help="print results, leave RESULTS.md alone")
    parser.add_argument("--keep-db", action="store_true", help=f"do not drop {PG_DB} afterwards")
    args = parser.parse_args()
    command = " ".join([".venv/bin/python", "bench/fleet/run.py", *sys.argv[1:]])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    started = time.perf_counter()
    load_before = f"{os.getloadavg()[0]:.2f}"
    m = machine_with_postgres()
    var_dir = Path(os.environ.get("FOREST_BENCH_VAR", "/tmp/forest-bench-fleet"))
    var_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(recreate_db(PG_DB))
    redis.Redis.from_url(REDIS_URL).flushdb()

    port = free_port()
    hosts = [f"{host_address(i)}:{port}" for i in range(args.hosts)]
    delays = {h: max(args.delay, crawl_delay_of(i, args.crawl_delay_every) or 0.0) for i, h in enumerate(hosts)}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FOREST_")},
           "FOREST_DATABASE_URL": pg_url(PG_DB), "FOREST_BROKER_URL": REDIS_URL, "FOREST_REDIS_URL": REDIS_URL,
           "FOREST_SECRET_KEY": SECRET, "FOREST_VAR_DIR": str(var_dir), "FOREST_ENVIRONMENT": "production",
           "FOREST_CRAWL_ALLOW_HOSTS": ",".join(hosts), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT / "src")}
    stack = Stack(env=env, database_url=pg_url(PG_DB), demo=None, var_dir=var_dir)
    rounds: list[dict[str, Any]] = []
    fleet_log = (var_dir / "fleet.log").open("ab")
    fleet_proc = subprocess.Popen(
        ["nice", "-n", str(BOARD_NICE), sys.executable, "-m", "forest.demo_site.fleet", "--hosts", str(args.hosts),
         "--port", str(port), "--boards", str(args.boards_per_host), "--notices", str(NOTICES_PER_BOARD),
         "--crawl-delay-every", str(args.crawl_delay_every)],
        cwd=ROOT, env=env, stdout=fleet_log, stderr=subprocess.STDOUT, start_new_session=True)
    fleet = f"http://{hosts[0]}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{fleet}/_fleet/arrivals", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or fleet_proc.poll() is not None:
                raise RuntimeError((var_dir / "fleet.log").read_text()[-3000:])
            time.sleep(0.3)
        settings = settings_for(var_dir, hosts)
        migrate.upgrade("head", settings)
        admin_id, seed_seconds = asyncio.run(prepare(settings, args.bids))
        print(f"seeded {args.bids} bids in {seed_seconds:.1f} s", flush=True)
        api = stack.start_api("api")
        urls = [f"http://{h}/b{k}/kfs/bid/list.do" for k in range(args.boards_per_host) for h in hosts]
        cpp = args.crawls_per_process
        phases = [("baseline", 1, args.baseline_seconds)] + \
            [(f"fleet-{k + 1}" if args.rounds > 1 else "fleet", cpp, None) for k in range(args.rounds)]
        for label, per_process, limit in phases:
            ids = asyncio.run(add_sources(settings, label, urls, pages=args.pages, delay=args.delay))
            rounds.append(run_phase(stack, settings, args, label=label, crawls_per_process=per_process,
                                    source_ids=ids, admin_id=admin_id, api=api, fleet=fleet, delays=delays,
                                    time_limit=limit, fleet_pid=fleet_proc.pid))
    finally:
        stack.stop_all()
        os.killpg(fleet_proc.pid, signal.SIGTERM)
        fleet_proc.wait(timeout=20)
        if not args.keep_db:
            asyncio.run(recreate_db(PG_DB, drop_only=True))
        redis.Redis.from_url(REDIS_URL).flushdb()
    seconds = time.perf_counter() - started
    if args.no_write:
        return
    print(write_results(m, args, command, seconds, rounds, (load_before, f"{os.getloadavg()[0]:.2f}")))


if __name__ == "__main__":
    main()
