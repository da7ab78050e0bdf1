"""User accounts and single-use WebSocket tickets."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from forest.database import NEVER_REUSE_IDS, Base, BigId, UtcDateTime, utcnow


class User(Base):
    """A person (or script) with an account."""

    __tablename__ = "user"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Carried in every access token (`ver`); bumped on a password change, "log out everywhere" and deletion,
    # so every token issued before is refused.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class WsTicket(Base):
    """A short-lived, single-use credential for opening a browser WebSocket."""

    __tablename__ = "ws_ticket"

    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
