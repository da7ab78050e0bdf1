"""What every benchmark needs: the bench PostgreSQL server, scratch databases, ports and RESULTS.md sections."""

from __future__ import annotations

import asyncio
import os
import platform
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx

if TYPE_CHECKING:
    from forest.config import Settings
    from forest.replay.entries import ReplayEntry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
PG_ADMIN_DSN = os.environ.get("FOREST_BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def dsn(db: str) -> str:
    """asyncpg DSN of a database on the bench PostgreSQL server."""
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{db}"


def pg_url(db: str) -> str:
    """SQLAlchemy (asyncpg) URL of a database on the bench PostgreSQL server."""
    return dsn(db).replace("postgresql://", "postgresql+asyncpg://", 1)


async def recreate_db(db: str, *, drop_only: bool = False) -> None:
    """Drop (and unless `drop_only`, create) a scratch database on the bench server, ending its sessions first."""
    from tests.plugin import recreate_database  # the tests' helper; imported late, it loads the whole app

    await recreate_database(db, drop_only=drop_only, admin_dsn=PG_ADMIN_DSN)


async def ensure_db(db: str) -> None:
    """Create a database on the bench PostgreSQL server unless it exists (its data is kept between runs)."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
            await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()


def machine() -> dict[str, str]:
    """nproc, memory, CPU model, Python version and load average of this machine."""
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"nproc": str(os.cpu_count()), "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
            "cpu": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), platform.processor()),
            "python": platform.python_version(), "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def machine_with_postgres() -> dict[str, str]:
    """nproc, memory, PostgreSQL and Python versions."""
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]

    async def pg_version() -> str:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return {"nproc": str(os.cpu_count()), "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
            "postgresql": asyncio.run(pg_version()), "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine()}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bid_list_reads(rate: float, seconds: float, seed: int) -> list[ReplayEntry]:
    """`GET /api/v1/bids?limit=20` at Poisson arrivals (seeded)."""
    from forest.replay.entries import ReplayEntry

    rng = random.Random(seed)
    out: list[ReplayEntry] = []
    t = 0.0
    while t < seconds:
        out.append(ReplayEntry(offset=t, method="GET", path="/api/v1/bids", query="limit=20", route="/api/v1/bids"))
        t += rng.expovariate(rate)
    return out


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz_ok(base: str) -> bool:
    """Whether the server at `base` answers `GET /healthz` with 200 (False while it cannot be reached)."""
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_uvicorn(app_dir: Path, target: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Serve `target` (`module:attr` in `app_dir`) with one uvicorn worker; wait until `/healthz` answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), target, "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"],
                            cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if healthz_ok(base):
            return proc, base
        time.sleep(0.2)
    raise RuntimeError(log.read_text()[-3000:])


def start_forest_api(settings: Settings, log: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`forest api` as shipped: its own uvicorn options (no access log by default) and the production settings
    (every other setting at its default: a pool of 10 connections); returns once `/healthz` answers."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FOREST_")},
           "FOREST_DATABASE_URL": settings.database_url, "FOREST_VAR_DIR": str(settings.var_dir),
           "FOREST_SECRET_KEY": settings.current_secret(), "FOREST_ENVIRONMENT": "production",
           "FOREST_API_PORT": str(port), "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "forest.cli.main", "api"], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"forest api exited with {proc.returncode}")
        if healthz_ok(base):
            return proc, base
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("forest api not ready")


def update_section(heading: str, section: str) -> None:
    """Replace (or append) one `## ` section of bench/RESULTS.md, leaving the others alone."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def write_section(heading: str, lines: list[str]) -> str:
    """Join `lines` into the `heading` section of bench/RESULTS.md, write it and return it."""
    section = "\n".join(lines) + "\n"
    update_section(heading, section)
    return section
