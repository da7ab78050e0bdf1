"""Auth and user routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy import select

from forest.dependencies import API_PREFIX, AdminUser, CurrentUser, DbSession, Limits, ListParams, SettingsDep, Signer
from forest.pagination import Keyset, Page, SortKey, page_response, paginate
from forest.security import create_access_token
from forest.users import service
from forest.users.models import User
from forest.users.schemas import Token, UserCreate, UserRead, WsTicketRead

router = APIRouter(prefix=API_PREFIX)

USER_KEYSET = Keyset(id_column=User.id, id_kind="int", sorts={"id": SortKey(User.id, "int")}, default="id")


@router.post("/auth/register", status_code=201, response_model=UserRead, tags=["auth"])
async def register(user_in: UserCreate, session: DbSession, limits: Limits, request: Request) -> User:
    """Create an account. The password must be 8 to 128 characters.

    Registrations and sign-ins share one budget per client address and per email (429 `rate_limited`)."""
    await limits.check_auth(request, user_in.email)
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
    access, ttl = create_access_token(settings, user.id)
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


@router.get("/users", response_model=Page[UserRead], tags=["users"])
async def list_users(
    _admin: AdminUser, session: DbSession, params: ListParams, signer: Signer, settings: SettingsDep,
    request: Request,
) -> Response:
    """All users, ordered by id, keyset-paginated (admin only)."""
    result = await paginate(session, select(User), keyset=USER_KEYSET, params=params, filters={}, signer=signer,
                            count_timeout_ms=settings.count_timeout_ms)
    return page_response(result, request, UserRead)
