"""Data that must survive: rows in every table of the released (0003) schema, and checksums to compare.

Written with explicit column lists of revision 0003 (not the models), so the same seed works on the
released schema before an upgrade and on any later one. Synchronous engines: the upgrade and backup
tests write from threads while other processes work on the same database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from forest.config import Settings

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
# Tables and their primary keys, parents first.
TABLES = {"user": "id", "source": "id", "bid": "id", "crawl_job": "id", "job_event": "id", "alert": "id",
          "webhook_delivery": "id", "idempotency_key": "id", "ws_ticket": "ticket_hash"}


def sync_engine(settings: Settings) -> Engine:
    """The settings' database through a synchronous driver."""
    return sa.create_engine(settings.database_url.replace("+asyncpg", "+psycopg").replace("+aiosqlite", ""))


def _stamp(value: dt.datetime, conn: Connection) -> Any:
    # SQLite columns hold naive UTC (see database.UtcDateTime).
    return value.replace(tzinfo=None) if conn.dialect.name == "sqlite" else value


def _uuid(value: uuid.UUID, conn: Connection) -> Any:
    return value.hex if conn.dialect.name == "sqlite" else value


def seed(conn: Connection, *, bids: int = 2000) -> None:
    """Users, sources, bids, crawl jobs with events, alerts with webhook deliveries, an idempotency key."""
    ts = _stamp(T0, conn)
    conn.execute(sa.text('INSERT INTO "user" (id, email, password_hash, is_admin, created_at) '
                         "VALUES (:id, :email, 'x', false, :at)"),
                 [{"id": i, "email": f"user{i}@example.com", "at": ts} for i in (1, 2, 3)])
    conn.execute(sa.text("INSERT INTO source (id, name, start_url, max_pages, timezone, polite, enabled, created_at) "
                         "VALUES (:id, :name, :url, 10, 'Asia/Seoul', true, true, :at)"),
                 [{"id": i, "name": f"board {i}", "url": f"https://board.example.kr/{i}", "at": ts} for i in (1, 2)])
    conn.execute(sa.text(
        "INSERT INTO bid (id, source_id, external_id, title, department, views, post_date, url, attachments, "
        "content_hash, first_seen_at, updated_at) VALUES (:id, :source_id, :ext, :title, :dept, :views, :day, :url, "
        ":attachments, :hash, :at, :at)"),
        [{"id": i, "source_id": 1 + i % 2, "ext": f"n-{i}", "title": f"산림 사업 {i} 입찰 공고", "dept": f"과 {i % 7}",
          "views": i * 7 % 5000, "day": dt.date(2026, 11, 1) - dt.timedelta(days=i % 400),
          "url": f"https://board.example.kr/n/{i}", "attachments": json.dumps([{"name": "공고문.hwp", "url": "x"}]),
          "hash": hashlib.sha256(str(i).encode()).hexdigest(), "at": ts} for i in range(1, bids + 1)])
    jobs = [uuid.UUID(int=i) for i in range(1, 21)]
    conn.execute(sa.text(
        "INSERT INTO crawl_job (id, user_id, source_id, url, max_pages, state, pages_done, items_seen, items_new, "
        "items_updated, errors, attempt, cancel_requested, last_seq, created_at) VALUES (:id, :user_id, 1, "
        "'https://board.example.kr/1', 10, 'succeeded', 10, 100, 50, 5, 0, 1, false, 10, :at)"),
        [{"id": _uuid(j, conn), "user_id": 1 + k % 3, "at": _stamp(T0 + dt.timedelta(minutes=k), conn)}
         for k, j in enumerate(jobs)])
    conn.execute(sa.text("INSERT INTO job_event (user_id, job_id, type, seq, data, at) "
                         "VALUES (:user_id, :job_id, 'job.progress', :seq, :data, :at)"),
                 [{"user_id": 1 + k % 3, "job_id": _uuid(j, conn), "seq": s, "data": json.dumps({"pages_done": s}),
                   "at": ts} for k, j in enumerate(jobs) for s in range(1, 11)])
    conn.execute(sa.text("INSERT INTO alert (id, user_id, name, filters, webhook_url, webhook_secret, created_at) "
                         "VALUES (:id, :user_id, :name, :filters, 'https://hooks.example.com/x', :secret, :at)"),
                 [{"id": i, "user_id": 1 + i % 3, "name": f"alert {i}", "filters": json.dumps({"q": "숲"}),
                   "secret": f"whsec_{i:040d}", "at": ts} for i in range(1, 11)])
    conn.execute(sa.text(
        "INSERT INTO webhook_delivery (id, alert_id, url, payload, bid_count, state, attempts, next_attempt_at, "
        "created_at) VALUES (:id, :alert_id, 'https://hooks.example.com/x', :payload, 1, 'delivered', 1, :at, :at)"),
        [{"id": _uuid(uuid.UUID(int=1000 + i), conn), "alert_id": 1 + i % 10, "payload": json.dumps({"n": i}),
          "at": ts} for i in range(50)])
    conn.execute(sa.text("INSERT INTO idempotency_key (user_id, key, request_hash, job_id, created_at, expires_at) "
                         "VALUES (1, 'k-1', :hash, :job, :at, :at)"),
                 {"hash": "0" * 64, "job": _uuid(jobs[0], conn), "at": ts})
    if conn.dialect.name == "postgresql":  # explicit ids above: move the sequences past them
        for table in ("user", "source", "bid", "alert"):
            conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                 f'(SELECT max(id) FROM "{table}"))'))


def columns(conn: Connection) -> dict[str, list[str]]:
    """The columns of every table, as the database has them now."""
    inspector = sa.inspect(conn)
    return {t: [c["name"] for c in inspector.get_columns(t)] for t in TABLES}


def checksums(conn: Connection, cols: dict[str, list[str]], *, where: dict[str, str] | None = None,
              ) -> dict[str, tuple[int, str]]:
    """(rows, SHA-256 over the rows in key order) of each table, over the columns given."""
    out = {}
    for table, names in cols.items():
        select = ", ".join(f'"{c}"' for c in names)
        condition = f" WHERE {where[table]}" if where and table in where else ""
        rows = conn.execute(sa.text(f'SELECT {select} FROM "{table}"{condition} ORDER BY "{TABLES[table]}"')).all()
        digest = hashlib.sha256()
        for row in rows:
            digest.update(repr(tuple(_normal(v) for v in row)).encode())
        out[table] = (len(rows), digest.hexdigest())
    return out


def _normal(value: Any) -> Any:
    """One spelling per value across drivers (JSON as parsed, UUIDs as UUID, times naive UTC)."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value))
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


class Writer(threading.Thread):
    """Inserts a bid and its `bid.new` event in one transaction, over and over, until stopped."""

    def __init__(self, engine: Engine, *, start_id: int) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.next_id = start_id
        self.written = 0
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                with self.engine.begin() as conn:
                    ts = _stamp(T0, conn)
                    conn.execute(sa.text(
                        "INSERT INTO bid (id, source_id, external_id, title, department, views, post_date, url, "
                        "attachments, content_hash, first_seen_at, updated_at) VALUES (:id, 1, :ext, 'live', 'live', "
                        "0, :day, 'https://board.example.kr/live', '[]', :hash, :at, :at)"),
                        {"id": self.next_id, "ext": f"live-{self.next_id}", "day": dt.date(2026, 11, 2),
                         "hash": "f" * 64, "at": ts})
                    conn.execute(sa.text("INSERT INTO job_event (user_id, type, data, at) "
                                         "VALUES (1, 'bid.new', :data, :at)"), {"data": json.dumps(
                                             {"bid_id": self.next_id}), "at": ts})
                self.next_id += 1
                self.written += 1
        except BaseException as exc:  # reported by the test, which joins the thread
            self.error = exc

    def stop(self) -> None:
        """Stop after the current transaction and wait for the thread."""
        self._halt.set()
        self.join(timeout=30)
        if self.error is not None:
            raise self.error
