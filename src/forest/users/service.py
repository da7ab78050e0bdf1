"""User accounts: the only code that reads or writes the user and ws_ticket tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from forest.database import utcnow
from forest.errors import Conflict, Unauthorized
from forest.security import hash_password_off_loop, new_ticket, ticket_hash, verify_password_off_loop
from forest.users.models import User, WsTicket


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively: store them lower-cased."""
    return email.strip().lower()


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
    await session.commit()
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
