"""Throughput of every list as shipped: `forest api` (production settings, its own uvicorn options) against a raw
Starlette + asyncpg + orjson handler running the same SQL and answering the same bytes, interleaved in one run.

Run alone (`.venv/bin/python bench/pagination/lists.py`, on a database `run.py` prepared) it prints the rounds;
`run.py` calls `measure_lists` and writes the figures into bench/RESULTS.md.
"""

from __future__ import annotations

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

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.common import free_port, healthz_ok, start_forest_api  # noqa: E402

from forest.alerts import service as alerts  # noqa: E402
from forest.alerts.models import Alert  # noqa: E402
from forest.bids import service as bids  # noqa: E402
from forest.bids.filters import BidFilters  # noqa: E402
from forest.bids.schemas import BidListQuery  # noqa: E402
from forest.config import Settings  # noqa: E402
from forest.crawls import service as crawls  # noqa: E402
from forest.crawls.models import CrawlJob  # noqa: E402
from forest.database import Database, utcnow  # noqa: E402
from forest.pagination import CursorSigner, Keyset, PageParams, page_query, plan_page  # noqa: E402
from forest.security import create_access_token  # noqa: E402
from forest.sources import service as sources  # noqa: E402
from forest.sources.models import Source  # noqa: E402
from forest.sources.schemas import SourceFilters  # noqa: E402
from forest.users import service as users  # noqa: E402
from forest.users.models import User  # noqa: E402

PAGE = 20
ROWS_PER_LIST = 40
CONNECTIONS = 32
LOAD_SECONDS = int(os.environ.get("FOREST_BENCH_LOAD_SECONDS", "10"))
ROUNDS = int(os.environ.get("FOREST_BENCH_ROUNDS", "5"))
DEPARTMENT = "산불방지과"
LISTS = ("bids", "sources", "crawls", "alerts")
BENCH_EMAIL = "bench-lists@example.com"


async def prepare_lists(settings: Settings) -> dict[str, Any]:
    """A normal user with 40 crawl jobs and 40 alerts, and 40 more shared sources (once); the user's token."""
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            user = await users.get_by_email(session=session, email=BENCH_EMAIL)
            if user is None:
                user = await users.create(session=session, email=BENCH_EMAIL, password="bench-lists-password-1")
            now = utcnow()
            if int(await session.scalar(select(func.count()).select_from(Source)) or 0) < ROWS_PER_LIST:
                session.add_all(Source(name=f"bench board {i}", start_url=f"http://127.0.0.1:9/board/{i}",
                                       max_pages=5, schedule="0 9 * * 1-5", timezone="Asia/Seoul",
                                       selectors={"row": "table tr"}, created_at=now)
                                for i in range(ROWS_PER_LIST))
            if int(await session.scalar(select(func.count()).where(CrawlJob.user_id == user.id)) or 0) < ROWS_PER_LIST:
                session.add_all(CrawlJob(user_id=user.id, url=f"http://127.0.0.1:9/board/{i}", max_pages=5,
                                         state="succeeded", pages_done=5, pages_total=5, items_seen=100,
                                         items_new=7, items_updated=3, attempt=1,
                                         created_at=now - dt.timedelta(minutes=i),
                                         started_at=now - dt.timedelta(minutes=i), finished_at=now)
                                for i in range(ROWS_PER_LIST))
            if int(await session.scalar(select(func.count()).where(Alert.user_id == user.id)) or 0) < ROWS_PER_LIST:
                session.add_all(Alert(user_id=user.id, name=f"{DEPARTMENT} {i}",
                                      filters={"department": [DEPARTMENT], "views_gte": i},
                                      webhook_url=f"https://hooks.example.org/{i}" if i % 2 else None,
                                      webhook_secret=f"secret-{i:032d}", created_at=now - dt.timedelta(seconds=i))
                                for i in range(ROWS_PER_LIST))
            await session.commit()
        token, _ = create_access_token(settings, user.id, user.token_version)
        return {"token": token, "user_id": user.id, "statements": statements(db, user, settings)}
    finally:
        await db.dispose()


def _spec(keyset: Keyset, filters: dict[str, Any], signer: CursorSigner, sql: str, args: list[Any]) -> dict[str, Any]:
    plan = plan_page(keyset, PageParams(limit=PAGE, cursor=None, sort=None, count="none"), filters, signer)
    return {"sql": sql, "args": args, "endpoint": plan.endpoint, "sort": plan.sort_name, "fhash": plan.fhash,
            "cols": [c.key for c in plan.cols]}


def statements(db: Database, user: User, settings: Settings) -> dict[str, Any]:
    """Each list's first-page statement as the API builds it, with its arguments, for the raw handlers."""
    dialect = db.engine.dialect
    signer = CursorSigner(settings.signing_keys())
    params = PageParams(limit=PAGE, cursor=None, sort=None, count="none")
    out: dict[str, Any] = {"alert_filter_defaults": BidFilters().model_dump(mode="json")}
    query = BidListQuery(limit=PAGE, department=[DEPARTMENT])
    filters = query.filters()
    plan = plan_page(bids.BID_KEYSET, params, filters.cursor_binding(), signer)
    out["bids"] = _spec(bids.BID_KEYSET, filters.cursor_binding(), signer,
                        *bids.page_query(dialect, plan, filters, user))
    for name, keyset, stmt, binding in (
        ("sources", sources.SOURCE_KEYSET, sources.list_query(user=user, filters=SourceFilters()), {"enabled": None}),
        ("crawls", crawls.JOB_KEYSET, crawls.list_query(user=user, states=[], source_ids=[]),
         {"state": [], "source_id": [], "user": user.id}),
        ("alerts", alerts.ALERT_KEYSET, alerts.list_query(user=user), {"user": user.id}),
    ):
        plan = plan_page(keyset, params, binding, signer)
        out[name] = _spec(keyset, binding, signer, *page_query(dialect, stmt, plan))
    return out



def start_raw(settings: Settings, statements_file: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The raw handlers: one uvicorn worker, no access log."""
    port = free_port()
    env = {**os.environ, "FOREST_DATABASE_URL": settings.database_url, "FOREST_SECRET_KEY": settings.current_secret(),
           "FOREST_BENCH_STATEMENTS": str(statements_file), "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.pagination.raw_app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(check: Any, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready")


def wrk(url: str, headers: dict[str, str]) -> float:
    """Requests per second from `wrk -t1 -c32 -d10s` (closed loop)."""
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{LOAD_SECONDS}s"]
    for key, value in headers.items():
        args += ["-H", f"{key}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(out)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def urls(api: str, raw: str) -> dict[str, tuple[str, str]]:
    """(API URL, raw URL) of the first page of each list."""
    query = {"bids": f"limit={PAGE}&department={quote(DEPARTMENT)}"}
    return {name: (f"{api}/api/v1/{name}?{query.get(name, f'limit={PAGE}')}", f"{raw}/raw/{name}") for name in LISTS}


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure_lists(settings: Settings, var: Path) -> dict[str, Any]:
    """Interleaved rounds: per round and list, the API then the raw handler; per list the ratio of each round."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")
    prepared = asyncio.run(prepare_lists(settings))
    statements_file = var / "statements.json"
    statements_file.write_text(json.dumps(prepared["statements"], ensure_ascii=False, indent=1))
    api, api_base = start_forest_api(settings, var / "forest-api.log")
    raw, raw_base = start_raw(settings, statements_file, var / "raw.log")
    headers = {"Authorization": f"Bearer {prepared['token']}"}
    try:
        wait_ready(lambda: healthz_ok(api_base), api, "forest api")
        wait_ready(lambda: _answers(f"{raw_base}/raw/sources"), raw, "raw handler")
        targets = urls(api_base, raw_base)
        for name, (api_url, raw_url) in targets.items():
            mine, theirs = httpx.get(api_url, headers=headers).content, httpx.get(raw_url).content
            if mine != theirs:
                raise RuntimeError(f"{name}: the API and the raw handler answer different bytes:\n{mine[:600]!r}\n"
                                   f"{theirs[:600]!r}")
            assert len(json.loads(mine)["items"]) == PAGE, name
        rounds: list[dict[str, dict[str, float]]] = []
        for i in range(ROUNDS):
            result: dict[str, dict[str, float]] = {}
            for name, (api_url, raw_url) in targets.items():
                result[name] = {"api": wrk(api_url, headers), "raw": wrk(raw_url, {})}
            rounds.append(result)
            print(f"round {i + 1}: " + ", ".join(
                f"{n} {r['api']:.0f}/{r['raw']:.0f} ({r['api'] / r['raw']:.2f}×)" for n, r in result.items()))
    finally:
        stop(api, raw)
    return {"rounds": rounds, "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def summary(lists: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per list: median requests/s of each server, median ratio and every round's ratio (sorted)."""
    out = {}
    for name in LISTS:
        per_round = [r[name] for r in lists["rounds"]]
        ratios = sorted(r["api"] / r["raw"] for r in per_round)
        out[name] = {"api": statistics.median(r["api"] for r in per_round),
                     "raw": statistics.median(r["raw"] for r in per_round),
                     "ratio": statistics.median(ratios), "ratios": ratios}
    return out

