"""Shared request dependencies as `Annotated` aliases."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi import params as fastapi_params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from forest.config import Settings
from forest.database import Database
from forest.errors import Forbidden, Unauthorized, UnknownParameter, ValidationFailed
from forest.pagination import API_PREFIX as API_PREFIX  # defined beside the lists it names
from forest.pagination import CursorSigner, PageParams, page_params
from forest.ratelimit import RateLimits
from forest.security import AccessClaims, verify_access_token
from forest.users.models import User
from forest.validation import field_errors, nul_locations, pairs_nul_locations

# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def` dependency
# in the threadpool, a thread hop per dependency per request.


async def get_settings(conn: HTTPConnection) -> Settings:
    """The settings the app was built with."""
    settings: Settings = conn.app.state.settings
    return settings


async def get_database(conn: HTTPConnection) -> Database:
    """The app's database (engine + session factory)."""
    db: Database = conn.app.state.db
    return db


async def get_session(conn: HTTPConnection) -> AsyncIterator[AsyncSession]:
    """One session per request, closed when the response is done."""
    db: Database = conn.app.state.db
    async with db.sessionmaker() as session:
        yield session


async def get_signer(conn: HTTPConnection) -> CursorSigner:
    """The cursor signer built from the app's signing keys."""
    signer: CursorSigner = conn.app.state.signer
    return signer


async def get_rate_limits(conn: HTTPConnection) -> RateLimits:
    """The app's rate limiter."""
    limits: RateLimits = conn.app.state.rate_limits
    return limits


SettingsDep = Annotated[Settings, Depends(get_settings)]
Db = Annotated[Database, Depends(get_database)]
Limits = Annotated[RateLimits, Depends(get_rate_limits)]
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


class AuthCache:
    """Verified tokens and recently read users, so a burst of requests with one token costs one lookup.

    A token's signature is checked once and trusted until it expires; its user row is re-read every
    `ttl` seconds. The cached `User` objects are detached and shared between requests: read them,
    never change them. A deleted or demoted account, or a token version bumped by another process
    (password change, "log out everywhere"), keeps its old rights in this process for at most `ttl`
    seconds; the process that bumps a version calls `forget`, so there it takes effect at once.
    `ttl` 0 reads the user on every request.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._tokens: dict[str, AccessClaims] = {}
        self._users: dict[int, tuple[float, User]] = {}

    def claims(self, settings: Settings, token: str) -> AccessClaims:
        """The claims of a valid token (verified once, then until it expires)."""
        entry = self._tokens.get(token)
        if entry is not None and entry.expires > time.time():
            return entry
        claims = verify_access_token(settings, token)
        if self.ttl > 0:
            if len(self._tokens) >= self.max_entries:
                self._tokens.clear()
            self._tokens[token] = claims
        return claims

    def user(self, user_id: int) -> User | None:
        """The cached user, if read less than `ttl` seconds ago."""
        entry = self._users.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user: User) -> None:
        """Remember `user` (detached from its session) for `ttl` seconds."""
        if self.ttl <= 0:
            return
        if len(self._users) >= self.max_entries:
            self._users.clear()
        self._users[user.id] = (time.monotonic() + self.ttl, user)

    def forget(self, user_id: int) -> None:
        """Drop the cached user, so its next request reads the row again (after a change to it)."""
        self._users.pop(user_id, None)


def auth_cache(conn: HTTPConnection) -> AuthCache:
    """The app's auth cache, built from the settings on first use."""
    cache: AuthCache | None = getattr(conn.app.state, "auth_cache", None)
    if cache is None:
        settings: Settings = conn.app.state.settings
        cache = conn.app.state.auth_cache = AuthCache(settings.auth_cache_seconds)
    return cache


def check_token_version(user: User, claims: AccessClaims) -> None:
    """Refuse a token issued before the user's last password change, "log out everywhere" or deletion."""
    if claims.version != user.token_version:
        raise Unauthorized("The access token has been revoked (password changed or signed out everywhere); "
                           "sign in again.")


async def get_current_user(request: Request) -> User:
    """The user of the request's Bearer token (from the cache when it is fresh: no database round trip)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("Send `Authorization: Bearer <access token>`.")
    settings: Settings = request.app.state.settings
    cache = auth_cache(request)
    claims = cache.claims(settings, token)
    user = cache.user(claims.user_id)
    if user is None:
        db: Database = request.app.state.db
        async with db.sessionmaker() as session:  # its own short session, so a cache hit needs none at all
            user = await session.get(User, claims.user_id)
            if user is None:
                raise Unauthorized("The access token's user no longer exists.")
            session.expunge(user)
        cache.put(user)
    check_token_version(user, claims)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(request: Request) -> User:
    """The current user, who must be an admin (a function of the request alone, as LeanRoute resolves it)."""
    user = await get_current_user(request)
    if not user.is_admin:
        raise Forbidden("This action needs an admin account.")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]

_known_params: dict[int, frozenset[str]] = {}


def _query_aliases(dependant: Dependant) -> set[str]:
    names = set()
    for param in dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):  # a query model: its fields are the names
            names |= {field.alias or name for name, field in model.model_fields.items()}
        else:
            names.add(param.alias)
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


def _is_json(content_type: str) -> bool:
    # The media types FastAPI parses as JSON: application/json and application/*+json.
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def reject_nul_characters(conn: HTTPConnection) -> None:
    """Refuse a NUL character anywhere in the request's text: query, path, form fields and JSON body.

    Runs as a dependency of the whole app, after FastAPI has parsed the body (read here from Starlette's
    cache, not parsed again), so no route and no new field can skip it; see `forest.validation`.
    """
    locations: list[tuple[str | int, ...]] = []
    query_string: bytes = conn.scope.get("query_string", b"")
    if b"%00" in query_string or b"\x00" in query_string:  # percent-decoding makes a NUL of nothing else
        locations += pairs_nul_locations("query", conn.query_params.multi_items())
    if "\x00" in conn.scope.get("path", ""):  # the path parameters are cut from the decoded path
        locations += pairs_nul_locations("path", conn.path_params.items())
    route = conn.scope.get("route")
    if isinstance(conn, Request) and isinstance(route, APIRoute) and route.body_field is not None:
        if isinstance(route.body_field.field_info, fastapi_params.Form):
            form = await conn.form()
            locations += pairs_nul_locations("body", form.multi_items())
        elif _is_json(conn.headers.get("content-type", "")):
            body = await conn.body()
            # Only a body holding a backslash can hold an escaped NUL (a raw one is invalid JSON): most skip the walk.
            if body and b"\\" in body:
                locations += nul_locations(await conn.json(), ("body",))
    if locations:
        errors = field_errors(locations)
        raise ValidationFailed(f"{', '.join(e['field'] for e in errors)}: {errors[0]['message']}.", errors=errors)
