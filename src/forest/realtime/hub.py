"""Per-process fan-out: wakes the WebSockets of a user when that user has new events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

from forest import events
from forest.database import Database
from forest.realtime import gc_tuning

log = logging.getLogger(__name__)
# How far back (in event ids) each table check looks for events that committed late.
POLL_LOOKBACK_IDS = 5_000


@dataclass(eq=False)
class Subscription:
    """One socket's wake-up flag, and the id of the last event it sent (or its starting point)."""

    user_id: int
    delivered: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    """Listens for event announcements (Redis pub/sub, or by polling the table) and wakes sockets."""

    def __init__(self, db: Database, *, redis_url: str | None, poll_interval: float, catch_up_interval: float = 5.0):
        self._db = db
        self._redis_url = redis_url
        self._poll_interval = poll_interval
        self._catch_up_interval = catch_up_interval
        self._subs: dict[int, set[Subscription]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def subscribe(self, user_id: int, *, delivered: int = 0) -> Subscription:
        """Register a socket of this user that has sent (or skips) the user's events up to `delivered`."""
        sub = Subscription(user_id, delivered)
        self._subs.setdefault(user_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a socket."""
        subs = self._subs.get(sub.user_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                self._subs.pop(sub.user_id, None)

    @property
    def connections(self) -> int:
        """How many sockets are subscribed in this process."""
        return sum(len(s) for s in self._subs.values())

    def wake_user(self, user_id: int, newest: int | None = None) -> None:
        """Wake every socket of one user (with `newest`, only those that have not sent that event yet)."""
        for sub in self._subs.get(user_id, ()):
            if newest is None or sub.delivered < newest:
                sub.wake.set()

    def wake_all(self) -> None:
        """Wake every socket (after a possible loss of announcements)."""
        for subs in self._subs.values():
            for sub in subs:
                sub.wake.set()

    async def start(self) -> None:
        """Start listening: Redis pub/sub with a slow table check behind it, or table polling alone."""
        gc_tuning.settle()  # the app has started: keep full collections off the sockets' latency
        if self._redis_url:
            # Pub/sub is at most once (a failed publish is never retried): the table check catches up.
            self._tasks = [asyncio.create_task(self._listen_redis()),
                           asyncio.create_task(self._poll_table(self._catch_up_interval))]
        else:
            self._tasks = [asyncio.create_task(self._poll_table(self._poll_interval))]

    async def stop(self) -> None:
        """Stop listening."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _poll_table(self, interval: float) -> None:
        # Wakes only the users whose newest event changed since the last look. Ids are not committed in
        # global order (only per user), so each look re-reads a window of recent ids: an event that
        # commits after a higher id of another user is still seen.
        seen: dict[int, int] | None = None
        top = 0
        while True:
            try:
                async with self._db.sessionmaker() as session:
                    if seen is None:
                        top = await events.max_event_id(session)
                    newest = await events.newest_event_per_user(session, after=max(0, top - POLL_LOOKBACK_IDS))
                if seen is not None:
                    for user_id, newest_id in newest.items():
                        if newest_id > seen.get(user_id, 0):
                            # A socket that already sent the event (announced) is left alone.
                            self.wake_user(user_id, newest_id)
                seen = newest
                top = max([top, *newest.values()])
            except Exception as exc:  # database blips must not kill the listener
                log.warning("event poll failed: %s", exc)
            await asyncio.sleep(interval)

    async def _listen_redis(self) -> None:
        import redis.asyncio as aioredis

        backoff = 0.5
        while True:
            client = aioredis.Redis.from_url(self._redis_url or "", socket_connect_timeout=3)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(events.EVENT_CHANNEL)
                    self.wake_all()  # anything published while we were not listening
                    backoff = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            announced = json.loads(message["data"])
                            # `user_ids` per batch; `user_id` is what processes of older releases send.
                            user_ids = announced["user_ids"] if "user_ids" in announced else [announced["user_id"]]
                            for user_id in user_ids:
                                self.wake_user(int(user_id))
                        except (ValueError, KeyError, TypeError):
                            continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect with backoff; sockets keep polling meanwhile
                log.warning("event subscription lost: %s", exc)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)
