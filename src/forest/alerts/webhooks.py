"""Alert webhooks: signed, retried, egress-checked POSTs of an alert's new matching bids.

A delivery row is written in the transaction that stages the `bid.new` events, then handed to a
worker after commit. Each attempt claims the row (`attempts = attempts + 1` guarded by the count it
read, and a lease in `next_attempt_at`), POSTs through the crawler's pinned transport under the
webhooks' own egress policy (`FOREST_WEBHOOK_ALLOW_HOSTS`, every hop checked), and records the
outcome guarded by the same count. A hand-off the broker never took, or an attempt whose worker
died, is found again by `sweep`. Delivery is at least once: receivers deduplicate on the delivery
id (`Forest-Delivery`, also the body's `id`). See docs/jobs.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import BigInteger, Select, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from forest.alerts.models import Alert, WebhookDelivery
from forest.alerts.schemas import WebhookDeliveryRead
from forest.config import Settings
from forest.crawler.egress import EgressPolicy, PinnedTransport, UrlNotAllowed
from forest.crawler.fetch import parse_retry_after
from forest.database import Database, utcnow
from forest.events import Event
from forest.pagination import ListSelect, columns_of

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Forest-Signature"
DELIVERY_HEADER = "Forest-Delivery"
EVENT_HEADER = "Forest-Event"
USER_AGENT = "Forest-Webhooks/0.1 (+https://github.com/forest-bids/forest)"
EVENT_TYPE = "bid.new"
RETRY_STATUSES = frozenset({408, 429})
FOLLOWED_REDIRECTS = frozenset({307, 308})  # the only ones that repeat the POST with its body
# A delivery handed to the queue that has not been attempted this long is assumed lost and re-sent.
REQUEUE_AFTER = dt.timedelta(minutes=10)
HAND_OFF_TIMEOUT_SECONDS = 5.0

Sender = Callable[[Sequence[uuid.UUID]], object]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard a delivery is tried: attempts, exponential backoff with jitter, per-attempt time limit."""

    max_attempts: int = 12
    backoff_base: float = 10.0
    backoff_max: float = 3600.0
    timeout: float = 10.0
    max_redirects: int = 3

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt after `attempts` failed ones ("equal jitter": never zero)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, attempts - 1))
        wait = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_max))
        return wait

    @property
    def lease(self) -> dt.timedelta:
        """How long a claimed attempt owns the delivery before another may take it over."""
        return dt.timedelta(seconds=self.timeout * (self.max_redirects + 1) + 30)


def egress_policy(settings: Settings) -> EgressPolicy:
    """Where webhooks may POST: public addresses, and only the `FOREST_WEBHOOK_ALLOW_HOSTS` pairs besides.

    Not the crawler's allow-list: a crawl only reads the pages of a board an admin allowed, while any user
    chooses a webhook's URL, path and body, so the crawl allow-list would let them POST to that board's
    (or any allowed internal host's) control endpoints.
    """
    return EgressPolicy(settings.webhook_allow_hosts, purpose="webhooks")


def policy_for(settings: Settings) -> RetryPolicy:
    """The retry policy these settings ask for (`FOREST_WEBHOOK_MAX_ATTEMPTS`, `FOREST_WEBHOOK_TIMEOUT_SECONDS`)."""
    return RetryPolicy(max_attempts=settings.webhook_max_attempts, timeout=settings.webhook_timeout_seconds)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call of `deliver` did; `retry_in` asks the caller to try again after that many seconds."""

    state: str | None
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class _Attempt:
    status: int | None = None
    error_code: str | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error_code is None


def new_secret() -> str:
    """A fresh random signing secret for an alert."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Forest-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def stage(session: AsyncSession, *, alert: Alert, staged: Sequence[Event]) -> WebhookDelivery:
    """Stage one delivery of an alert's `bid.new` events (already flushed, so they have ids)."""
    delivery_id = uuid.uuid4()
    now = utcnow()
    # A summarised event (an alert matching many bids of one batch) carries them all in `bids`.
    entries = [{"id": event.id, "bid": bid} for event in staged for bid in event.data.get("bids", [event.data["bid"]])]
    body = {
        "id": str(delivery_id),
        "type": EVENT_TYPE,
        "created_at": _rfc3339(now),
        "alert": {"id": alert.id, "name": alert.name},
        "events": entries,
    }
    assert alert.webhook_url is not None
    delivery = WebhookDelivery(
        id=delivery_id, alert_id=alert.id, url=alert.webhook_url, bid_count=len(entries),
        payload=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        state="pending", attempts=0, next_attempt_at=now, enqueued_at=now, created_at=now,
    )
    session.add(delivery)
    return delivery


async def hand_off(delivery_ids: Sequence[uuid.UUID], send: Sender | None) -> None:
    """Queue committed deliveries; never raises (one the broker does not take is found by `sweep`)."""
    if not delivery_ids or send is None:
        return
    try:
        await asyncio.wait_for(asyncio.to_thread(send, list(delivery_ids)), HAND_OFF_TIMEOUT_SECONDS)
    except Exception:  # a webhook must never fail the crawl that produced it
        log.warning("could not queue webhook deliveries %s; the sweeper will send them", delivery_ids, exc_info=True)


@asynccontextmanager
async def _database(settings: Settings, shared: Database | None) -> AsyncIterator[Database]:
    if shared is not None:  # the worker process's own
        yield shared
        return
    db = Database.from_settings(settings) if settings.is_sqlite else \
        Database.from_settings(settings, pool_size=1, max_overflow=1)
    try:
        yield db
    finally:
        await db.dispose()


async def deliver(settings: Settings, delivery_id: uuid.UUID, *, policy: RetryPolicy | None = None,
                  db: Database | None = None, transport: httpx.AsyncBaseTransport | None = None) -> Outcome:
    """Make the next attempt at a delivery if it is due (safe to call twice: a duplicate does nothing).

    A worker passes its process's database and webhook transport (one that outlives the attempt's client);
    without them the attempt builds and closes its own.
    """
    policy = policy or policy_for(settings)
    async with _database(settings, db) as db:
        async with db.sessionmaker() as session:
            claimed = await _claim(session, delivery_id, policy)
        if claimed is None:
            return Outcome(state=None)
        delivery, secret = claimed
        attempt = await _post(settings, delivery, secret, policy, transport)
        async with db.sessionmaker() as session:
            return await _record(session, delivery, attempt, policy)


async def _claim(session: AsyncSession, delivery_id: uuid.UUID,
                 policy: RetryPolicy) -> tuple[WebhookDelivery, str] | None:
    now = utcnow()
    row = (await session.execute(
        select(WebhookDelivery, Alert.webhook_secret).join(Alert, Alert.id == WebhookDelivery.alert_id)
        .where(WebhookDelivery.id == delivery_id))).first()
    if row is None:
        return None  # the alert was deleted, and its deliveries with it
    delivery, secret = row
    if delivery.state != "pending" or delivery.next_attempt_at > now:
        return None
    seen = delivery.attempts
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.attempts == seen,
               WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
        .values(attempts=seen + 1, next_attempt_at=now + policy.lease)
        .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        await session.rollback()
        return None  # another attempt claimed it first
    await session.commit()
    delivery.attempts = seen + 1
    return delivery, secret


async def _post(settings: Settings, delivery: WebhookDelivery, secret: str, policy: RetryPolicy,
                transport: httpx.AsyncBaseTransport | None) -> _Attempt:
    """One attempt: POST (following 307/308, every hop egress-checked), within the attempt's time limit."""
    body = delivery.payload.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: str(delivery.id),
        EVENT_HEADER: EVENT_TYPE,
        SIGNATURE_HEADER: sign(secret, int(time.time()), body),
    }
    async with httpx.AsyncClient(transport=transport or PinnedTransport(egress_policy(settings)),
                                 follow_redirects=False, timeout=httpx.Timeout(policy.timeout)) as client:
        try:
            url = httpx.URL(delivery.url)
            for _ in range(policy.max_redirects + 1):
                async with asyncio.timeout(policy.timeout):
                    request = client.build_request("POST", url, content=body, headers=headers)
                    response = await client.send(request, stream=True)
                    await response.aclose()  # the receiver's body is not needed
                status = response.status_code
                if status in FOLLOWED_REDIRECTS and response.headers.get("location"):
                    url = url.join(response.headers["location"])
                    continue
                return _classify(status, response.headers)
            return _Attempt(error_code="too_many_redirects",
                            error=f"more than {policy.max_redirects} redirects starting at {delivery.url}")
        except UrlNotAllowed as exc:
            return _Attempt(error_code="url_not_allowed", error=exc.reason)
        except httpx.InvalidURL as exc:
            return _Attempt(error_code="url_not_allowed", error=f"invalid URL: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return _Attempt(error_code="timeout", error=f"no answer within {policy.timeout:g} s", retryable=True)
        except httpx.TransportError as exc:
            return _Attempt(error_code="network_error", error=str(exc) or type(exc).__name__, retryable=True)


def _classify(status: int, headers: httpx.Headers) -> _Attempt:
    if 200 <= status < 300:
        return _Attempt(status=status)
    if status in RETRY_STATUSES or status >= 500:
        return _Attempt(status=status, error_code="http_status", error=f"HTTP {status}", retryable=True,
                        retry_after=parse_retry_after(headers.get("retry-after")))
    if 300 <= status < 400:
        return _Attempt(status=status, error_code="redirect_not_followed",
                        error=f"HTTP {status}: only 307 and 308 redirects repeat a POST; update the webhook URL")
    return _Attempt(status=status, error_code="http_status", error=f"HTTP {status}")


async def _record(session: AsyncSession, delivery: WebhookDelivery, attempt: _Attempt,
                  policy: RetryPolicy) -> Outcome:
    now = utcnow()
    values: dict[str, object] = {"last_status": attempt.status, "last_error_code": attempt.error_code,
                                 "last_error": attempt.error}
    retry_in: float | None = None
    if attempt.ok:
        state = "succeeded"
        values.update(state=state, finished_at=now)
    elif attempt.retryable and delivery.attempts < policy.max_attempts:
        state = "pending"
        retry_in = policy.backoff(delivery.attempts, attempt.retry_after)
        values.update(next_attempt_at=now + dt.timedelta(seconds=retry_in), enqueued_at=now)
    else:
        state = "failed"
        values.update(state=state, finished_at=now)
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id, WebhookDelivery.attempts == delivery.attempts,
               WebhookDelivery.state == "pending")
        .values(**values)
        .execution_options(synchronize_session=False))
    await session.commit()
    if getattr(result, "rowcount", 0) != 1:
        return Outcome(state=None)  # the lease ran out and a newer attempt owns the delivery
    if not attempt.ok:
        log.info("webhook delivery %s attempt %s: %s %s", delivery.id, delivery.attempts, attempt.error_code,
                 attempt.error)
    return Outcome(state=state, retry_in=retry_in)


async def sweep(settings: Settings, *, limit: int = 500, db: Database | None = None) -> list[uuid.UUID]:
    """Due deliveries no worker has been handed recently (lost hand-off, dead worker); marks them handed."""
    now = utcnow()
    async with _database(settings, db) as database, database.sessionmaker() as session:
        ids = list((await session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now,
                   or_(WebhookDelivery.enqueued_at.is_(None), WebhookDelivery.enqueued_at <= now - REQUEUE_AFTER))
            .order_by(WebhookDelivery.next_attempt_at).limit(limit))).all())
        if ids:
            await session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                                  .values(enqueued_at=now).execution_options(synchronize_session=False))
            await session.commit()
    return ids


def _list_select() -> Select[Any]:
    return select(*columns_of(WebhookDelivery, WebhookDeliveryRead)).where(
        WebhookDelivery.alert_id == bindparam("alert_id", type_=BigInteger))


def list_query(*, alert_id: int) -> ListSelect:
    """An alert's deliveries: the columns `WebhookDeliveryRead` shows."""
    return ListSelect(_list_select, values={"alert_id": alert_id})
