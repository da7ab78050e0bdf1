"""Jobs benchmark: crawl submission latency, API reads under crawl load, WebSocket fan-out.

One command: `.venv/bin/python bench/jobs/run.py` (see bench/README.md). On a scratch PostgreSQL database
`forest_bench_jobs` (created, migrated, seeded with 50,000 bids, dropped afterwards) and Redis DB 12 it

(a) replays `POST /api/v1/crawls` open loop at 100 requests/s for 20 s against one API process, each request for
    a different source (2,000 sources created up front), with no worker running: the API's accept latency
    (write the job and its `job.queued` event, commit, enqueue on Redis, publish);
(b) replays `GET /api/v1/bids?limit=20` at 50 requests/s for 30 s while idle, then again while 4 crawls of the
    demo board (10,000 notices, its own process) run on 2 Celery workers; reports the p99 ratio; three rounds:
    polite crawls (Forest's default), politeness off, politeness off with the workers at `nice -n 10`;
(c) opens 1,000 WebSockets (1,000 users, `Authorization: Bearer`) on one API process and measures delivery of
    events written with `forest.events.stage` and announced with `Publisher.publish`, from just
    before `publish` to receipt: a trickle (one event to one user, 50/s) and a broadcast (one event to each of
    the 1,000 users, announced together);

then writes `bench/plots/jobs.png` and the `## Jobs` section of `bench/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import resource
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import redis
import websockets
from hdrh.histogram import HdrHistogram
from sqlalchemy import insert, update

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.common import bid_list_reads, machine_with_postgres, pg_url, recreate_db, write_section  # noqa: E402

from forest import events  # noqa: E402
from forest.bids.seed import seed_bids  # noqa: E402
from forest.cli import migrate  # noqa: E402
from forest.config import Settings  # noqa: E402
from forest.crawls.models import CrawlJob  # noqa: E402
from forest.database import Database, utcnow  # noqa: E402
from forest.events import Publisher  # noqa: E402
from forest.replay.entries import ReplayEntry  # noqa: E402
from forest.replay.runner import replay  # noqa: E402
from forest.replay.stats import RunResult  # noqa: E402
from forest.security import create_access_token  # noqa: E402
from forest.sources.models import Source  # noqa: E402
from forest.users.models import User  # noqa: E402
from tests.plugin import Stack  # noqa: E402  (the process spawning shared with the job tests)

PLOT = ROOT / "bench" / "plots" / "jobs.png"
PG_DB = "forest_bench_jobs"
REDIS_URL = os.environ.get("FOREST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
BIDS = 50_000
SUBMIT_RATE = 100
SUBMIT_SECONDS = 20
SUBMIT_SOURCES = 2_000
WARMUP_SOURCES = 100
CAPACITY_SOURCES = 300
READ_RATE = 50
READ_SECONDS = 30  # 1,500 requests per p99: 15 s (750) left the loaded/idle ratio at the mercy of a few requests
CRAWLS = 4
WORKERS = 2
WORKER_NICE = 10  # the third loaded run: workers at a lower CPU priority than the API
# (b)'s rounds: Forest's default polite crawls; crawls as fast as the board answers; the same with the
# workers at a lower CPU priority. Each round has fresh sources and its own idle baseline.
B_ROUNDS = (("polite", 0), ("default", 0), ("nice", WORKER_NICE))
B_LABELS = (("polite", "polite crawls (default)"), ("default", "politeness off"),
            ("nice", f"politeness off, workers at nice {WORKER_NICE}"))
BOARD_NICE = 10  # the demo board stands in for a remote site: it yields the CPU to everything else
NOTICES = 10_000  # enough for the crawls to outlast the 30 s loaded replay on this machine
WS_CLIENTS = 1_000
TRICKLE_EVENTS = 300
TRICKLE_RATE = 50
BROADCAST_ROUNDS = 3
TARGET_SUBMIT_P99_MS = 20.0
TARGET_READ_RATIO = 1.5
TARGET_WS_P99_MS = 100.0


def settings_for(var_dir: Path, allow: list[str]) -> Settings:
    """Settings of the bench process (same database and Redis as the stack)."""
    return Settings(database_url=pg_url(PG_DB), var_dir=var_dir, secret_key=SECRET, broker_url=REDIS_URL,
                    redis_url=REDIS_URL, crawl_allow_hosts=allow, environment="local")


async def prepare(settings: Settings, demo_url: str) -> dict[str, Any]:
    """Seed bids, create users (ORM, no password hashing cost) and sources."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            seeded = await seed_bids(session=session, n=BIDS, sources=5, seed=1)
        async with db.sessionmaker() as session:
            now = utcnow()
            users = [{"email": f"bench{k}@example.com", "password_hash": "x", "is_admin": False, "created_at": now}
                     for k in range(WS_CLIENTS + 1)]
            user_ids = list((await session.scalars(insert(User).returning(User.id), users)).all())
            rows = [{"name": f"bench-submit-{k}", "start_url": f"https://board.example.kr/bench/{k}",
                     "max_pages": 1, "timezone": "Asia/Seoul", "polite": False, "delay_seconds": 0.0,
                     # enabled (a normal user may not crawl a disabled source: 403), no schedule (beat leaves
                     # it alone), and no worker runs during (a)
                     "enabled": True, "schedule": None, "created_at": now}
                    for k in range(SUBMIT_SOURCES + WARMUP_SOURCES + CAPACITY_SOURCES)]
            submit_ids = list((await session.scalars(insert(Source).returning(Source.id), rows)).all())
            # The first CRAWLS sources crawl as Forest does by default (polite: one request at a time per
            # host, ~1 s apart); the others as fast as the board answers.
            crawl_rows = [{"name": f"bench-demo-{k}", "start_url": demo_url, "preset": "demo_board",
                           "max_pages": 1000, "timezone": "Asia/Seoul", "polite": k < CRAWLS,
                           "delay_seconds": None if k < CRAWLS else 0.0,
                           "enabled": True, "created_at": now} for k in range(3 * CRAWLS)]
            crawl_ids = list((await session.scalars(insert(Source).returning(Source.id), crawl_rows)).all())
            await session.commit()
        return {"seed_seconds": seeded.seconds, "user_ids": user_ids, "submit_sources": submit_ids,
                "crawl_sources": crawl_ids}
    finally:
        await db.dispose()


async def cancel_queued(settings: Settings) -> int:
    """Mark the jobs left queued by part (a) cancelled (their Celery messages are flushed with the DB)."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            result = await session.execute(update(CrawlJob).where(CrawlJob.state == "queued")
                                           .values(state="cancelled", finished_at=utcnow()))
            await session.commit()
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
    finally:
        await db.dispose()


def summary(run: RunResult) -> dict[str, Any]:
    """Overall figures of a replay run."""
    stats = run.overall
    return {"requests": stats.requests, "responses": stats.responses, "client_errors": stats.client_errors,
            "errors": stats.errors, "throughput_rps": run.throughput(stats),
            "p50_ms": stats.percentile_ms(50), "p90_ms": stats.percentile_ms(90),
            "p99_ms": stats.percentile_ms(99), "max_ms": stats.max_ms(), "histogram": stats.histogram}


def submit_entries(source_ids: list[int], rate: float) -> list[ReplayEntry]:
    """One `POST /api/v1/crawls` per source at a fixed rate."""
    return [ReplayEntry(offset=k / rate, method="POST", path="/api/v1/crawls", route="/api/v1/crawls",
                        body={"source_id": sid}) for k, sid in enumerate(source_ids)]


async def job_states(base: str, headers: dict[str, str], ids: list[str]) -> list[dict[str, Any]]:
    """Current state of some jobs."""
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
        return [(await client.get(f"/api/v1/crawls/{job_id}")).json() for job_id in ids]


async def part_b(base: str, headers: dict[str, str], crawl_sources: list[int], *, cancel: bool) -> dict[str, Any]:
    """Reads idle, then while 4 crawls run (cancelled afterwards when `cancel`: polite crawls take minutes)."""
    entries = bid_list_reads(READ_RATE, READ_SECONDS, seed=3)
    await replay(bid_list_reads(READ_RATE, 3, seed=3), target=base, headers=headers)  # warm-up
    idle = await replay(entries, target=base, headers=headers)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
        ids = []
        for sid in crawl_sources:
            r = await client.post("/api/v1/crawls", json={"source_id": sid})
            r.raise_for_status()
            ids.append(r.json()["id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = [j["state"] for j in await job_states(base, headers, ids)]
        if states.count("running") == len(ids):
            break
        await asyncio.sleep(0.2)
    before = await job_states(base, headers, ids)
    loaded = await replay(entries, target=base, headers=headers)
    after = await job_states(base, headers, ids)
    finished_during = sum(1 for j in after if j["state"] != "running")
    if cancel:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
            for job_id in ids:
                await client.post(f"/api/v1/crawls/{job_id}/cancel")
    # Let the crawls finish (or give up) so the next part starts quiet.
    crawl_deadline = time.monotonic() + 120
    while time.monotonic() < crawl_deadline:
        final = await job_states(base, headers, ids)
        if all(j["state"] in {"succeeded", "failed", "cancelled"} for j in final):
            break
        await asyncio.sleep(1)
    final = await job_states(base, headers, ids)
    durations = []
    for j in final:
        if j.get("started_at") and j.get("finished_at"):
            start = dt.datetime.fromisoformat(j["started_at"].replace("Z", "+00:00"))
            end = dt.datetime.fromisoformat(j["finished_at"].replace("Z", "+00:00"))
            durations.append((end - start).total_seconds())
    return {"idle": summary(idle), "loaded": summary(loaded),
            "running_at_start": sum(1 for j in before if j["state"] == "running"),
            "finished_during": finished_during, "final_states": [j["state"] for j in final],
            "pages": [j["progress"]["pages_done"] for j in final], "crawl_seconds": durations}


async def part_c(base: str, settings: Settings, user_ids: list[int]) -> dict[str, Any]:
    """1,000 WebSockets on one API process; trickle and broadcast delivery latency."""
    ws_base = base.replace("http://", "ws://") + "/ws/notifications"
    received: dict[int, float] = {}
    connected = 0
    stop = asyncio.Event()

    failed_handshakes = 0
    dropped = 0

    async def client(user_id: int) -> None:
        nonlocal connected, failed_handshakes, dropped
        token, _ = create_access_token(settings, user_id)
        for attempt in range(10):
            try:
                ws = await websockets.connect(ws_base, additional_headers={"Authorization": f"Bearer {token}"},
                                              open_timeout=60, ping_interval=None, max_queue=None)
                break
            except (OSError, websockets.exceptions.WebSocketException):
                failed_handshakes += 1
                await asyncio.sleep(0.5 * (attempt + 1))
        else:
            raise RuntimeError("could not connect")
        counted = False
        while not stop.is_set():
            try:
                async with ws:
                    if not counted:
                        connected += 1
                        counted = True
                    await receive(ws)
            except websockets.exceptions.ConnectionClosed:
                # The server closed the socket (1013 try again later while busy, or a drop): reconnect, count it.
                dropped += 1
                ws = await websockets.connect(ws_base, additional_headers={"Authorization": f"Bearer {token}"},
                                              open_timeout=60, ping_interval=None, max_queue=None)

    async def receive(ws: Any) -> None:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
            now = time.perf_counter()
            message = json.loads(raw)
            if message.get("id") is not None:
                received[int(message["id"])] = now

    users = user_ids[:WS_CLIENTS]
    tasks = []
    connect_started = time.perf_counter()
    for k, uid in enumerate(users):
        tasks.append(asyncio.create_task(client(uid)))
        if k % 10 == 9:
            await asyncio.sleep(0.1)  # 100 handshakes/s
    while connected < len(users):
        if any(t.done() for t in tasks):
            failed = [t for t in tasks if t.done()]
            raise RuntimeError(f"{len(failed)} WebSocket clients failed: {failed[0].exception()!r}")
        await asyncio.sleep(0.1)
    connect_seconds = time.perf_counter() - connect_started
    await asyncio.sleep(2)  # every socket has read its starting watermark and waits

    db = Database.from_settings(settings)
    publisher = Publisher(REDIS_URL)
    sent: dict[int, float] = {}

    async def write(user_batch: list[int]) -> list[Any]:
        async with db.sessionmaker() as session:
            await events.lock_users(session, user_batch)
            staged = [await events.stage(session, user_id=uid, type="job.progress", data={"bench": True})
                      for uid in user_batch]
            await session.commit()
            return staged

    async def wait_for(ids: list[int], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(i in received for i in ids):  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    try:
        await publisher.publish(await write([users[0]]))  # warm-up: connects the publisher
        rng = random.Random(5)
        trickle_ids: list[int] = []
        start = time.perf_counter()
        for k in range(TRICKLE_EVENTS):
            due = start + k / TRICKLE_RATE
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            staged = await write([rng.choice(users)])
            t0 = time.perf_counter()
            await publisher.publish(staged)
            for event in staged:
                sent[event.id] = t0
                trickle_ids.append(event.id)
        await wait_for(trickle_ids)
        broadcast_ids: list[int] = []
        round_seconds = []
        # One unmeasured round first (as the trickle's warm-up event): the first batched read of a process
        # plans and prepares its statement.
        await publisher.publish(await write(users))
        await asyncio.sleep(2)
        for _ in range(BROADCAST_ROUNDS):
            await asyncio.sleep(2)
            staged = await write(users)
            t0 = time.perf_counter()
            await publisher.publish(staged)
            ids = [event.id for event in staged]
            for i in ids:
                sent[i] = t0
            broadcast_ids += ids
            await wait_for(ids)
            round_seconds.append(max((received.get(i, t0) for i in ids), default=t0) - t0)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await publisher.close()
        await db.dispose()

    def hist(ids: list[int]) -> tuple[HdrHistogram, int]:
        h = HdrHistogram(1, 3_600_000_000, 3)
        missing = 0
        for i in ids:
            if i in received:
                h.record_value(max(1, round((received[i] - sent[i]) * 1_000_000)))
            else:
                missing += 1
        return h, missing

    out: dict[str, Any] = {"clients": len(users), "connect_seconds": connect_seconds,
                           "failed_handshakes": failed_handshakes, "dropped": dropped}
    for name, ids in (("trickle", trickle_ids), ("broadcast", broadcast_ids)):
        h, missing = hist(ids)
        out[name] = {"events": len(ids), "missing": missing, "histogram": h,
                     "p50_ms": h.get_value_at_percentile(50) / 1000, "p99_ms": h.get_value_at_percentile(99) / 1000,
                     "max_ms": h.get_max_value() / 1000}
    out["broadcast"]["round_seconds"] = round_seconds
    return out


def cdf(ax: Any, h: HdrHistogram, label: str) -> None:
    """Plot a latency distribution as percentile vs. milliseconds."""
    pcts = [p / 10 for p in range(0, 1000)] + [99.9, 99.99]
    ax.plot([h.get_value_at_percentile(p) / 1000 for p in pcts], pcts, label=label)


def plot(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    """Three panels: submit latency, reads idle vs loaded, WebSocket delivery."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    cdf(axes[0], a["histogram"], f"POST /crawls @ {SUBMIT_RATE}/s")
    axes[0].axvline(TARGET_SUBMIT_P99_MS, color="red", ls="--", lw=1, label="target p99")
    axes[0].set_title("(a) crawl submission accept latency")
    cdf(axes[1], b["polite"]["idle"]["histogram"], "idle")
    for key, label in B_LABELS:
        cdf(axes[1], b[key]["loaded"]["histogram"], f"{CRAWLS} crawls, {label}")
    axes[1].set_title(f"(b) GET /bids?limit=20 @ {READ_RATE}/s")
    cdf(axes[2], c["trickle"]["histogram"], f"trickle ({TRICKLE_RATE} events/s)")
    cdf(axes[2], c["broadcast"]["histogram"], f"broadcast (1 event x {WS_CLIENTS} users)")
    axes[2].axvline(TARGET_WS_P99_MS, color="red", ls="--", lw=1, label="target p99")
    axes[2].set_title(f"(c) WebSocket delivery, {WS_CLIENTS} clients")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, log)")
        ax.set_ylabel("percentile")
        ax.set_ylim(0, 100)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def verdict(ok: bool) -> str:
    """Met / missed."""
    return "met" if ok else "**missed**"


def write_results(m: dict[str, str], seconds: float, prep: dict[str, Any], a: dict[str, Any], b: dict[str, Any],
                  c: dict[str, Any]) -> str:
    """Replace the `## Jobs` section of bench/RESULTS.md."""
    def ratios(run: dict[str, Any]) -> tuple[float, float]:
        p99 = run["loaded"]["p99_ms"] / run["idle"]["p99_ms"] if run["idle"]["p99_ms"] else float("inf")
        p50 = run["loaded"]["p50_ms"] / run["idle"]["p50_ms"] if run["idle"]["p50_ms"] else float("inf")
        return p99, p50

    tr, br = c["trickle"], c["broadcast"]
    lines = [
        "## Jobs",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, PostgreSQL {m['postgresql']}, "
        f"Python {m['python']}; everything on loopback. Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. "
        f"Run time {seconds:.0f} s.",
        "",
        "Command: `.venv/bin/python bench/jobs/run.py` (scratch database `forest_bench_jobs`, "
        f"{BIDS:,} seeded bids in {prep['seed_seconds']:.1f} s, Redis DB 12; one API process). "
        "Plot: [plots/jobs.png](plots/jobs.png).",
        "",
        f"**(a) `POST /api/v1/crawls` accept latency**, open loop, {SUBMIT_RATE} requests/s for {SUBMIT_SECONDS} s, "
        f"each for a different source (no worker running, so every request creates a job, writes its `job.queued` "
        "event, commits, enqueues on Redis and publishes):",
        "",
        "| requests | 202 | 4xx | errors | throughput | p50 | p90 | p99 | max | target p99 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {a['requests']} | {a['responses'] - a['client_errors'] - a['errors']} | {a['client_errors']} | "
        f"{a['errors']} | {a['throughput_rps']:.1f}/s | {a['p50_ms']:.1f} ms | {a['p90_ms']:.1f} ms | "
        f"{a['p99_ms']:.1f} ms | {a['max_ms']:.1f} ms | ≤ {TARGET_SUBMIT_P99_MS:.0f} ms: "
        f"{verdict(a['p99_ms'] <= TARGET_SUBMIT_P99_MS)} |",
        "",
        f"Closed-loop capacity of the API process for the same request (4 in flight, {CAPACITY_SOURCES} "
        f"sources, measured just before): **{a['capacity_rps']:.0f} submissions/s**. An open-loop rate above that "
        "cannot be met: requests queue (first for the event loop, then for the 20 pooled connections, "
        "`pool_timeout` 3 s → 503) and latency grows with the run's length instead of settling.",
        "",
        f"**(b) `GET /api/v1/bids?limit=20`**, open loop, Poisson {READ_RATE} requests/s for {READ_SECONDS} s, "
        f"idle (baseline) vs while {CRAWLS} crawls of the demo board ({NOTICES:,} notices, the "
        f"board in its own process at `nice -n {BOARD_NICE}` as it stands in for a remote site) run on "
        f"{WORKERS} Celery workers (concurrency 2 each) beside the API on the "
        f"same {m['nproc']} CPUs; three rounds, each with fresh sources and its own idle baseline: crawls as "
        "Forest runs them by default (polite: one request at a time per host, about a second apart; cancelled "
        "after the measurement), then with politeness off (each crawl as fast as the board answers, a CPU "
        "stress test of two cores shared by API, workers, PostgreSQL and board), then politeness off with the "
        f"workers started with `nice -n {WORKER_NICE}`, as batch work beside an API on shared cores would be run:",
        "",
        "| workers | run | requests | errors | p50 | p90 | p99 | max |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in B_LABELS:
        for name in ("idle", "loaded"):
            r = b[key][name]
            lines.append(f"| {label} | {name} | {r['requests']} | {r['errors']} | {r['p50_ms']:.1f} ms | "
                         f"{r['p90_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms |")
    lines.append("")
    for key, label in B_LABELS:
        run = b[key]
        ratio, p50_ratio = ratios(run)
        crawl_secs = ", ".join(f"{s:.0f}" for s in run["crawl_seconds"]) or "n/a"
        lines += [
            f"{label}: p99 ratio loaded/idle **{ratio:.2f}×** (p50 {p50_ratio:.2f}×); target ≤ "
            f"{TARGET_READ_RATIO}×: {verdict(ratio <= TARGET_READ_RATIO)}. Crawls running when the loaded replay "
            f"started: {run['running_at_start']}/{CRAWLS}; finished before it ended: {run['finished_during']}; "
            f"final states {', '.join(run['final_states'])}; pages {', '.join(map(str, run['pages']))}; crawl "
            f"durations {crawl_secs} s.",
            "",
        ]
    lines += [
        f"**(c) WebSocket delivery**, {c['clients']:,} clients (one per user, Bearer header) on one API process, "
        f"all connected in {c['connect_seconds']:.1f} s (paced at 100 handshakes/s; {c['failed_handshakes']} "
        f"handshakes failed and were retried; {c['dropped']} sockets were closed by the server (1013 try again "
        "later during the connection burst, or dropped) and reconnected). "
        "Latency from just before `Publisher.publish` (the events "
        "already committed) to the client's `recv()`:",
        "",
        "| scenario | events | missing | p50 | p99 | max | target p99 |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| trickle: one event to one random user, {TRICKLE_RATE}/s | {tr['events']} | {tr['missing']} | "
        f"{tr['p50_ms']:.1f} ms | {tr['p99_ms']:.1f} ms | {tr['max_ms']:.1f} ms | ≤ {TARGET_WS_P99_MS:.0f} ms: "
        f"{verdict(tr['p99_ms'] <= TARGET_WS_P99_MS)} |",
        f"| broadcast: one event to each of the {c['clients']:,} users, announced together, "
        f"{BROADCAST_ROUNDS} rounds after one unmeasured warm-up round | {br['events']} | {br['missing']} | "
        f"{br['p50_ms']:.1f} ms | "
        f"{br['p99_ms']:.1f} ms | {br['max_ms']:.1f} ms | ≤ {TARGET_WS_P99_MS:.0f} ms: "
        f"{verdict(br['p99_ms'] <= TARGET_WS_P99_MS)} |",
        "",
        "Broadcast rounds took " + ", ".join(f"{s * 1000:.0f} ms" for s in br["round_seconds"])
        + " from publish to the last receipt.",
        "",
    ]
    return write_section("## Jobs", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print results, leave RESULTS.md and plots alone")
    parser.add_argument("--keep-db", action="store_true", help="do not drop forest_bench_jobs afterwards")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    started = time.perf_counter()
    m = machine_with_postgres()
    var_dir = Path(os.environ.get("FOREST_BENCH_VAR", "/tmp/forest-bench-jobs"))
    var_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(recreate_db(PG_DB))
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FOREST_")},
           "FOREST_DATABASE_URL": pg_url(PG_DB), "FOREST_BROKER_URL": REDIS_URL, "FOREST_REDIS_URL": REDIS_URL,
           "FOREST_SECRET_KEY": SECRET, "FOREST_VAR_DIR": str(var_dir), "FOREST_ENVIRONMENT": "local",
           # (a) submits 100 crawls/s as one user with no worker running: the per-user submission limit and the
           # per-user cap on crawls queued or running (5 by default) would refuse nearly all.
           "FOREST_RATE_LIMIT_CRAWLS_PER_USER": "", "FOREST_QUOTA_ACTIVE_CRAWLS": "10000",
           "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT / "src")}
    stack = Stack(env=env, database_url=pg_url(PG_DB), demo=None, var_dir=var_dir)
    try:
        # The demo board runs as its own process (in this one it would share the GIL with the load generator),
        # at a lower CPU priority: it stands in for a remote board, whose CPU is not the API host's.
        demo_base = stack.start_demo_site("demo", notices=NOTICES, seed=7, nice=BOARD_NICE)
        host_port = demo_base.removeprefix("http://")
        stack.env["FOREST_CRAWL_ALLOW_HOSTS"] = host_port
        settings = settings_for(var_dir, [host_port])
        migrate.upgrade("head", settings)
        prep = asyncio.run(prepare(settings, f"{demo_base}/kfs/bid/list.do"))
        print(f"seeded {BIDS} bids in {prep['seed_seconds']:.1f} s", flush=True)
        base = stack.start_api("api")
        token, _ = create_access_token(settings, prep["user_ids"][-1])
        headers = {"Authorization": f"Bearer {token}"}

        warm = prep["submit_sources"][:WARMUP_SOURCES]
        capacity = prep["submit_sources"][WARMUP_SOURCES:WARMUP_SOURCES + CAPACITY_SOURCES]
        measured = prep["submit_sources"][WARMUP_SOURCES + CAPACITY_SOURCES:]
        asyncio.run(replay(submit_entries(warm, 50), target=base, headers=headers))
        # Closed loop, 4 in flight, all due at once: how many submissions/s this API process sustains here.
        cap_run = asyncio.run(replay([replace(e, offset=0.0) for e in submit_entries(capacity, 1)], target=base,
                                     headers=headers, concurrency=4))
        a_capacity = cap_run.throughput(cap_run.overall)
        if cap_run.overall.client_errors:  # a refusal is not an accepted crawl: measure nothing rather than it
            raise SystemExit(f"(a) {cap_run.overall.client_errors} submissions were refused (4xx)")
        print(f"(a) closed-loop capacity {a_capacity:.1f} submissions/s", flush=True)
        run_a = asyncio.run(replay(submit_entries(measured, SUBMIT_RATE), target=base, headers=headers,
                                   duration=SUBMIT_SECONDS))
        a = summary(run_a)
        a["capacity_rps"] = a_capacity
        if a["client_errors"]:
            raise SystemExit(f"(a) {a['client_errors']} of {a['requests']} submissions were refused (4xx)")
        print(f"(a) submit p99 {a['p99_ms']:.1f} ms, {a['requests']} requests, {a['errors']} errors", flush=True)
        redis.Redis.from_url(REDIS_URL).flushdb()
        cancelled = asyncio.run(cancel_queued(settings))
        print(f"cancelled {cancelled} queued jobs", flush=True)

        b: dict[str, dict[str, Any]] = {}
        for round_, (key, nice) in enumerate(B_ROUNDS):
            for k in range(WORKERS):
                stack.spawn(f"worker-{k}", "worker", "--concurrency", "2", "--hostname", f"bench{k}@%h", nice=nice)
            time.sleep(6)
            sources = prep["crawl_sources"][round_ * CRAWLS:(round_ + 1) * CRAWLS]
            b[key] = run_b = asyncio.run(part_b(base, headers, sources, cancel=key == "polite"))
            print(f"(b, workers nice {nice}) idle p99 {run_b['idle']['p99_ms']:.1f} ms, loaded p99 "
                  f"{run_b['loaded']['p99_ms']:.1f} ms, states {run_b['final_states']}", flush=True)
            for k in range(WORKERS):
                stack.kill(f"worker-{k}", signal.SIGTERM)

        c = asyncio.run(part_c(base, settings, prep["user_ids"]))
        print(f"(c) trickle p99 {c['trickle']['p99_ms']:.1f} ms, broadcast p99 {c['broadcast']['p99_ms']:.1f} ms",
              flush=True)
    finally:
        stack.stop_all()
        if not args.keep_db:
            asyncio.run(recreate_db(PG_DB, drop_only=True))
        redis.Redis.from_url(REDIS_URL).flushdb()
    seconds = time.perf_counter() - started
    if args.no_write:
        return
    plot(a, b, c)
    print(write_results(m, seconds, prep, a, b, c))


if __name__ == "__main__":
    main()
