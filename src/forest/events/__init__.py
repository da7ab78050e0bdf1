"""Durable user events: staged in the writer's transaction, announced to API processes after it commits.

Announcements (Redis pub/sub, or polling in the embedded mode) only wake readers up; the database stays the
source of truth, which is what makes `?after=` replay gap-free.
"""

from forest.events.models import Event
from forest.events.publisher import EVENT_CHANNEL, Announcer, Held, Publisher
from forest.events.service import commit, events_after, lock_users, max_event_id, newest_event_per_user, stage, unit

__all__ = ["EVENT_CHANNEL", "Announcer", "Event", "Held", "Publisher", "commit", "events_after", "lock_users",
           "max_event_id", "newest_event_per_user", "stage", "unit"]
