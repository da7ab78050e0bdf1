"""User and auth schemas."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class UserCreate(BaseModel):
    """Registration body."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=8, max_length=128)


class PasswordChange(BaseModel):
    """Body of a password change: the current password and the new one."""

    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=8, max_length=128)


class UserRead(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    is_admin: bool
    created_at: dt.datetime


class Token(BaseModel):
    """An OAuth2 bearer access token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class WsTicketRead(BaseModel):
    """A single-use WebSocket ticket."""

    ticket: str
    expires_in: int
