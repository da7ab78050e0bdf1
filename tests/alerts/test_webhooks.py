"""Alert webhooks against a real receiver: staged with a crawl, signed, retried, egress-checked, durable."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from forest.alerts import service as alerts
from forest.alerts import webhooks
from forest.alerts.models import Alert, WebhookDelivery
from forest.alerts.schemas import AlertCreate
from forest.bids.filters import BidFilters
from forest.bids.models import Bid
from forest.config import Settings
from forest.crawls import runner
from forest.crawls.models import CrawlJob, JobEvent
from forest.database import Database, utcnow
from forest.demo_site.testing import DemoSite
from forest.sources.models import Source
from forest.users import service as users
from forest.users.models import User
from tests.alerts.conftest import Receiver, verify_signature
from tests.conftest import make_settings

FAST = webhooks.RetryPolicy(max_attempts=3, backoff_base=0.05, backoff_max=0.2, timeout=3)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, receiver: Receiver, demo_board: DemoSite) -> Settings:
    """The test database, the demo board allow-listed for crawls and the receiver for webhooks (both on 127.0.0.1)."""
    demo_board.board.reset()
    return make_settings(database_url, tmp_path, crawl_allow_hosts=[demo_board.base_url.removeprefix("http://")],
                         webhook_allow_hosts=[receiver.host_port])


async def _user(db: Database) -> User:
    async with db.sessionmaker() as session:
        return await users.create(session=session, email=f"u{uuid.uuid4().hex[:10]}@example.com",
                                  password="webhook-password-1", is_admin=False)


async def _alert(db: Database, settings: Settings, user: User, *, webhook_url: str | None,
                 department: str | None = None) -> Alert:
    filters = BidFilters(department=[department]) if department else BidFilters()
    async with db.sessionmaker() as session:
        return await alerts.create(session=session, settings=settings, user=user,
                                   alert_in=AlertCreate(name="watch", filters=filters, webhook_url=webhook_url))


async def _source(db: Database, demo: DemoSite) -> int:
    async with db.sessionmaker() as session:
        source = Source(name=f"demo-{uuid.uuid4().hex[:8]}", start_url=demo.url("/kfs/bid/list.do"), preset="demo_board",
                        max_pages=50, timezone="Asia/Seoul", polite=False, delay_seconds=0.0, enabled=True,
                        created_at=utcnow())
        session.add(source)
        await session.commit()
        return source.id


async def _crawl(db: Database, settings: Settings, user: User, source_id: int,
                 send: webhooks.Sender | None) -> runner.Outcome:
    """One crawl job run to its end by the real runner (the code a worker runs)."""
    async with db.sessionmaker() as session:
        job = CrawlJob(user_id=user.id, source_id=source_id, url=(await session.get(Source, source_id)).start_url,  # type: ignore[union-attr]
                       max_pages=50, state="queued", created_at=utcnow())
        session.add(job)
        await session.commit()
    return await runner.run_job(settings, job.id, send_webhooks=send)


async def _deliver_until_done(settings: Settings, delivery_id: uuid.UUID) -> list[webhooks.Outcome]:
    """What the worker task does: attempt, and attempt again after each backoff."""
    outcomes = [await webhooks.deliver(settings, delivery_id, policy=FAST)]
    while outcomes[-1].retry_in is not None:
        await asyncio.sleep(outcomes[-1].retry_in)  # the delivery is not due before its backoff ends
        outcomes.append(await webhooks.deliver(settings, delivery_id, policy=FAST))
    return outcomes


async def _delivery(db: Database, delivery_id: uuid.UUID) -> WebhookDelivery:
    async with db.sessionmaker() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        return delivery


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_receives_exactly_the_new_matching_bids_signed(
    database: Database, settings: Settings, receiver: Receiver, demo_board: DemoSite,
) -> None:
    user = await _user(database)
    department = demo_board.board.notices[0].department
    alert = await _alert(database, settings, user, webhook_url=receiver.url("/hooks/forest"), department=department)
    await _alert(database, settings, user, webhook_url=None)  # matches everything, but has no webhook
    source_id = await _source(database, demo_board)
    queued: list[uuid.UUID] = []

    outcome = await _crawl(database, settings, user, source_id, queued.extend)
    assert outcome.state == "succeeded"
    assert queued  # handed to the worker queue after commit
    for delivery_id in queued:
        assert [o.state for o in await _deliver_until_done(settings, delivery_id)] == ["succeeded"]

    async with database.sessionmaker() as session:
        matching = set((await session.scalars(select(Bid.id).where(Bid.department == department))).all())
        event_ids = set((await session.scalars(select(JobEvent.id).where(JobEvent.alert_id == alert.id))).all())
    expected_external = {str(n.ntt_id) for n in [*demo_board.board.notices, *demo_board.board.pinned]
                         if n.department == department}
    assert len(matching) == len(expected_external) > 0
    received = list(receiver.requests)
    assert len(received) == len(queued)
    bodies = [json.loads(r.body) for r in received]
    got = [e["bid"]["id"] for b in bodies for e in b["events"]]
    assert sorted(got) == sorted(matching)  # every new matching bid once, nothing else
    assert {e["id"] for b in bodies for e in b["events"]} == event_ids  # the same events the WebSocket carries
    for request, body in zip(received, bodies, strict=True):
        assert request.path == "/hooks/forest"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["forest-event"] == "bid.new" == body["type"]
        assert request.headers["forest-delivery"] == body["id"]
        assert uuid.UUID(body["id"]) in queued
        assert body["alert"] == {"id": alert.id, "name": "watch"}
        assert all(e["bid"]["department"] == department for e in body["events"])
        assert verify_signature(alert.webhook_secret, request.headers["forest-signature"], request.body)
        assert not verify_signature("whsec_wrong", request.headers["forest-signature"], request.body)
    for delivery_id in queued:
        delivery = await _delivery(database, delivery_id)
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("succeeded", 1, 200)

    # A second crawl after the board gained notices delivers only the new matching ones.
    added = demo_board.board.add_notices(12)
    queued.clear()
    assert (await _crawl(database, settings, user, source_id, queued.extend)).state == "succeeded"
    for delivery_id in queued:
        await _deliver_until_done(settings, delivery_id)
    new_bodies = [json.loads(r.body) for r in receiver.requests[len(received):]]
    new_urls = {e["bid"]["url"].split("nttId=")[1].split("&")[0] for b in new_bodies for e in b["events"]}
    assert new_urls == {str(n.ntt_id) for n in added if n.department == department}


async def test_webhook_retried_after_500s_keeps_its_delivery_id(
    database: Database, settings: Settings, receiver: Receiver, demo_board: DemoSite,
) -> None:
    user = await _user(database)
    alert = await _alert(database, settings, user, webhook_url=receiver.url())
    demo_board.board.reset()
    queued: list[uuid.UUID] = []
    await _crawl(database, settings, user, await _source(database, demo_board), queued.extend)
    receiver.answer(500, (503, {"Retry-After": "0"}))

    outcomes = await _deliver_until_done(settings, queued[0])

    assert [o.state for o in outcomes] == ["pending", "pending", "succeeded"]
    assert all(0 < o.retry_in <= FAST.backoff_max for o in outcomes[:2] if o.retry_in is not None)
    attempts = receiver.requests[:3]
    assert len({r.headers["forest-delivery"] for r in attempts}) == 1 == len({r.body for r in attempts})
    assert attempts[0].headers["forest-delivery"] == str(queued[0])
    assert all(verify_signature(alert.webhook_secret, r.headers["forest-signature"], r.body) for r in attempts)
    delivery = await _delivery(database, queued[0])
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.last_error) == ("succeeded", 3, 200, None)
    # A duplicate task for a finished delivery sends nothing.
    assert (await webhooks.deliver(settings, queued[0], policy=FAST)).state is None
    assert len(receiver.requests) == 3


async def test_webhook_to_a_private_address_is_refused_and_never_sent(
    database: Database, settings: Settings, receiver: Receiver, demo_board: DemoSite, tmp_path: Path,
) -> None:
    user = await _user(database)
    # The receiver was allow-listed when the alert was saved; the deployment no longer allows it.
    await _alert(database, settings, user, webhook_url=receiver.url())
    # Saved before a DNS change, say: the name now resolves to a private address (written directly,
    # since the API refuses it today).
    async with database.sessionmaker() as session:
        session.add(Alert(user_id=user.id, name="private", filters={}, webhook_url="http://10.20.30.40/hook",
                          webhook_secret=webhooks.new_secret(), created_at=utcnow()))
        await session.commit()
    narrowed = make_settings(settings.database_url, tmp_path,
                             crawl_allow_hosts=[demo_board.base_url.removeprefix("http://")])
    queued: list[uuid.UUID] = []
    assert (await _crawl(database, narrowed, user, await _source(database, demo_board), queued.extend)).state \
        == "succeeded"

    outcomes = [await webhooks.deliver(narrowed, delivery_id, policy=FAST) for delivery_id in queued]

    assert [o.state for o in outcomes] == ["failed"] * len(queued) and all(o.retry_in is None for o in outcomes)
    async with database.sessionmaker() as session:
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
    assert {d.url for d in deliveries} == {receiver.url(), "http://10.20.30.40/hook"}
    assert {(d.state, d.attempts, d.last_error_code) for d in deliveries} == {("failed", 1, "url_not_allowed")}
    errors = {d.url: d.last_error or "" for d in deliveries}
    assert "private" in errors["http://10.20.30.40/hook"] and "not allowed" in errors[receiver.url()]
    assert receiver.requests == []


async def test_webhook_redirect_to_a_private_address_is_refused(
    database: Database, settings: Settings, receiver: Receiver, demo_board: DemoSite,
) -> None:
    user = await _user(database)
    await _alert(database, settings, user, webhook_url=receiver.url("/moved"))
    queued: list[uuid.UUID] = []
    await _crawl(database, settings, user, await _source(database, demo_board), queued.extend)
    receiver.answer((307, {"Location": f"http://127.0.0.1:{_closed_port()}/internal"}))

    outcome = await webhooks.deliver(settings, queued[0], policy=FAST)

    assert outcome.state == "failed"
    delivery = await _delivery(database, queued[0])
    assert delivery.last_error_code == "url_not_allowed"
    assert [r.path for r in receiver.requests] == ["/moved"]  # the redirect target was never contacted


async def test_crawl_succeeds_while_the_webhook_is_down(
    database: Database, settings: Settings, demo_board: DemoSite, tmp_path: Path,
) -> None:
    port = _closed_port()
    down = make_settings(settings.database_url, tmp_path,
                         crawl_allow_hosts=settings.crawl_allow_hosts, webhook_allow_hosts=[f"127.0.0.1:{port}"])
    user = await _user(database)
    await _alert(database, down, user, webhook_url=f"http://127.0.0.1:{port}/hook")
    queued: list[uuid.UUID] = []

    assert (await _crawl(database, down, user, await _source(database, demo_board), queued.extend)).state \
        == "succeeded"
    outcomes = await _deliver_until_done(down, queued[0])

    assert [o.state for o in outcomes] == ["pending", "pending", "failed"]
    delivery = await _delivery(database, queued[0])
    assert (delivery.state, delivery.attempts, delivery.last_error_code) == ("failed", 3, "network_error")


async def test_lost_hand_off_is_swept_up_and_the_crawl_still_succeeds(
    database: Database, settings: Settings, receiver: Receiver, demo_board: DemoSite,
) -> None:
    user = await _user(database)
    await _alert(database, settings, user, webhook_url=receiver.url())

    def broker_down(_: object) -> None:
        raise ConnectionError("broker unreachable")

    assert (await _crawl(database, settings, user, await _source(database, demo_board), broker_down)).state \
        == "succeeded"
    async with database.sessionmaker() as session:
        pending = set((await session.scalars(select(WebhookDelivery.id)
                                             .where(WebhookDelivery.state == "pending"))).all())
    assert pending
    assert await webhooks.sweep(settings) == []  # handed off moments ago: not yet presumed lost
    async with database.sessionmaker() as session:
        await session.execute(update(WebhookDelivery).values(
            enqueued_at=utcnow() - webhooks.REQUEUE_AFTER - dt.timedelta(seconds=1)))
        await session.commit()

    swept = await webhooks.sweep(settings)

    assert set(swept) == pending
    assert await webhooks.sweep(settings) == []  # marked as handed off again
    for delivery_id in swept:
        assert (await webhooks.deliver(settings, delivery_id, policy=FAST)).state == "succeeded"
    assert len(receiver.requests) == len(pending)


async def test_alert_api_shows_the_secret_and_the_deliveries(
    client: httpx.AsyncClient, make_user, database: Database, settings: Settings,  # type: ignore[no-untyped-def]
    receiver: Receiver, demo_board: DemoSite,
) -> None:
    owner, other = await make_user(), await make_user()
    r = await client.post("/api/v1/alerts", json={"name": "hook", "webhook_url": receiver.url()}, headers=owner.headers)
    assert r.status_code == 201, r.text
    alert = r.json()
    assert alert["webhook_secret"].startswith("whsec_")
    plain = await client.post("/api/v1/alerts", json={"name": "plain"}, headers=owner.headers)
    assert plain.json()["webhook_secret"] is None
    refused = await client.post("/api/v1/alerts", json={"name": "x", "webhook_url": f"http://127.0.0.1:{_closed_port()}/"},
                                headers=owner.headers)
    assert (refused.status_code, refused.json()["code"]) == (400, "url_not_allowed")
    path = f"/api/v1/alerts/{alert['id']}/deliveries"
    assert (await client.get(path, headers=owner.headers)).json()["items"] == []

    async with database.sessionmaker() as session:
        user = await session.get(User, owner.id)
    assert user is not None
    queued: list[uuid.UUID] = []
    receiver.answer(500)
    await _crawl(database, settings, user, await _source(database, demo_board), queued.extend)
    await webhooks.deliver(settings, queued[0], policy=FAST)

    page = (await client.get(path, headers=owner.headers, params={"limit": 100})).json()
    assert {item["id"] for item in page["items"]} == {str(i) for i in queued}
    item = next(item for item in page["items"] if item["id"] == str(queued[0]))
    assert (item["id"], item["state"], item["attempts"], item["last_status"], item["last_error_code"]) == \
        (str(queued[0]), "pending", 1, 500, "http_status")
    assert item["next_attempt_at"] is not None and item["bid_count"] > 0
    assert (await client.get(path, headers=other.headers)).status_code == 404


async def test_webhook_attempts_follow_the_settings(
    database: Database, settings: Settings, demo_board: DemoSite, tmp_path: Path,
) -> None:
    port = _closed_port()
    two = make_settings(settings.database_url, tmp_path, webhook_max_attempts=2, webhook_timeout_seconds=2,
                        crawl_allow_hosts=settings.crawl_allow_hosts, webhook_allow_hosts=[f"127.0.0.1:{port}"])
    user = await _user(database)
    await _alert(database, two, user, webhook_url=f"http://127.0.0.1:{port}/hook")
    queued: list[uuid.UUID] = []
    assert (await _crawl(database, two, user, await _source(database, demo_board), queued.extend)).state == "succeeded"

    first = await webhooks.deliver(two, queued[0])
    assert first.state == "pending" and first.retry_in is not None and first.retry_in >= 5  # 10 s base, half jitter
    async with database.sessionmaker() as session, session.begin():  # skip the wait: the retry is due now
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == queued[0])
                              .values(next_attempt_at=utcnow()))
    second = await webhooks.deliver(two, queued[0])

    assert second.state == "failed"
    delivery = await _delivery(database, queued[0])
    assert (delivery.state, delivery.attempts) == ("failed", 2)


async def test_webhook_to_the_crawled_boards_host_is_refused_while_its_crawls_work(
    client: httpx.AsyncClient, make_user, database: Database, settings: Settings,  # type: ignore[no-untyped-def]
    receiver: Receiver, demo_board: DemoSite,
) -> None:
    # The board is allow-listed for crawls only: a user's webhook must not POST to its control API.
    control = demo_board.url("/_demo/notices?count=5")
    owner = await make_user()
    refused = await client.post("/api/v1/alerts", json={"name": "poke", "webhook_url": control}, headers=owner.headers)
    assert (refused.status_code, refused.json()["code"]) == (400, "url_not_allowed")
    assert "allow-listed for webhooks" in refused.json()["detail"]
    async with database.sessionmaker() as session:
        user = await session.get(User, owner.id)
        assert user is not None
        # As saved under a deployment that still shared the crawl allow-list (written directly: the API refuses it).
        session.add(Alert(user_id=user.id, name="poke", filters={}, webhook_url=control,
                          webhook_secret=webhooks.new_secret(), created_at=utcnow()))
        await session.commit()
    await _alert(database, settings, user, webhook_url=receiver.url("/moved"))
    total = demo_board.board.total
    queued: list[uuid.UUID] = []

    assert (await _crawl(database, settings, user, await _source(database, demo_board), queued.extend)).state \
        == "succeeded"
    receiver.answer(*[(307, {"Location": control})] * len(queued))  # a receiver bouncing each POST to the board
    outcomes = [await webhooks.deliver(settings, delivery_id, policy=FAST) for delivery_id in queued]

    assert [o.state for o in outcomes] == ["failed"] * len(queued)
    async with database.sessionmaker() as session:
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
    assert {(d.url, d.attempts, d.last_error_code) for d in deliveries} == {
        (control, 1, "url_not_allowed"), (receiver.url("/moved"), 1, "url_not_allowed")}
    assert all("allow-listed for webhooks" in (d.last_error or "") for d in deliveries)
    assert {r.path for r in receiver.requests} == {"/moved"}  # reached only through the receiver's redirect
    assert demo_board.board.total == total  # the board's control API was never reached


def test_webhook_allow_list_is_empty_by_default_even_in_local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FOREST_CRAWL_ALLOW_HOSTS", "FOREST_WEBHOOK_ALLOW_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    local = Settings(environment="local", _env_file=None)  # type: ignore[call-arg]
    assert (local.crawl_allow_hosts, local.webhook_allow_hosts) == ([f"127.0.0.1:{local.demo_site_port}"], [])

    monkeypatch.setenv("FOREST_WEBHOOK_ALLOW_HOSTS", "hooks.internal:8443, [::1]:9000")
    assert Settings(_env_file=None).webhook_allow_hosts == ["hooks.internal:8443", "[::1]:9000"]  # type: ignore[call-arg]
