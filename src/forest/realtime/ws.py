"""The `/ws/notifications` WebSocket: authenticated before accept, replay then live, never buffered forever."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from forest.config import Settings
from forest.database import Database
from forest.errors import Unauthorized
from forest.realtime import events
from forest.realtime.hub import Hub, Subscription
from forest.security import decode_access_token
from forest.users import service as users
from forest.users.models import User

log = logging.getLogger(__name__)
router = APIRouter()
SEND_TIMEOUT_SECONDS = 10.0
POLICY_VIOLATION = 1008


async def authenticate(websocket: WebSocket, db: Database, settings: Settings) -> int | None:
    """The user id from `?ticket=` (single use) or an `Authorization: Bearer` header, else None."""
    ticket = websocket.query_params.get("ticket")
    async with db.sessionmaker() as session:
        if ticket:
            return await users.redeem_ws_ticket(session=session, ticket=ticket)
        scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            user_id = decode_access_token(settings, token.strip())
        except Unauthorized:
            return None
        return user_id if await session.get(User, user_id) is not None else None


@router.websocket("/ws/notifications")
async def notifications(websocket: WebSocket) -> None:
    """Push the user's events: `?after=<id>` replays what came after that id, then continues live."""
    app = websocket.app
    db: Database = app.state.db
    settings: Settings = app.state.settings
    hub: Hub = app.state.hub
    raw_after = websocket.query_params.get("after")
    after: int | None = None
    if raw_after is not None:
        if not raw_after.isdigit() or len(raw_after) > 18:
            await websocket.close(code=POLICY_VIOLATION, reason="after must be an event id")
            return
        after = int(raw_after)
    user_id = await authenticate(websocket, db, settings)
    if user_id is None:
        await websocket.close(code=POLICY_VIOLATION, reason="authentication required")
        return
    await websocket.accept()
    sub = hub.subscribe(user_id)
    try:
        if after is None:
            after = await _latest_for(db, user_id)
        sender = asyncio.create_task(_send_loop(websocket, db, sub, after, settings.ws_heartbeat_seconds))
        receiver = asyncio.create_task(_drain(websocket))
        done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            exc = task.exception()
            if isinstance(exc, TimeoutError):
                log.info("closing a WebSocket that stopped reading (user %s)", user_id)
                await _close(websocket, 1013, "client too slow")
    finally:
        hub.unsubscribe(sub)


async def _latest_for(db: Database, user_id: int) -> int:
    async with db.sessionmaker() as session:
        return await events.max_event_id(session, user_id=user_id)


async def _send_loop(
    websocket: WebSocket, db: Database, sub: Subscription, after: int, heartbeat_seconds: float
) -> None:
    while True:
        sub.wake.clear()
        # A short session per batch: no database connection is held while the socket idles.
        async with db.sessionmaker() as session:
            batch = await events.events_after(session, user_id=sub.user_id, after=after, limit=200)
        for event in batch:
            await asyncio.wait_for(websocket.send_json(events.serialise(event)), SEND_TIMEOUT_SECONDS)
            after = event.id
        if len(batch) == 200:
            continue
        try:
            await asyncio.wait_for(sub.wake.wait(), heartbeat_seconds)
        except TimeoutError:
            await asyncio.wait_for(websocket.send_json(events.heartbeat()), SEND_TIMEOUT_SECONDS)


async def _drain(websocket: WebSocket) -> None:
    # Clients may send anything (pings); reading is how a disconnect is noticed.
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason)
