"""Every table, imported in one place so Alembic and the mappers see the whole schema."""

from __future__ import annotations

from forest.alerts.models import Alert, AlertRoute, WebhookDelivery
from forest.bids.models import Bid, BidDetail
from forest.crawls.models import CrawlJob, IdempotencyKey
from forest.database import Base
from forest.events.models import Event
from forest.feeds.models import AlertFeed
from forest.sources.models import Source
from forest.users.models import User, WsTicket

__all__ = ["Alert", "AlertFeed", "AlertRoute", "Base", "Bid", "BidDetail", "CrawlJob", "Event", "IdempotencyKey",
           "Source", "User", "WebhookDelivery", "WsTicket"]
