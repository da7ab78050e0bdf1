"""Client messages on /ws/notifications are capped at FOREST_WS_MAX_MESSAGE_BYTES (close 1009), on a real server."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from forest.cli.main import server_options
from forest.config import Settings
from forest.database import Database
from forest.security import create_access_token
from forest.users import service as users
from tests.conftest import serving

MESSAGE_TOO_BIG = 1009


def bearer(settings: Settings) -> dict[str, str]:
    """Auth headers of a fresh user."""
    async def create() -> int:
        db = Database.from_settings(settings)
        try:
            async with db.sessionmaker() as session:
                return (await users.create(session=session, email="ws@example.com", password="ws-password-1")).id
        finally:
            await db.dispose()

    token, _ = create_access_token(settings, asyncio.run(create()))
    return {"Authorization": f"Bearer {token}"}


def close_code_after(url: str, headers: dict[str, str], size: int) -> int | None:
    """Send a small message, then one of `size` bytes: the close code the server answers with."""
    with connect(f"{url}/ws/notifications", additional_headers=headers, open_timeout=10,
                 max_size=None) as ws:
        ws.send("ping")
        ws.send("x" * size)
        try:
            while True:
                ws.recv(timeout=5)  # heartbeats and events until the server closes
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        except TimeoutError:
            return None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_forest_api_server_refuses_oversized_client_messages(settings: Settings) -> None:
    headers = bearer(settings)
    with serving(settings, server_options(settings)) as base:
        url = base.replace("http://", "ws://")
        assert close_code_after(url, headers, 16 * 1024) == MESSAGE_TOO_BIG


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_route_refuses_oversized_messages_under_uvicorn_defaults(settings: Settings) -> None:
    headers = bearer(settings)
    with serving(settings, {}) as base:  # uvicorn's own cap is 16 MiB: the route's check must hold
        url = base.replace("http://", "ws://")
        assert close_code_after(url, headers, settings.ws_max_message_bytes + 1) == MESSAGE_TOO_BIG
        assert close_code_after(url, headers, settings.ws_max_message_bytes) is None
