"""Crawl jobs end to end: real API processes, a real Celery worker, Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from forest.crawls import lifecycle
from forest.crawls.runner import reap
from forest.crawls.schemas import CrawlCreate
from forest.database import Database
from forest.events import Publisher
from forest.users.models import User
from tests.conftest import make_settings
from tests.plugin import Stack, register, wait_for_job


def ws_url(base: str, headers: dict[str, str], after: int | None = None) -> str:
    ticket = httpx.post(f"{base}/api/v1/auth/ws-ticket", headers=headers, timeout=10).json()["ticket"]
    url = base.replace("http://", "ws://") + f"/ws/notifications?ticket={ticket}"
    return url + (f"&after={after}" if after is not None else "")


def read_until(ws: ClientConnection, done: callable, timeout: float = 60) -> list[dict]:  # type: ignore[valid-type,type-arg]
    """Collect non-heartbeat messages until `done(messages)` or the timeout."""
    out: list[dict] = []  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        if msg["type"] != "heartbeat":
            out.append(msg)
            if done(out):
                return out
    raise AssertionError(f"timed out; got {[m['type'] for m in out]}")


def job_finished(job_id: str):  # type: ignore[no-untyped-def]
    return lambda msgs: any(m["job_id"] == job_id and m["type"] in ("job.succeeded", "job.failed", "job.cancelled")
                            for m in msgs)


def test_job_progress_reaches_a_socket_on_another_api_process(pg_stack: Stack) -> None:
    a, b = pg_stack.apis
    headers = register(a)
    source_id = pg_stack.add_source()
    with connect(ws_url(b, headers)) as ws:
        r = httpx.post(f"{a}/api/v1/crawls", json={"source_id": source_id}, headers=headers, timeout=10)
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/api/v1/crawls/{job['id']}"
        assert job["state"] == "queued" and job["progress"]["pages_done"] == 0
        msgs = read_until(ws, job_finished(job["id"]))
    mine = [m for m in msgs if m["job_id"] == job["id"]]
    types = [m["type"] for m in mine]
    assert types[0] == "job.queued" and types[1] == "job.started" and types[-1] == "job.succeeded"
    assert "job.progress" in types
    seqs = [m["data"]["seq"] for m in mine]
    assert seqs == list(range(1, len(seqs) + 1))
    final = mine[-1]["data"]["progress"]
    board_total = pg_stack.demo.board.total + len(pg_stack.demo.board.pinned)
    assert final["items_new"] == board_total and final["errors"] == 0
    r = httpx.get(f"{a}/api/v1/bids", params={"source_id": source_id, "count": "exact", "limit": 5}, headers=headers)
    assert r.json()["count"]["value"] == board_total
    # The worker's log has the task, not a line per page fetched (httpx's INFO record of every request).
    log = (pg_stack.var_dir / "worker-1.log").read_text()
    assert "Task forest.crawl[" in log and "HTTP Request:" not in log, log[-2000:]


def test_reconnect_with_after_misses_nothing(pg_stack: Stack) -> None:
    a, b = pg_stack.apis
    headers = register(a)
    source_id = pg_stack.add_source(delay=0.05)
    first = connect(ws_url(a, headers))
    job = httpx.post(f"{a}/api/v1/crawls", json={"source_id": source_id}, headers=headers).json()
    got = read_until(first, lambda msgs: sum(m["type"] == "job.progress" for m in msgs) >= 2)
    first.close()  # drop mid-crawl
    # Reconnect only once an event was written while no socket was open: the replay must fill a real gap.
    deadline = time.monotonic() + 30
    while not httpx.get(f"{a}/api/v1/crawls/{job['id']}/events", params={"after": got[-1]["id"]},
                        headers=headers).json()["items"]:
        assert time.monotonic() < deadline, "no event after the disconnect"
        time.sleep(0.05)
    with connect(ws_url(b, headers, after=got[-1]["id"])) as second:
        rest = read_until(second, job_finished(job["id"]))
    seqs = [m["data"]["seq"] for m in got + rest if m["job_id"] == job["id"]]
    assert sorted(set(seqs)) == list(range(1, max(seqs) + 1)), seqs
    assert (got + rest)[-1]["type"] == "job.succeeded"


def test_killed_worker_job_still_succeeds_without_duplicates(pg_stack: Stack) -> None:
    a, _ = pg_stack.apis
    headers = register(a)
    source_id = pg_stack.add_source(delay=0.05)
    job = httpx.post(f"{a}/api/v1/crawls", json={"source_id": source_id}, headers=headers).json()
    deadline = time.monotonic() + 30
    while httpx.get(f"{a}/api/v1/crawls/{job['id']}", headers=headers).json()["progress"]["pages_done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    pg_stack.kill("worker-1")  # SIGKILL mid-crawl: no clean-up, the message stays unacknowledged
    pg_stack.start_worker("worker-2")
    done = wait_for_job(a, headers, job["id"], {"succeeded", "failed", "cancelled"}, timeout=90)
    assert done["state"] == "succeeded", done
    assert done["attempt"] == 2
    board_total = pg_stack.demo.board.total + len(pg_stack.demo.board.pinned)
    r = httpx.get(f"{a}/api/v1/bids", params={"source_id": source_id, "count": "exact", "limit": 100}, headers=headers)
    assert r.json()["count"]["value"] == board_total
    ids = set()
    cursor = None
    while True:
        params = {"source_id": source_id, "limit": 100, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{a}/api/v1/bids", params=params, headers=headers).json()
        ids |= {(b["external_id"]) for b in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(ids) == board_total


def test_cancel_ends_running_job_quickly(pg_stack: Stack) -> None:
    a, _ = pg_stack.apis
    headers = register(a)
    source_id = pg_stack.add_source(delay=0.5)
    job = httpx.post(f"{a}/api/v1/crawls", json={"source_id": source_id}, headers=headers).json()
    wait_for_job(a, headers, job["id"], {"running"}, timeout=60)
    r = httpx.post(f"{a}/api/v1/crawls/{job['id']}/cancel", headers=headers)
    assert r.status_code == 202
    start = time.monotonic()
    done = wait_for_job(a, headers, job["id"], {"cancelled", "succeeded", "failed"}, timeout=10)
    assert done["state"] == "cancelled" and time.monotonic() - start < 5
    retried = httpx.post(f"{a}/api/v1/crawls/{job['id']}/retry", headers=headers)
    assert retried.status_code == 202 and retried.json()["retry_of"] == job["id"]
    httpx.post(f"{a}/api/v1/crawls/{retried.json()['id']}/cancel", headers=headers)


def test_concurrent_idempotent_posts_make_one_job(pg_stack: Stack) -> None:
    a, b = pg_stack.apis
    headers = register(a)
    source_id = pg_stack.add_source(delay=0.2)
    key = {"Idempotency-Key": "same-key-1"}

    def post(i: int) -> httpx.Response:
        return httpx.post(f"{(a, b)[i % 2]}/api/v1/crawls", json={"source_id": source_id}, headers={**headers, **key},
                          timeout=20)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert {r.status_code for r in responses} == {202}, [r.text for r in responses if r.status_code != 202]
    assert len({r.json()["id"] for r in responses}) == 1
    other = httpx.post(f"{a}/api/v1/crawls", json={"source_id": source_id, "max_pages": 3}, headers={**headers, **key})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    listed = httpx.get(f"{a}/api/v1/crawls", params={"source_id": source_id}, headers=headers).json()
    assert len(listed["items"]) == 1
    httpx.post(f"{a}/api/v1/crawls/{responses[0].json()['id']}/cancel", headers=headers)


def test_other_users_job_is_invisible(pg_stack: Stack) -> None:
    a, b = pg_stack.apis
    owner, stranger = register(a), register(a)
    source_id = pg_stack.add_source()
    with connect(ws_url(b, stranger)) as spy:
        job = httpx.post(f"{a}/api/v1/crawls", json={"source_id": source_id}, headers=owner).json()
        jid = job["id"]
        for method, path in [("GET", f"/crawls/{jid}"), ("GET", f"/crawls/{jid}/events"),
                             ("POST", f"/crawls/{jid}/cancel"), ("POST", f"/crawls/{jid}/retry")]:
            r = httpx.request(method, f"{a}/api/v1{path}", headers=stranger)
            assert r.status_code == 404 and r.json()["code"] == "not_found", (path, r.text)
        assert httpx.get(f"{a}/crawl-status/{jid}", headers=stranger).status_code == 404
        assert all(j["id"] != jid for j in httpx.get(f"{a}/api/v1/crawls", headers=stranger).json()["items"])
        wait_for_job(a, owner, jid, {"succeeded"})
        with pytest.raises(TimeoutError):
            while True:  # only heartbeats may arrive
                msg = json.loads(spy.recv(timeout=1.5))
                assert msg["type"] == "heartbeat", msg
    status = httpx.get(f"{a}/crawl-status/{jid}", headers=owner).json()
    assert status["state"] == "SUCCESS"
    events = httpx.get(f"{a}/api/v1/crawls/{jid}/events", params={"limit": 100}, headers=owner).json()["items"]
    assert events[0]["type"] == "job.queued" and events[-1]["type"] == "job.succeeded"
    tail = httpx.get(f"{a}/api/v1/crawls/{jid}/events", params={"after": events[-2]["id"]}, headers=owner).json()
    assert [e["id"] for e in tail["items"]] == [events[-1]["id"]]


@pytest.mark.parametrize("how", ["none", "garbage", "reused", "bad-bearer"])
def test_websocket_handshake_without_valid_credentials_is_1008(pg_stack: Stack, how: str) -> None:
    a, _ = pg_stack.apis
    headers = register(a)
    base = a.replace("http://", "ws://") + "/ws/notifications"
    kwargs: dict = {}  # type: ignore[type-arg]
    if how == "none":
        url = base
    elif how == "garbage":
        url = base + "?ticket=not-a-ticket"
    elif how == "reused":
        url = ws_url(a, headers)
        with connect(url):
            pass
    else:
        url = base
        kwargs["additional_headers"] = {"Authorization": "Bearer not.a.jwt"}
    with pytest.raises(Exception) as info:
        with connect(url, **kwargs) as ws:
            ws.recv(timeout=5)
    exc = info.value
    code = exc.rcvd.code if isinstance(exc, ConnectionClosed) and exc.rcvd else getattr(
        getattr(exc, "response", None), "status_code", None)
    assert code in (1008, 403), repr(exc)


def test_bearer_header_handshake_works(pg_stack: Stack) -> None:
    a, _ = pg_stack.apis
    headers = register(a)
    url = a.replace("http://", "ws://") + "/ws/notifications"
    with connect(url, additional_headers=headers) as ws:  # the client offers permessage-deflate
        msg = json.loads(ws.recv(timeout=5))
        assert ws.response is not None
        # declined (FOREST_WS_COMPRESSION is off by default): no zlib context per socket on the server
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
    assert msg["type"] == "heartbeat"


def test_alert_receives_exactly_the_new_matching_bids(pg_stack: Stack) -> None:
    a, b = pg_stack.apis
    headers = register(a)
    board = pg_stack.demo.board
    department = board.notices[0].department
    alert = httpx.post(f"{a}/api/v1/alerts", json={"name": "my department", "filters": {"department": [department]}},
                       headers=headers)
    assert alert.status_code == 201, alert.text
    expected = {str(n.ntt_id) for n in [*board.notices, *board.pinned] if n.department == department}
    source_id = pg_stack.add_source()
    with connect(ws_url(b, headers)) as ws:
        job = httpx.post(f"{a}/api/v1/crawls", json={"source_id": source_id}, headers=headers).json()
        # A page's bid.new events commit with its bids, so they all come before the job's final event.
        msgs = read_until(ws, job_finished(job["id"]))
    hits = [m for m in msgs if m["type"] == "bid.new"]
    assert all(m["alert_id"] == alert.json()["id"] and m["data"]["bid"]["department"] == department for m in hits)
    got = {m["data"]["bid"]["url"].split("nttId=")[1].split("&")[0] for m in hits}
    assert got == expected


def submit_with_lost_enqueue(stack: Stack, user_id: int, source_id: int) -> str:
    """Accept a job as the API does, but lose its Celery message (an API killed right after the commit)."""
    class Lost:  # accepts every send and delivers none
        async def send(self, job_id: uuid.UUID, task_id: str) -> None:
            return None

        async def revoke(self, task_id: str) -> None:
            return None

    async def run() -> str:
        settings = make_settings(stack.database_url, stack.var_dir)
        db = Database.from_settings(settings)
        try:
            async with db.sessionmaker() as session:
                user = await session.get(User, user_id)
                assert user is not None
                job = await lifecycle.submit(session=session, settings=settings, user=user,
                                             job_in=CrawlCreate(source_id=source_id), idempotency_key=None,
                                             queue=Lost(), announcer=Publisher(None))
                return str(job.id)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_job_whose_enqueue_was_lost_is_sent_again_and_runs_once(pg_stack: Stack) -> None:
    a, _ = pg_stack.apis
    headers = register(a)
    user_id = httpx.get(f"{a}/api/v1/users/me", headers=headers).json()["id"]
    source_id = pg_stack.add_source()
    job_id = submit_with_lost_enqueue(pg_stack, user_id, source_id)
    # The stack's reaper runs every 2 s and re-sends jobs queued for 5 s with no delivery started.
    done = wait_for_job(a, headers, job_id, {"succeeded", "failed", "cancelled"}, timeout=60)
    assert done["state"] == "succeeded" and done["attempt"] == 1, done
    # A pass of the reaper now, with the stack's timeouts: the finished job is not lost any more, so not re-sent.
    sent: list[uuid.UUID] = []

    class Recorder:
        async def send(self, job_id: uuid.UUID, task_id: str) -> None:
            sent.append(job_id)

        async def revoke(self, task_id: str) -> None:
            return None

    settings = make_settings(pg_stack.database_url, pg_stack.var_dir, job_queued_timeout_seconds=5,
                             job_heartbeat_timeout_seconds=6)
    resent = asyncio.run(reap(settings, Recorder()))
    assert uuid.UUID(job_id) not in resent and uuid.UUID(job_id) not in sent
    events = httpx.get(f"{a}/api/v1/crawls/{job_id}/events", params={"limit": 100}, headers=headers).json()["items"]
    types = [e["type"] for e in events]
    assert types[0] == "job.queued" and types.count("job.started") == 1 and types[-1] == "job.succeeded"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    board_total = pg_stack.demo.board.total + len(pg_stack.demo.board.pinned)
    r = httpx.get(f"{a}/api/v1/bids", params={"source_id": source_id, "count": "exact", "limit": 5}, headers=headers)
    assert r.json()["count"]["value"] == board_total


def test_board_answering_a_non_text_charset_fails_its_job_once_on_the_worker(pg_stack: Stack) -> None:
    a, _ = pg_stack.apis
    headers = register(a)
    source_id = pg_stack.add_source()
    assert pg_stack.demo is not None
    pg_stack.demo.board.set_fault("bad_charset", charset="base64", path_prefix="/kfs/bid/list.do")
    try:
        job = httpx.post(f"{a}/api/v1/crawls", json={"source_id": source_id}, headers=headers).json()
        done = wait_for_job(a, headers, job["id"], {"succeeded", "failed", "cancelled"}, timeout=60)
    finally:
        pg_stack.demo.board.clear_fault("bad_charset")
    assert (done["state"], done["attempt"]) == ("failed", 1), done
    assert "the Content-Type charset 'base64' is not a text encoding" in done["error"]
    events = httpx.get(f"{a}/api/v1/crawls/{job['id']}/events", headers=headers).json()["items"]
    assert [e["type"] for e in events].count("job.started") == 1
    assert events[-1]["type"] == "job.failed" and events[-1]["data"]["error"] == done["error"]
