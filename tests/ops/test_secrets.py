"""Secrets at rest and in transit: key strength, owner-only files, redacted logs, Link, CSP and /metrics."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from forest.app import create_app
from forest.cli import migrate
from forest.config import Settings
from forest.logs import install_log_redaction, redact
from tests.conftest import make_settings

STRONG = "k" * 8 + "-Vq3fP9xZr2LmT8wYc5nHb1Jd7Gs4Ke6"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual 022 umask, under which files are created world-readable unless the code says otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("previous", ["changeme", "secret", "short-but-not-listed", f"{STRONG},forest"])
def test_weak_previous_secret_keys_are_refused_in_production(previous: str) -> None:
    with pytest.raises(ValidationError, match="FOREST_PREVIOUS_SECRET_KEYS"):
        Settings(environment="production", secret_key=STRONG, previous_secret_keys=previous)  # type: ignore[arg-type]


def test_strong_previous_secret_keys_and_local_mode_are_accepted() -> None:
    settings = Settings(environment="production", secret_key=STRONG,
                        previous_secret_keys=f"{STRONG[::-1]}, {STRONG.upper()}")  # type: ignore[arg-type]
    assert len(settings.signing_keys()) == 3
    assert Settings(environment="local", previous_secret_keys="changeme").previous_secret_keys  # type: ignore[arg-type]


def test_weak_metrics_token_and_bad_public_url_are_refused() -> None:
    with pytest.raises(ValidationError, match="FOREST_METRICS_TOKEN"):
        Settings(environment="production", secret_key=STRONG, metrics_token="changeme")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="FOREST_PUBLIC_URL"):
        Settings(public_url="forest.example.org")
    assert Settings(public_url="https://forest.example.org/").public_url == "https://forest.example.org"


async def test_var_and_every_database_file_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    var = tmp_path / "var"
    settings = Settings(var_dir=var, environment="local")  # the embedded defaults: SQLite database and broker
    await asyncio.to_thread(migrate.upgrade, "head", settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.post("/api/v1/auth/register", json={"email": "m@example.com", "password": "modes-pass-42"})
        assert r.status_code == 201, r.text
        assert (await client.get("/readyz")).status_code == 200  # opens the broker database too
        r = await client.post("/api/v1/auth/token", data={"username": "m@example.com", "password": "modes-pass-42"})
        assert r.status_code == 200  # signs with the generated var/secret_key
        files = {p.name: _mode(p) for p in var.iterdir() if p.is_file()}
    assert _mode(var) == 0o700
    assert {"forest.db", "forest.db-wal", "forest.db-shm", "broker.db", "secret_key"} <= set(files), files
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}


def test_existing_world_readable_files_are_tightened(tmp_path: Path, loose_umask: None) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    db = var / "forest.db"
    settings = Settings(var_dir=var, environment="local")
    migrate.upgrade("head", settings)
    var.chmod(0o755)
    db.chmod(0o644)
    migrate.upgrade("head", settings)  # any process that opens them (here: migrations) tightens them again
    assert _mode(var) == 0o700 and _mode(db) == 0o600


def test_redact_hides_every_credential_spelling() -> None:
    line = ('127.0.0.1:5 - "GET /ws/notifications?after=3&ticket=TKT1&TOKEN=TK2;access_token=TK3&%74oken=TK4'
            '&tokens=keep&api_key=TK5 HTTP/1.1" 403')
    out = redact(line)
    for secret in ("TKT1", "TK2", "TK3", "TK4", "TK5"):
        assert secret not in out
    assert "after=3" in out and "tokens=keep" in out and out.count("[redacted]") == 5


def test_log_records_of_any_logger_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("forest.test").info("webhook to %s failed", httpx.URL("https://hook.example/x?token=HOOK1"))
        try:
            raise RuntimeError("GET https://hook.example/x?access_token=HOOK2 answered 500")
        except RuntimeError:
            logging.getLogger("forest.test").exception("delivery failed")
    text = caplog.text
    assert "HOOK1" not in text and "HOOK2" not in text and "[redacted]" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_api_process_logs_carry_no_ticket_or_token(tmp_path: Path) -> None:
    """`forest api` with both request logs on: uvicorn's access log (`FOREST_REQUEST_LOG`) and Forest's JSON access
    log (`FOREST_ACCESS_LOG`)."""
    port = _free_port()
    env = {**os.environ, "FOREST_VAR_DIR": str(tmp_path / "var"), "FOREST_API_PORT": str(port),
           "FOREST_ACCESS_LOG": str(tmp_path / "access.jsonl"), "FOREST_REQUEST_LOG": "true",
           "FOREST_ENVIRONMENT": "local"}
    for key in ("FOREST_DATABASE_URL", "FOREST_BROKER_URL", "FOREST_REDIS_URL"):
        env.pop(key, None)
    python = [sys.executable, "-m", "forest.cli.main"]
    subprocess.run([*python, "db", "upgrade"], env=env, check=True, timeout=120, capture_output=True)
    out = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen([*python, "api"], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "api.log").read_text()
                time.sleep(0.2)
        httpx.get(f"{base}/api/v1/bids?token=SECRETTOKEN1&limit=1", timeout=5)
        httpx.get(f"{base}/api/v1/users/me?access_token=SECRETTOKEN2", timeout=5)
        # A WebSocket handshake with a (bad) ticket: refused, and logged by uvicorn with its path.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /ws/notifications?ticket=SECRETTICKET3&after=0 HTTP/1.1\r\nHost: x\r\n"
                         b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            sock.recv(1024)
        # Wait for the three requests to reach both logs (the access log is flushed within 50 ms).
        while not ((tmp_path / "api.log").read_text().count("/ws/notifications?") and
                   (tmp_path / "access.jsonl").exists() and
                   "/api/v1/users/me" in (tmp_path / "access.jsonl").read_text()):
            assert time.monotonic() < deadline + 10, "the requests never reached the logs"
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        out.close()
    console = (tmp_path / "api.log").read_text()
    recorded = (tmp_path / "access.jsonl").read_text()
    assert "/api/v1/bids?" in console and "/ws/notifications?" in console, console
    assert "[redacted]" in console
    for secret in ("SECRETTOKEN1", "SECRETTOKEN2", "SECRETTICKET3"):
        assert secret not in console, console
        assert secret not in recorded, recorded


async def test_link_headers_ignore_the_host_header(client: httpx.AsyncClient, make_user, app) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    for _ in range(3):
        await make_user()
    headers = {**admin.headers, "Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    r = await client.get("/api/v1/users?limit=1", headers=headers)
    assert r.status_code == 200
    link = r.headers["link"]
    assert link.startswith("</api/v1/users?limit=1&cursor=") and "evil" not in link
    follow = await client.get(link[1:link.index(">")], headers=admin.headers)
    assert follow.status_code == 200 and 'rel="prev"' in follow.headers["link"]

    app.state.settings.public_url = "https://forest.example.org"
    r = await client.get("/api/v1/users?limit=1", headers=headers)
    assert r.headers["link"].startswith("<https://forest.example.org/api/v1/users?limit=1&cursor=")


async def test_dashboard_cannot_be_framed(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


async def test_metrics_token_when_set(tmp_path: Path, pg_migrated: str) -> None:
    token = "metrics-token-" + "x" * 24
    settings = make_settings(pg_migrated, tmp_path, metrics_token=token)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["code"] == "unauthorized" and missing.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200 and "forest_http_requests_total" in right.text
