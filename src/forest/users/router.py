"""Auth and user routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request, Response

from forest.dependencies import (
    API_PREFIX,
    AdminUser,
    CurrentUser,
    Db,
    DbSession,
    Limits,
    SettingsDep,
    Signer,
    auth_cache,
)
from forest.pagination import ListQuery, Page, page_response
from forest.routing import LeanRoute
from forest.security import create_access_token
from forest.users import passwords, service
from forest.users.models import User
from forest.users.schemas import PasswordChange, Token, UserCreate, UserRead, WsTicketRead

# LeanRoute resolves the user list's simple signature itself (the other routes fall back to FastAPI).
router = APIRouter(prefix=API_PREFIX, route_class=LeanRoute)

UserId = Annotated[int, Path(ge=1, le=2**62)]


@router.post("/auth/register", status_code=201, response_model=UserRead, tags=["auth"])
async def register(user_in: UserCreate, session: DbSession, settings: SettingsDep, limits: Limits,
                   request: Request) -> User:
    """Create an account. The password must be 8 to 128 characters, not one character repeated, and not easy
    to guess (common passwords, words, keyboard patterns, dates, the email itself): 422 says why.

    Registrations and sign-ins share one budget per client address and per email (429 `rate_limited`)."""
    await limits.check_auth(request, user_in.email)
    await passwords.check_strength(user_in.password, email=user_in.email, min_score=settings.password_min_score)
    return await service.create(session=session, email=user_in.email, password=user_in.password)


@router.post("/auth/token", response_model=Token, tags=["auth"])
async def token(
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    session: DbSession,
    settings: SettingsDep,
    limits: Limits,
    request: Request,
) -> Token:
    """Exchange email (`username`) and password for a bearer access token (OAuth2 password flow).

    Attempts are rate-limited per client address and per account (429 `rate_limited` with `Retry-After`)."""
    await limits.check_auth(request, username)
    user = await service.authenticate(session=session, email=username, password=password)
    access, ttl = create_access_token(settings, user.id, user.token_version)
    return Token(access_token=access, expires_in=ttl)


@router.post("/auth/logout-all", status_code=204, tags=["auth"])
async def logout_all(user: CurrentUser, session: DbSession, request: Request) -> Response:
    """Log out everywhere: every access token and WebSocket ticket issued to this account so far is refused
    from now on (by every API process within `FOREST_AUTH_CACHE_SECONDS`). Sign in again for a new token."""
    await service.revoke_tokens(session=session, user_id=user.id)
    auth_cache(request).forget(user.id)
    return Response(status_code=204)


@router.post("/users/me/password", response_model=Token, tags=["users"])
async def change_password(
    body: PasswordChange, user: CurrentUser, session: DbSession, settings: SettingsDep, request: Request,
) -> Token:
    """Change the password (the current one is required: 403 if wrong). Every token issued before is refused
    from now on; the answer carries a fresh one. The new password follows the rules of registration."""
    await passwords.check_strength(body.new_password, email=user.email, min_score=settings.password_min_score)
    changed = await service.change_password(session=session, user_id=user.id, current_password=body.current_password,
                                            new_password=body.new_password)
    auth_cache(request).forget(user.id)
    access, ttl = create_access_token(settings, changed.id, changed.token_version)
    return Token(access_token=access, expires_in=ttl)


@router.post("/auth/ws-ticket", response_model=WsTicketRead, tags=["auth"])
async def ws_ticket(user: CurrentUser, session: DbSession, settings: SettingsDep) -> WsTicketRead:
    """A short-lived, single-use ticket for opening `/ws/notifications` from a browser."""
    ttl = settings.ws_ticket_ttl_seconds
    ticket = await service.issue_ws_ticket(session=session, user=user, ttl_seconds=ttl)
    return WsTicketRead(ticket=ticket, expires_in=ttl)


@router.get("/users/me", response_model=UserRead, tags=["users"])
async def me(user: CurrentUser) -> User:
    """The authenticated user."""
    return user


@router.delete("/users/{user_id}", status_code=204, tags=["users"])
async def delete_user(user_id: UserId, _admin: AdminUser, session: DbSession, request: Request) -> Response:
    """Delete an account with its jobs, alerts and events (admin only). Its tokens are refused at once; its id is
    never given to another account."""
    await service.delete_user(session=session, user_id=user_id)
    auth_cache(request).forget(user_id)
    return Response(status_code=204)


@router.get("/users", response_model=Page[UserRead], tags=["users"])
async def list_users(_admin: AdminUser, query: Annotated[ListQuery, Query()], db: Db, signer: Signer,
                     settings: SettingsDep, request: Request) -> Response:
    """All users, ordered by id, keyset-paginated (admin only)."""
    result = await service.list(db=db, query=query, signer=signer, count_timeout_ms=settings.count_timeout_ms)
    return page_response(result, request, UserRead)
