"""`forest up` (the embedded default: SQLite, the SQLite broker) restarts a worker that was killed, and the
crawl the worker was running resumes on the new one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import NO_RATE_LIMITS_ENV, SECRET
from tests.crawls.conftest import free_port, register, wait_for_job

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Up:
    """A running `forest up`."""

    proc: subprocess.Popen[bytes]
    log: Path
    api: str

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first match of `pattern` in the output, waiting for it."""
        deadline = time.monotonic() + timeout
        while (match := re.search(pattern, self.output())) is None:
            assert self.proc.poll() is None, self.output()[-3000:]
            assert time.monotonic() < deadline, f"no {pattern!r} in: {self.output()[-3000:]}"
            time.sleep(0.2)
        return match


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    """`forest up` in a fresh var dir, on free ports, with a 6 s heartbeat timeout (a quick reaper)."""
    api_port, board_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREST_")}
    env.update({"FOREST_VAR_DIR": str(tmp_path / "var"), "FOREST_SECRET_KEY": SECRET, "FOREST_API_PORT": str(api_port),
                "FOREST_DEMO_SITE_PORT": str(board_port), "FOREST_DEMO_SITE_NOTICES": "60",
                "FOREST_JOB_HEARTBEAT_TIMEOUT_SECONDS": "6", "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
                **NO_RATE_LIMITS_ENV})
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "forest.cli.main", "up"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    running = Up(proc=proc, log=log, api=f"http://127.0.0.1:{api_port}")
    try:
        running.wait_for("Forest is up", timeout=90)
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_forest_up_restarts_a_killed_worker_and_its_crawl_resumes(up: Up) -> None:
    headers = register(up.api)
    sources = httpx.get(f"{up.api}/api/v1/sources", headers=headers, timeout=10).json()["items"]
    (demo,) = [s for s in sources if "demo board" in s["name"]]
    job = httpx.post(f"{up.api}/api/v1/crawls", json={"source_id": demo["id"]}, headers=headers, timeout=10).json()
    deadline = time.monotonic() + 60
    while httpx.get(f"{up.api}/api/v1/crawls/{job['id']}", headers=headers,
                    timeout=10).json()["progress"]["pages_done"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    old_pid = int(up.wait_for(r"started worker \(pid (\d+)\)").group(1))

    os.kill(old_pid, signal.SIGKILL)

    up.wait_for(rf"worker \(pid {old_pid}\) exited with -9; restarting in 1 s", timeout=10)
    new_pid = int(up.wait_for(rf"started worker \(pid (?!{old_pid}\))(\d+)\)", timeout=10).group(1))
    assert new_pid != old_pid
    done = wait_for_job(up.api, headers, job["id"], {"succeeded", "failed", "cancelled"}, timeout=90)
    assert (done["state"], done["attempt"]) == ("succeeded", 2), done
    assert httpx.get(f"{up.api}/healthz", timeout=5).status_code == 200  # the API stayed up throughout
    # The new worker reports itself (a file under var/workers/ on the embedded default); the killed one is gone.
    metrics = httpx.get(f"{up.api}/metrics", timeout=10).text
    assert "forest_workers 1.0" in metrics
    assert re.search(rf'forest_worker_crawls_capacity{{worker="[^"]+:{new_pid}"}} 200.0', metrics), metrics
    bids = httpx.get(f"{up.api}/api/v1/bids", params={"source_id": demo["id"], "count": "exact", "limit": 100},
                     headers=headers, timeout=10).json()
    assert bids["count"]["value"] == done["progress"]["items_seen"] > 0
    assert len({b["external_id"] for b in bids["items"]}) == len(bids["items"])
