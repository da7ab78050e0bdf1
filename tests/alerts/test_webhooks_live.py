"""Webhooks end to end: an API process, a Celery worker with beat, the demo board and a receiver."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from forest.demo_site.testing import running_demo_site
from tests.alerts.conftest import Received, Receiver, running_receiver, verify_signature
from tests.conftest import REDIS_URL, SECRET
from tests.plugin import Stack, database_name, fresh_pg_database, register, wait_for_job

# Its own database and Redis database, so it can run beside the tests/crawls stack.
DB_NAME = database_name("webhooks_live")
LIVE_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/11"


@pytest.fixture(scope="module")
def stack_with_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Receiver]]:
    """PostgreSQL + Redis, one API process, a crawl worker with beat, a webhook worker, the demo board, a receiver."""
    url = fresh_pg_database(DB_NAME)
    var_dir: Path = tmp_path_factory.mktemp("webhook-stack")
    redis.Redis.from_url(LIVE_REDIS_URL).flushdb()
    with running_demo_site(notices=60, seed=5) as demo, running_receiver() as receiver:
        env = {**os.environ, "FOREST_DATABASE_URL": url, "FOREST_BROKER_URL": LIVE_REDIS_URL,
               "FOREST_REDIS_URL": LIVE_REDIS_URL, "FOREST_SECRET_KEY": SECRET, "FOREST_VAR_DIR": str(var_dir),
               "FOREST_CRAWL_ALLOW_HOSTS": demo.base_url.removeprefix("http://"),
               "FOREST_WEBHOOK_ALLOW_HOSTS": receiver.host_port, "PYTHONUNBUFFERED": "1"}
        stack = Stack(env=env, database_url=url, demo=demo, var_dir=var_dir)
        try:
            # The production split: crawls on one worker, webhook deliveries on a dedicated one.
            stack.spawn("worker-1", "worker", "--concurrency", "1", "--beat", "--queues", "forest",
                        "--hostname", "crawls@%h")
            stack.spawn("webhooks", "worker", "--concurrency", "1", "--queues", "forest.webhooks",
                        "--hostname", "webhooks@%h")
            stack.start_api("api-a")
            yield stack, receiver
        finally:
            stack.stop_all()


def _external_ids(requests: list[Received]) -> set[str]:
    bodies = [json.loads(r.body) for r in requests]
    return {e["bid"]["url"].split("nttId=")[1].split("&")[0] for b in bodies for e in b["events"]}


def test_worker_posts_the_new_matching_bids_and_retries_a_500(stack_with_receiver: tuple[Stack, Receiver]) -> None:
    stack, receiver = stack_with_receiver
    (api,) = stack.apis
    headers = register(api)
    board = stack.demo.board
    department = board.notices[0].department
    r = httpx.post(f"{api}/api/v1/alerts", headers=headers, json={
        "name": "mine", "filters": {"department": [department]}, "webhook_url": receiver.url()})
    assert r.status_code == 201, r.text
    alert = r.json()
    expected = {str(n.ntt_id) for n in [*board.notices, *board.pinned] if n.department == department}
    receiver.answer(500)  # the first POST fails: the worker queues the retry with its backoff

    job = httpx.post(f"{api}/api/v1/crawls", json={"source_id": stack.add_source()}, headers=headers).json()
    assert wait_for_job(api, headers, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
    received = receiver.wait_until(lambda reqs: _external_ids(reqs[1:]) >= expected, timeout=90)

    assert _external_ids(received) == expected
    assert received[0].headers["forest-delivery"] in {r.headers["forest-delivery"] for r in received[1:]}
    assert all(verify_signature(alert["webhook_secret"], r.headers["forest-signature"], r.body) for r in received)
    deadline = time.monotonic() + 10
    while True:  # the worker records the outcome just after the receiver answered
        deliveries = httpx.get(f"{api}/api/v1/alerts/{alert['id']}/deliveries", headers=headers,
                               params={"limit": 100}).json()["items"]
        if {d["state"] for d in deliveries} == {"succeeded"} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {d["state"] for d in deliveries} == {"succeeded"}
    assert sorted(d["attempts"] for d in deliveries) == [1] * (len(deliveries) - 1) + [2]
    # Deliveries went through their own queue: the webhook worker ran them, the crawl worker never did.
    logs = {name: (stack.var_dir / f"{name}.log").read_text() for name in ("worker-1", "webhooks")}
    assert "forest.webhook[" in logs["webhooks"] and "forest.crawl[" not in logs["webhooks"]
    assert "forest.webhook[" not in logs["worker-1"]
