"""WebSocket handshakes under database trouble: close codes, never a 500 or an ASGI RuntimeError."""

from __future__ import annotations

import asyncio
import collections

import pytest
import websockets
from fastapi import FastAPI, WebSocket
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from forest.errors import Unauthorized, install_error_handlers
from forest.security import create_access_token
from tests.conftest import make_settings
from tests.plugin import Stack, register, user_id_of, ws_close_code


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.websocket("/before-accept")
    async def before_accept(_ws: WebSocket) -> None:
        raise PoolTimeoutError("QueuePool limit reached")

    @app.websocket("/after-accept")
    async def after_accept(ws: WebSocket) -> None:
        await ws.accept()
        raise PoolTimeoutError("QueuePool limit reached")

    @app.websocket("/unauthorized")
    async def unauthorized(_ws: WebSocket) -> None:
        raise Unauthorized("no")

    return app


@pytest.mark.parametrize(("path", "code"), [("/before-accept", 1013), ("/after-accept", 1013), ("/unauthorized", 1008)])
def test_error_handlers_close_a_websocket_instead_of_answering_http(path: str, code: int) -> None:
    with TestClient(_app()) as client, pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect(path) as ws:
            ws.receive_text()
    assert info.value.code == code


def test_handshake_storm_on_a_tiny_pool_gets_1013_not_errors(pg_stack: Stack) -> None:
    base = pg_stack.start_api("api-tiny-pool", extra_env={"FOREST_DB_POOL_SIZE": "1",
                                                          "FOREST_DB_POOL_TIMEOUT_SECONDS": "0.2"})
    pg_stack.apis.remove(base)
    try:
        headers = register(base)
        settings = make_settings(pg_stack.database_url, pg_stack.var_dir)
        token, _ = create_access_token(settings, user_id_of(base, headers))
        url = base.replace("http://", "ws://") + "/ws/notifications"

        async def handshake() -> str:
            try:
                async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                              open_timeout=30, ping_interval=None) as ws:
                    await asyncio.wait_for(ws.recv(), 10)
                    return "open"
            except websockets.exceptions.ConnectionClosed as exc:
                return f"closed {exc.rcvd.code if exc.rcvd else None}"
            except websockets.exceptions.InvalidStatus as exc:
                return f"http {exc.response.status_code}"

        async def storm() -> collections.Counter[str]:
            return collections.Counter(await asyncio.gather(*(handshake() for _ in range(300))))

        outcomes = asyncio.run(storm())
        assert set(outcomes) <= {"open", "closed 1013"}, outcomes
        assert outcomes["open"] > 0 and outcomes["closed 1013"] > 0, outcomes
        # The API still answers HTTP, and nothing blew up in an error handler.
        assert ws_close_code(url, {"Authorization": f"Bearer {token}"}) is None
        log = (pg_stack.var_dir / "api-tiny-pool.log").read_text()
        assert "RuntimeError" not in log and "Traceback" not in log, log[-3000:]
    finally:
        pg_stack.kill("api-tiny-pool")


def test_expired_ticket_is_1008(pg_stack: Stack) -> None:
    a, _ = pg_stack.apis
    ticket = pg_stack.expired_ticket(user_id_of(a, register(a)))
    assert ws_close_code(a.replace("http://", "ws://") + f"/ws/notifications?ticket={ticket}") in (1008, 403)
