"""The schedule's lean Redis connection: scripts, pipelining, a caller giving up, a dead or silent server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from forest.crawler import resp
from tests.conftest import REDIS_URL


@pytest.fixture
async def link() -> AsyncIterator[resp.Link]:
    """A connection to the tests' Redis database, closed afterwards."""
    made = resp.Link(REDIS_URL)
    try:
        yield made
    finally:
        made.close()


async def test_a_script_new_to_redis_runs_and_is_then_called_by_its_sha(link: resp.Link) -> None:
    source = f"-- {uuid.uuid4().hex}\nreturn ARGV[1] .. KEYS[1]"
    assert await link.script(source, resp.sha1(source), ["k"], ["v"]) == b"vk"
    assert await link.call("EVALSHA", resp.sha1(source), 1, "x", "y") == b"yx"


async def test_concurrent_calls_get_their_own_replies_even_when_one_caller_gives_up(link: resp.Link) -> None:
    key = f"forest:test:resp:{uuid.uuid4().hex}"
    replies = await asyncio.gather(*(link.call("ECHO", f"m{i}") for i in range(50)))
    assert replies == [f"m{i}".encode() for i in range(50)]
    slow = asyncio.create_task(link.call("BLPOP", key, "0.2"))
    while not link.pending:  # the BLPOP is on the wire
        await asyncio.sleep(0)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert await link.call("ECHO", "after") == b"after"  # the abandoned BLPOP's reply was skipped
    with pytest.raises(ResponseError):
        await link.call("NOSUCHCOMMAND")
    assert await link.call("ECHO", "still") == b"still"


async def test_the_database_of_the_url_is_selected(link: resp.Link) -> None:
    key = f"forest:test:resp:{uuid.uuid4().hex}"
    await link.call("SET", key, "1", "EX", "10")
    import redis

    assert redis.Redis.from_url(REDIS_URL).get(key) == b"1"


async def test_a_silent_server_times_out_and_a_closed_one_fails_then_the_link_reconnects() -> None:
    answers: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1000)
        if answers:
            writer.write(answers.pop(0))
            await writer.drain()
            await reader.read(1000)  # keep the connection until the client goes
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = resp.Link(f"redis://127.0.0.1:{port}/0", reply_timeout=0.3)
    try:
        with pytest.raises(RedisConnectionError):  # the server closes without answering
            await link.call("PING")
        answers.append(b"+PONG\r\n")
        assert await link.call("PING") == b"PONG"  # a new connection
    finally:
        link.close()
        server.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = resp.Link(f"redis://127.0.0.1:{port}/0", reply_timeout=0.3)
    try:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(link.call("PING"), 3)
    finally:
        link.close()
        server.close()


def test_urls_it_does_not_serve_are_left_to_redis_py() -> None:
    assert resp.supported("redis://127.0.0.1:6379/3")
    assert resp.supported("redis://user:pw@host:6379/0")
    assert not resp.supported("rediss://host:6380/0")
    assert not resp.supported("redis://host:6379/0?socket_timeout=3")


async def test_no_server_is_a_redis_connection_error_and_the_next_call_tries_again() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = resp.Link(f"redis://127.0.0.1:{port}/0")
    for _ in range(2):
        with pytest.raises(RedisConnectionError):
            await link.call("PING")
    assert not link.pending
