"""Shared request dependencies as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from forest.config import Settings
from forest.database import Database
from forest.errors import Forbidden, Unauthorized, UnknownParameter
from forest.pagination import CursorSigner, PageParams, page_params
from forest.security import decode_access_token
from forest.users.models import User

API_PREFIX = "/api/v1"


def get_settings(conn: HTTPConnection) -> Settings:
    """The settings the app was built with."""
    settings: Settings = conn.app.state.settings
    return settings


def get_database(conn: HTTPConnection) -> Database:
    """The app's database (engine + session factory)."""
    db: Database = conn.app.state.db
    return db


async def get_session(conn: HTTPConnection) -> AsyncIterator[AsyncSession]:
    """One session per request, closed when the response is done."""
    async with get_database(conn).sessionmaker() as session:
        yield session


def get_signer(conn: HTTPConnection) -> CursorSigner:
    """The cursor signer built from the app's signing keys."""
    signer: CursorSigner = conn.app.state.signer
    return signer


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[AsyncSession, Depends(get_session)]
Signer = Annotated[CursorSigner, Depends(get_signer)]
ListParams = Annotated[PageParams, Depends(page_params)]


def bearer_token(conn: HTTPConnection) -> str | None:
    """The Bearer token of the Authorization header, if any."""
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def get_current_user(request: Request, session: DbSession, settings: SettingsDep) -> User:
    """The user of the request's Bearer token."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("Send `Authorization: Bearer <access token>`.")
    user_id = decode_access_token(settings, token)
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthorized("The access token's user no longer exists.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> User:
    """The current user, who must be an admin."""
    if not user.is_admin:
        raise Forbidden("This action needs an admin account.")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]

_known_params: dict[int, frozenset[str]] = {}


def _query_aliases(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_aliases(sub)
    return names


async def reject_unknown_query_params(request: HTTPConnection) -> None:
    """Refuse query parameters the route does not declare, so a typo never widens a filter."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _known_params.get(id(route))
    if known is None:
        known = frozenset(_query_aliases(route.dependant))
        _known_params[id(route)] = known
    unknown = sorted(set(request.query_params.keys()) - known)
    if unknown:
        hint = f" Known parameters: {', '.join(sorted(known))}." if known else ""
        raise UnknownParameter(f"Unknown query parameter(s): {', '.join(unknown)}.{hint}")
