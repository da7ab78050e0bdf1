"""Typed settings for every Forest process, read from `FOREST_*` environment variables."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values that must never sign tokens in production.
_WEAK_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development", "forest"}


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
    # host:port pairs the crawler may reach even though they resolve to private addresses.
    crawl_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # host:port pairs alert webhooks may POST to although they are private. A policy of its own, empty even in
    # local mode: any user can point a webhook anywhere, so a host the crawler reads is no place for their POSTs.
    webhook_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    demo_site_port: int = 8001
    demo_site_notices: int = 500
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    access_log: Path | None = None
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
    job_heartbeat_timeout_seconds: int = Field(90, ge=5)
    # A queued job no delivery has started for this long is sent to the broker again (a lost enqueue).
    job_queued_timeout_seconds: int = Field(300, ge=5)
    event_poll_interval_seconds: float = Field(0.5, gt=0)
    ws_heartbeat_seconds: float = Field(15.0, gt=0)
    ws_send_queue_size: int = Field(256, ge=1)
    crawl_polite_delay_seconds: float = Field(1.0, ge=0)
    # Alert webhooks: attempts before a delivery fails, and the time limit of one attempt.
    webhook_max_attempts: int = Field(12, ge=1, le=50)
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)

    @field_validator("crawl_allow_hosts", "webhook_allow_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        return _split_csv(value)

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
            if key.lower() in _WEAK_SECRETS or len(key) < 32:
                raise ValueError(
                    "FOREST_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
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
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            candidate = secrets.token_urlsafe(48)
            try:
                with path.open("x") as fh:
                    fh.write(candidate)
                path.chmod(0o600)
            except FileExistsError:
                pass  # another process created it first; read theirs below
        secret = path.read_text().strip()
        self.secret_key = SecretStr(secret)
        return secret


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
