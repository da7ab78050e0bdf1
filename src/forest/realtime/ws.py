"""The `/ws/notifications` WebSocket: authenticated before accept, replay then live, never buffered forever."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocketState

from forest import events
from forest.config import Settings
from forest.database import Database
from forest.errors import Unauthorized
from forest.quotas import SocketLeases
from forest.realtime import wire
from forest.realtime.hub import Hub, Subscription
from forest.realtime.reader import BATCH_LIMIT, EventReader
from forest.security import AccessClaims, verify_access_token
from forest.users import service as users
from forest.users.models import User

log = logging.getLogger(__name__)
router = APIRouter()
SEND_TIMEOUT_SECONDS = 10.0
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
READ_RETRY_SECONDS = 1.0
# What a failed database call looks like from here: unreachable, pool exhausted, timed out.
DATABASE_TROUBLE = (SQLAlchemyError, OSError, TimeoutError)


class Gates:
    """Per-process bounds on the database work of sockets, so they can never take the whole pool.

    Handshakes take at most a quarter of the pool and wait for it at most as long as an HTTP request
    waits for a connection; live sockets read through one `EventReader` (one connection at a time).
    The rest of the pool stays free for HTTP requests, whatever the number of sockets.
    """

    def __init__(self, settings: Settings, db: Database) -> None:
        self.handshake = asyncio.Semaphore(max(1, settings.db_pool_size // 4))
        self.handshake_wait = settings.db_pool_timeout_seconds
        self.reader = EventReader(db)


def gates_of(websocket: WebSocket) -> Gates:
    """This process's gates (created on first use, inside the app's event loop)."""
    state = websocket.app.state
    gates: Gates | None = getattr(state, "ws_gates", None)
    if gates is None:
        gates = state.ws_gates = Gates(state.settings, state.db)
    return gates


class Busy(Exception):
    """The handshake could not get the database in time: the client should retry shortly."""


async def authenticate(websocket: WebSocket, db: Database, settings: Settings, *,
                       want_watermark: bool) -> tuple[int, int] | None:
    """(user id, the user's newest event id) from `?ticket=` (single use) or a Bearer header; None if refused.

    One short session does both, under the handshake gate; `Busy` when the database cannot be had in time.
    """
    ticket = websocket.query_params.get("ticket")
    user_id: int | None = None
    claims: AccessClaims | None = None
    if not ticket:
        scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = verify_access_token(settings, token.strip())
        except Unauthorized:
            return None
        user_id = claims.user_id
    gate = gates_of(websocket)
    try:
        async with asyncio.timeout(gate.handshake_wait):
            await gate.handshake.acquire()
    except TimeoutError as exc:
        raise Busy from exc
    try:
        async with db.sessionmaker() as session:
            if ticket:
                user_id = await users.redeem_ws_ticket(session=session, ticket=ticket)
                if user_id is None:
                    return None
            else:
                user = await session.get(User, user_id)
                # A deleted account, or a token from before a password change or "log out everywhere".
                if user is None or claims is None or user.token_version != claims.version:
                    return None
            assert user_id is not None
            watermark = await events.max_event_id(session, user_id=user_id) if want_watermark else 0
            return user_id, watermark
    except DATABASE_TROUBLE as exc:
        log.warning("WebSocket handshake without a database connection: %s", exc)
        raise Busy from exc
    finally:
        gate.handshake.release()


@router.websocket("/ws/notifications")
async def notifications(websocket: WebSocket) -> None:
    """Push the user's events: `?after=<id>` replays what came after that id, then continues live.

    Close codes: 1008 without valid credentials; 1009 when the client sends a message over
    `FOREST_WS_MAX_MESSAGE_BYTES`; 1013 (try again later) when the server cannot reach the database in time
    for the handshake, the client stopped reading, or the user already has as many sockets open as the quota
    allows (`FOREST_QUOTA_WEBSOCKETS`)."""
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
    try:
        auth = await authenticate(websocket, db, settings, want_watermark=after is None)
    except Busy:
        # Accept, then close: browsers only see a close code once the handshake completed.
        await websocket.accept()
        await _close(websocket, TRY_AGAIN_LATER, "server busy, try again")
        return
    if auth is None:
        await websocket.close(code=POLICY_VIOLATION, reason="authentication required")
        return
    user_id, watermark = auth
    leases: SocketLeases = app.state.ws_leases
    lease = await leases.acquire(user_id, settings.quota_websockets)
    if lease is None:
        await websocket.accept()
        await _close(websocket, TRY_AGAIN_LATER, f"too many open WebSockets for this user (at most "
                                                 f"{settings.quota_websockets}); close one first")
        return
    try:
        await websocket.accept()
        await _serve(websocket, hub, settings, user_id, watermark if after is None else after)
    finally:
        await leases.release(lease)


async def _serve(websocket: WebSocket, hub: Hub, settings: Settings, user_id: int, delivered: int) -> None:
    # The send loop reads once before it waits: an event committed after the watermark but announced
    # before this subscription is not missed.
    sub = hub.subscribe(user_id, delivered=delivered)
    try:
        sender = asyncio.create_task(_send_loop(websocket, gates_of(websocket).reader, sub,
                                                settings.ws_heartbeat_seconds))
        receiver = asyncio.create_task(_drain(websocket, settings.ws_max_message_bytes))
        done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            exc = task.exception()
            if isinstance(exc, TimeoutError):
                log.info("closing a WebSocket that stopped reading (user %s)", user_id)
                await _close(websocket, TRY_AGAIN_LATER, "client too slow")
    finally:
        hub.unsubscribe(sub)


async def _send_loop(websocket: WebSocket, reader: EventReader, sub: Subscription, heartbeat_seconds: float) -> None:
    # Timeouts are deadlines on this task (`asyncio.timeout`), not extra tasks (`wait_for`): a broadcast
    # to every socket costs one wake-up per socket.
    while True:
        sub.wake.clear()
        try:
            # No database connection is held while the socket idles; sockets woken together share a read.
            batch = await reader.read(sub.user_id, sub.delivered)
        except DATABASE_TROUBLE as exc:
            # The events stay in the table: keep the socket and read again shortly.
            log.warning("WebSocket read failed, retrying: %s", exc)
            sub.wake.set()
            await asyncio.sleep(READ_RETRY_SECONDS)
            continue
        for event in batch:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await websocket.send_text(event.text)  # serialised once by the reader, for every socket
            sub.delivered = event.id
        if len(batch) == BATCH_LIMIT or sub.wake.is_set():
            continue
        try:
            async with asyncio.timeout(heartbeat_seconds):
                await sub.wake.wait()
        except TimeoutError:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await websocket.send_json(wire.heartbeat())


async def _drain(websocket: WebSocket, max_bytes: int) -> None:
    # Clients may send small messages (pings); reading is how a disconnect is noticed. A message over
    # `max_bytes` closes the socket with 1009: nothing a client sends here needs to be large.
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            size = len(data) if data is not None else len(text.encode()) if text is not None else 0
            if size > max_bytes:
                log.info("closing a WebSocket that sent a %d-byte message (limit %d)", size, max_bytes)
                await _close(websocket, MESSAGE_TOO_BIG, "message too big")
                return


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason)
