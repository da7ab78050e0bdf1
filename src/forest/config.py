"""Typed settings for every Forest process, read from `FOREST_*` environment variables."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values that must never sign tokens in production.
_WEAK_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development", "forest"}


def _weak(secret: str) -> bool:
    return secret.lower() in _WEAK_SECRETS or len(secret) < 32


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """All configuration of a Forest process; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="FOREST_", env_file=".env", extra="ignore")

    environment: Literal["local", "production"] = "local"
    var_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    # Older signing keys still accepted for cursors and tokens while clients roll over.
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    access_token_ttl_seconds: int = Field(3600, ge=60, le=86400 * 7)
    # How long an API process trusts a token's user row before reading it again (0: every request).
    auth_cache_seconds: float = Field(5.0, ge=0, le=300)
    ws_ticket_ttl_seconds: int = Field(30, ge=5, le=60)
    # Lowest zxcvbn score (0-4) a new password needs; 0 refuses only one repeated character.
    password_min_score: int = Field(2, ge=0, le=4)
    # The API's public base URL (e.g. https://forest.example.org); Link headers are built from it, and are
    # relative (`/api/v1/bids?cursor=…`) when unset. Never taken from the request's Host header.
    public_url: str | None = None
    # When set, /metrics answers only `Authorization: Bearer <this token>` (401 otherwise).
    metrics_token: SecretStr | None = None
    # host:port pairs the crawler may reach even though they resolve to private addresses.
    crawl_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # host:port pairs alert webhooks may POST to although they are private. A policy of its own, empty even in
    # local mode: any user can point a webhook anywhere, so a host the crawler reads is no place for their POSTs.
    webhook_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    demo_site_port: int = 8001
    demo_site_notices: int = 500
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Addresses of the proxies whose X-Forwarded-For `forest api` believes (uvicorn's forwarded_allow_ips):
    # per-address rate limits count the address this yields, so list the load balancers here, never "*"
    # on a port clients reach directly (they could then claim any address).
    forwarded_allow_ips: str = "127.0.0.1"
    access_log: Path | None = None
    # uvicorn's access log: one line per request on stderr. Off by default: under load it was about a tenth of
    # an API process's CPU on a list request (bench/RESULTS.md, Pagination), request counts and latencies are on
    # /metrics, and the proxy in front usually logs requests. FOREST_ACCESS_LOG above is the JSON log for replay.
    request_log: bool = False
    # FastAPI's native OpenTelemetry spans/metrics/logs (needs configured providers); Prometheus
    # metrics on /metrics are always on. Off, FastAPI skips a provider lookup on every request.
    opentelemetry: bool = False
    # permessage-deflate on /ws/notifications. Off: events are small JSON messages, and the zlib contexts of
    # 1,000 sockets took 78 MB of the API process instead of 42 MB, for no gain in delivery time (docs/jobs.md).
    ws_compression: bool = False
    db_pool_size: int = Field(10, ge=1, le=200)
    # Connections beyond the pool are opened for one checkout and closed at its end: each costs a new
    # PostgreSQL backend (a process fork) under load, so by default a burst waits for a pooled one instead.
    db_pool_max_overflow: int = Field(0, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(3.0, gt=0)
    # A ping per checkout costs a round trip on every request; a dead connection is instead detected
    # by the failing statement, which invalidates the whole pool at once (one request gets a 503).
    db_pool_pre_ping: bool = False
    db_connect_timeout_seconds: float = Field(3.0, gt=0)
    db_statement_timeout_ms: int = Field(15000, ge=100)
    count_timeout_ms: int = Field(250, ge=10)
    # Migrations on PostgreSQL: a DDL statement waiting longer than this for its lock gives up (and the
    # migration fails, to be re-run) instead of queueing every request on the table behind it.
    migration_lock_timeout_ms: int = Field(5000, ge=100)
    # Index builds and validations legitimately outlast the service's statement timeout; 0 = no limit.
    migration_statement_timeout_ms: int = Field(0, ge=0)
    crawl_max_pages_limit: int = Field(1000, ge=1)
    crawl_time_limit_seconds: int = Field(3600, ge=10)
    crawl_max_attempts: int = Field(3, ge=1, le=20)
    # A running job whose worker process has not heart-beaten for this long is re-queued by the reaper. Each
    # worker process beats for all its crawls every timeout/5 s (at most 5 s) from its event loop, whatever
    # the crawls wait on, so the timeout only has to outlast a few missed beats (docs/jobs.md, "Dead workers").
    job_heartbeat_timeout_seconds: int = Field(20, ge=5)
    # A queued job no delivery has started for this long is sent to the broker again (a lost enqueue).
    job_queued_timeout_seconds: int = Field(300, ge=5)
    # Crawl jobs one worker process runs at once on its event loop. A polite crawl mostly waits (about a
    # second between requests), so a process has room for many: 200 lets two processes hold a fleet of 250
    # hosts crawled at once (issue 17's benchmark) with room to spare (docs/operations.md, "Worker sizing").
    worker_crawls_per_process: int = Field(200, ge=1, le=1000)
    # Worker processes' niceness (Linux): crawls are background work, the API answers people. At 10 a saturated
    # machine gives an API process about nine times a worker's CPU share, so a fleet run does not slow reads
    # (bench/RESULTS.md, Fleet); 0 gives workers an equal share.
    worker_nice: int = Field(10, ge=0, le=19)
    event_poll_interval_seconds: float = Field(0.5, gt=0)
    ws_heartbeat_seconds: float = Field(15.0, gt=0)
    ws_send_queue_size: int = Field(256, ge=1)
    crawl_polite_delay_seconds: float = Field(1.0, ge=0)
    # Per-user quotas (docs/security.md, "Quotas"); admins are exempt.
    quota_active_crawls: int = Field(5, ge=1, le=10_000)
    quota_alerts: int = Field(100, ge=1, le=100_000)
    quota_webhook_alerts: int = Field(10, ge=0, le=100_000)
    quota_websockets: int = Field(10, ge=1, le=10_000)
    # Alert webhooks: attempts before a delivery fails, and the time limit of one attempt.
    webhook_max_attempts: int = Field(12, ge=1, le=50)
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    # An alert matching more new bids than this in one crawl batch gets one summarised `bid.new` event.
    alert_events_per_batch: int = Field(5, ge=1, le=1000)
    # OCDS exports: the ocid prefix (a registered `ocds-xxxxxx` one in production; the default says it is
    # local) and the publisher's name in each release package (docs/exports.md).
    ocds_prefix: str = Field("ocds-local-forest", min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
    ocds_publisher: str = Field("Forest", min_length=1, max_length=200)
    # Notices per alert feed (Atom: the newest; iCalendar: the soonest closing).
    feed_max_items: int = Field(100, ge=1, le=1000)
    # argon2 hashes and verifications run on this many threads (one core each); a login flood queues for them
    # instead of blocking the event loop (each takes 64 MiB and ~0.2 s of CPU). A quarter of the CPUs: on
    # 2 cores, 2 threads let the verifications a flood is allowed take both cores (bench/RESULTS.md "Abuse").
    password_hash_threads: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 1) // 4), ge=1, le=32)
    # Their niceness (Linux): 19 gives them only spare CPU, so a flood of logins cannot slow other requests;
    # 0 gives logins an equal share when the machine is saturated.
    password_hash_nice: int = Field(19, ge=0, le=19)
    # Rate limits in `limits` notation ("10/minute", "100/hour;10/minute"); empty turns one off. Shared by
    # every API process through Redis when FOREST_REDIS_URL is set, per process otherwise.
    rate_limit_auth_per_ip: str = "30/minute"
    rate_limit_auth_per_account: str = "10/minute"
    rate_limit_crawls_per_user: str = "30/minute"
    # A refused request is answered after this delay, so a client looping on refusals sends one request per
    # delay and connection instead of thousands per second (see forest/ratelimit.py).
    rate_limit_refusal_delay_seconds: float = Field(1.0, ge=0, le=30)
    # Request bodies over this size are refused with 413 before they are read.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Client messages on /ws/notifications (clients only send pings); larger ones close the socket with 1009.
    ws_max_message_bytes: int = Field(4096, ge=128, le=1024 * 1024)

    @field_validator("crawl_allow_hosts", "webhook_allow_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("rate_limit_auth_per_ip", "rate_limit_auth_per_account", "rate_limit_crawls_per_user")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError as exc:
                raise ValueError(f"not a rate limit such as '10/minute' or '10/minute;100/hour': {value!r}") from exc
        return value

    @field_validator("previous_secret_keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        return _split_csv(value)

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.var_dir / 'forest.db').resolve()}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{(self.var_dir / 'broker.db').resolve()}"
        if "crawl_allow_hosts" not in self.model_fields_set and self.environment == "local":
            self.crawl_allow_hosts = [f"127.0.0.1:{self.demo_site_port}"]
        if self.environment == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if _weak(key):
                raise ValueError(
                    "FOREST_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
            # An old key still verifies tokens and cursors: a guessable one forges them just as well.
            weak_old = [str(n) for n, k in enumerate(self.previous_secret_keys, 1) if _weak(k.get_secret_value())]
            if weak_old:
                raise ValueError(
                    f"FOREST_PREVIOUS_SECRET_KEYS: key(s) number {', '.join(weak_old)} are weak; every previous key "
                    "must be a random value of at least 32 characters in production (drop a key to stop accepting it)"
                )
            metrics = self.metrics_token.get_secret_value() if self.metrics_token else None
            if metrics is not None and _weak(metrics):
                raise ValueError("FOREST_METRICS_TOKEN must be a random value of at least 32 characters in production")
        if self.public_url is not None:
            self.public_url = self.public_url.rstrip("/") or None
            if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
                raise ValueError("FOREST_PUBLIC_URL must be an absolute http(s) URL, e.g. https://forest.example.org")
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    def signing_keys(self) -> list[bytes]:
        """The current signing key first, then the previous ones still accepted."""
        return [self.current_secret().encode()] + [k.get_secret_value().encode() for k in self.previous_secret_keys]

    def current_secret(self) -> str:
        """The secret that signs new tokens and cursors (generated and kept under var/ in local mode)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        from forest.filemodes import FILE_MODE, private_dir, private_file

        path = private_dir(self.var_dir) / "secret_key"
        if not path.exists():
            candidate = secrets.token_urlsafe(48)
            try:
                # Created 0600 and written in one go, so it is never readable by others, not even for a moment.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
                with os.fdopen(fd, "w") as fh:
                    fh.write(candidate)
            except FileExistsError:
                pass  # another process created it first; read theirs below
        private_file(path)
        secret = path.read_text().strip()
        self.secret_key = SecretStr(secret)
        return secret


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
