"""User accounts: the only code that reads or writes the user and ws_ticket tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from forest.database import Database, utcnow
from forest.errors import Conflict, Forbidden, NotFound, Unauthorized
from forest.pagination import (
    API_PREFIX,
    CursorSigner,
    Keyset,
    ListQuery,
    ListSelect,
    PageResult,
    SortKey,
    columns_of,
    paginate,
)
from forest.security import hash_password_off_loop, new_ticket, ticket_hash, verify_password_off_loop
from forest.users.models import User, WsTicket
from forest.users.schemas import UserRead

OPERATOR_EMAIL = "operator@forest.invalid"
LOCKED_PASSWORD_HASH = "!"  # not an argon2 hash: every password check against it fails


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively: store them lower-cased."""
    return email.strip().lower()


USER_KEYSET = Keyset(endpoint=f"{API_PREFIX}/users", id_column=User.id, id_kind="int",
                     sorts={"id": SortKey(User.id, "int")}, default="id")


def _list_select() -> Select[Any]:
    return select(*columns_of(User, UserRead))


def list_query() -> ListSelect:
    """Every user: the columns `UserRead` shows."""
    return ListSelect(_list_select)


async def list(*, db: Database, query: ListQuery, signer: CursorSigner, count_timeout_ms: int = 250) -> PageResult[Any]:
    """One keyset page of all users, by id (for admins)."""
    return await paginate(db, list_query(), keyset=USER_KEYSET, params=query.page_params(), filters={}, signer=signer,
                          count_timeout_ms=count_timeout_ms)


async def get(*, session: AsyncSession, user_id: int) -> User | None:
    """A user by id."""
    return await session.get(User, user_id)


async def get_by_email(*, session: AsyncSession, email: str) -> User | None:
    """A user by email (case-insensitive)."""
    user: User | None = await session.scalar(select(User).where(User.email == normalise_email(email)))
    return user


async def create(*, session: AsyncSession, email: str, password: str, is_admin: bool = False) -> User:
    """Create a user; Conflict if the email is taken."""
    user = User(email=normalise_email(email), password_hash=await hash_password_off_loop(password),
                is_admin=is_admin, created_at=utcnow())
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict("An account with this email already exists.") from exc
    return user


async def ensure_admin(*, session: AsyncSession, email: str, password: str) -> User:
    """Create an admin, or promote an existing user and reset its password."""
    user = await get_by_email(session=session, email=email)
    if user is None:
        return await create(session=session, email=email, password=password, is_admin=True)
    user.is_admin = True
    user.password_hash = await hash_password_off_loop(password)
    user.token_version += 1  # a reset password also ends the sessions opened with the old one
    await session.execute(delete(WsTicket).where(WsTicket.user_id == user.id))
    await session.commit()
    return user


async def operator(*, session: AsyncSession) -> User:
    """Whose jobs the operator's own crawls (`forest crawl`) are: the first admin. On a database with no admin
    yet, a built-in admin account that cannot log in (no password matches its hash), created on first use."""
    first_admin = select(User).where(User.is_admin.is_(True)).order_by(User.id).limit(1)
    admin = await session.scalar(first_admin)
    if admin is not None:
        return admin
    user = User(email=OPERATOR_EMAIL, password_hash=LOCKED_PASSWORD_HASH, is_admin=True, created_at=utcnow())
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:  # another process created it first
        await session.rollback()
        found = await session.scalar(first_admin)
        assert found is not None
        return found
    return user


async def authenticate(*, session: AsyncSession, email: str, password: str) -> User:
    """The user with these credentials; the same error and work for a wrong password or unknown user."""
    user = await get_by_email(session=session, email=email)
    # End the read before verifying: under a flood the argon2 pool queues, and a connection held through
    # that wait would be taken from every other request (the pool has a few per process).
    await session.commit()
    if not await verify_password_off_loop(password, user.password_hash if user else None) or user is None:
        raise Unauthorized("Incorrect email or password.")
    return user


async def _bump_token_version(session: AsyncSession, user_id: int) -> None:
    await session.execute(update(User).where(User.id == user_id).values(token_version=User.token_version + 1))
    await session.execute(delete(WsTicket).where(WsTicket.user_id == user_id))


async def revoke_tokens(*, session: AsyncSession, user_id: int) -> None:
    """Log out everywhere: every access token and WebSocket ticket issued to this user so far stops working."""
    await _bump_token_version(session, user_id)
    await session.commit()


async def change_password(*, session: AsyncSession, user_id: int, current_password: str, new_password: str) -> User:
    """Set a new password after checking the current one; every token issued before stops working."""
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthorized("The access token's user no longer exists.")
    if not await verify_password_off_loop(current_password, user.password_hash):
        raise Forbidden("The current password is wrong.")
    user.password_hash = await hash_password_off_loop(new_password)
    await _bump_token_version(session, user_id)
    await session.commit()
    await session.refresh(user)
    return user


async def delete_user(*, session: AsyncSession, user_id: int) -> None:
    """Delete an account and everything it owns (jobs, alerts, events cascade).

    Its tokens stop working because no user has its id any more, and none will: ids are never reused.
    """
    result = await session.execute(delete(User).where(User.id == user_id))
    await session.commit()
    if getattr(result, "rowcount", 0) != 1:
        raise NotFound("No such user.")


async def issue_ws_ticket(*, session: AsyncSession, user: User, ttl_seconds: int) -> str:
    """A fresh single-use WebSocket ticket for this user."""
    ticket, digest = new_ticket()
    now = utcnow()
    await session.execute(delete(WsTicket).where(WsTicket.expires_at < now))
    session.add(WsTicket(ticket_hash=digest, user_id=user.id, expires_at=now + dt.timedelta(seconds=ttl_seconds)))
    await session.commit()
    return ticket


async def redeem_ws_ticket(*, session: AsyncSession, ticket: str) -> int | None:
    """Consume a ticket once: its user id, or None if unknown, used or expired."""
    digest = ticket_hash(ticket)
    row = await session.get(WsTicket, digest)
    if row is None:
        return None
    result = await session.execute(delete(WsTicket).where(WsTicket.ticket_hash == digest))
    await session.commit()
    # Only the request whose delete removed the row may use it: single use under races too.
    if getattr(result, "rowcount", 0) != 1 or row.expires_at < utcnow():
        return None
    return row.user_id
