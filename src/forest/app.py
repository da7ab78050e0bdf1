"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.telemetry import TelemetryConfig

from forest import __version__
from forest.alerts.router import router as alerts_router
from forest.analytics.router import router as analytics_router
from forest.bids.export_router import router as export_router
from forest.bids.router import router as bids_router
from forest.body_limit import BodySizeLimit
from forest.config import Settings, get_settings
from forest.crawls.router import aliases as crawl_aliases
from forest.crawls.router import router as crawls_router
from forest.dashboard import mount_static
from forest.dashboard import router as dashboard_router
from forest.database import Database
from forest.dependencies import reject_nul_characters, reject_unknown_query_params
from forest.errors import COMMON_RESPONSES, install_error_handlers
from forest.events import Publisher
from forest.feeds.router import router as feeds_router
from forest.logs import install_log_redaction
from forest.ops.metrics import MetricsMiddleware
from forest.ops.router import router as ops_router
from forest.pagination import CursorSigner
from forest.quotas import SocketLeases
from forest.ratelimit import RateLimits
from forest.realtime.hub import Hub
from forest.realtime.ws import router as ws_router
from forest.routing import ExactPathLane
from forest.security import configure_password_hashing
from forest.sources.router import router as sources_router
from forest.users.router import router as users_router
from forest.worker.celery_app import make_celery
from forest.worker.dispatch import Dispatcher

log = logging.getLogger(__name__)

DESCRIPTION = """Forest crawls public bid and tender notice boards and serves the notices.

Every error is `application/problem+json` with a stable `code`. Lists are keyset-paginated with
opaque signed cursors. Crawls run on workers; watch them on `/ws/notifications`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for these settings (the environment's by default)."""
    settings = settings or get_settings()
    install_log_redaction()  # uvicorn's access log prints `?ticket=` and `?token=` otherwise
    configure_password_hashing(threads=settings.password_hash_threads, nice=settings.password_hash_nice)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database.from_settings(settings)
        app.state.rate_limits = RateLimits(settings)
        app.state.publisher = Publisher(settings.redis_url)
        app.state.dispatcher = Dispatcher(make_celery(settings))
        app.state.ws_leases = SocketLeases(settings.redis_url)
        app.state.hub = Hub(app.state.db, redis_url=settings.redis_url,
                            poll_interval=settings.event_poll_interval_seconds)
        await app.state.hub.start()
        try:
            yield
        finally:
            await app.state.hub.stop()
            await app.state.ws_leases.close()
            await app.state.publisher.close()
            await app.state.rate_limits.close()
            await app.state.db.dispose()

    telemetry: TelemetryConfig | None = (
        None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False})
    app = FastAPI(title="Forest", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  dependencies=[Depends(reject_unknown_query_params), Depends(reject_nul_characters)],
                  responses=COMMON_RESPONSES, telemetry=telemetry)
    app.state.settings = settings
    app.state.signer = CursorSigner(settings.signing_keys())
    install_error_handlers(app)

    # Routers carry their full prefix themselves, so every route's path is its public template.
    # The export route comes before `/bids/{bid_id}`, which would otherwise take "export" for an id. The busiest
    # (the lists) come first: FastAPI tries an included router's routes one by one, router after router, for
    # every request (a tenth of a list request's CPU with them last; bench/RESULTS.md, Pagination).
    for router in (export_router, bids_router, sources_router, crawls_router, alerts_router, users_router,
                   crawl_aliases, analytics_router, ws_router, ops_router, feeds_router):
        app.include_router(router)

    app.include_router(dashboard_router)
    mount_static(app)
    app.router.middleware_stack = ExactPathLane(app.router.middleware_stack, app.router)

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)  # outside the body cap, so that its 413s are counted
    if settings.access_log is not None:
        from forest.replay.recording import AccessLogMiddleware

        app.add_middleware(AccessLogMiddleware, path=settings.access_log)
    return app
