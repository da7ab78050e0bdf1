"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from forest import __version__
from forest.config import Settings, get_settings
from forest.database import Database
from forest.dependencies import reject_unknown_query_params
from forest.errors import install_error_handlers
from forest.ops.metrics import MetricsMiddleware
from forest.ops.router import router as ops_router
from forest.pagination import CursorSigner
from forest.sources.router import router as sources_router
from forest.users.router import router as users_router

log = logging.getLogger(__name__)

DESCRIPTION = """Forest crawls public bid and tender notice boards and serves the notices.

Every error is `application/problem+json` with a stable `code`. Lists are keyset-paginated with
opaque signed cursors. Crawls run on workers; watch them on `/ws/notifications`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for these settings (the environment's by default)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database.from_settings(settings)
        try:
            yield
        finally:
            await app.state.db.dispose()

    app = FastAPI(title="Forest", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  dependencies=[Depends(reject_unknown_query_params)])
    app.state.settings = settings
    app.state.signer = CursorSigner(settings.signing_keys())
    install_error_handlers(app)

    # Routers carry their full prefix themselves, so every route's path is its public template.
    for router in (users_router, sources_router, ops_router):
        app.include_router(router)

    app.add_middleware(MetricsMiddleware)
    if settings.access_log is not None:
        from forest.replay.recording import AccessLogMiddleware

        app.add_middleware(AccessLogMiddleware, path=settings.access_log)
    return app
