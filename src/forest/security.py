"""Password hashing and access tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any, NamedTuple

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from forest.config import Settings
from forest.errors import Unauthorized

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the user does not exist, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("forest-timing-equaliser")
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    """Hash a password with argon2 (slow, salted)."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash, burn the same time and fail."""
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # a corrupt stored hash must read as a failed login, not a crash
        return False


def _jwt_key(secret: bytes) -> bytes:
    return hashlib.sha256(b"forest-jwt:" + secret).digest()


def create_access_token(settings: Settings, user_id: int, version: int = 0) -> tuple[str, int]:
    """A signed JWT for this user at its current token version, and its lifetime in seconds."""
    now = dt.datetime.now(dt.UTC)
    ttl = settings.access_token_ttl_seconds
    claims = {"sub": str(user_id), "ver": version, "iat": now, "exp": now + dt.timedelta(seconds=ttl),
              "typ": "access", "jti": secrets.token_hex(8)}
    return jwt.encode(claims, _jwt_key(settings.signing_keys()[0]), algorithm=_ALGORITHM), ttl


class AccessClaims(NamedTuple):
    """What a verified access token says: whose it is, at which token version, until when (Unix time)."""

    user_id: int
    version: int
    expires: float


def verify_access_token(settings: Settings, token: str) -> AccessClaims:
    """The claims of a valid access token; Unauthorized for anything else.

    A token without `ver` was issued before token versions existed and counts as version 0.
    """
    for key in settings.signing_keys():
        try:
            claims: dict[str, Any] = jwt.decode(
                token, _jwt_key(key), algorithms=[_ALGORITHM], options={"require": ["exp", "sub", "iat"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The access token has expired.") from exc
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise Unauthorized("The access token is invalid.") from exc
        user_id = _user_id(claims.get("sub"))
        if claims.get("typ") != "access" or user_id is None:
            raise Unauthorized("The access token is invalid.")
        version = claims.get("ver", 0)
        if type(version) is not int or version < 0:
            raise Unauthorized("The access token is invalid.")
        return AccessClaims(user_id, version, float(claims["exp"]))
    raise Unauthorized("The access token is invalid.")


# A user id as this server writes it in `sub`: ASCII digits, no sign or leading zero, within BIGINT. `str.isdigit`
# also accepts "١٢" (int() reads it as 12) and "²" (int() refuses it), and a 20-digit id overflowed the driver.
_MAX_USER_ID = 2**63 - 1


def _user_id(sub: object) -> int | None:
    if not isinstance(sub, str) or not (0 < len(sub) <= 19) or not sub.isascii() or not sub.isdigit():
        return None
    if sub[0] == "0" or int(sub) > _MAX_USER_ID:
        return None
    return int(sub)


def new_ticket() -> tuple[str, str]:
    """A random WebSocket ticket and the hash stored for it."""
    ticket = secrets.token_urlsafe(32)
    return ticket, ticket_hash(ticket)


def ticket_hash(ticket: str) -> str:
    """The stored form of a ticket (only its hash is kept)."""
    return hashlib.sha256(ticket.encode()).hexdigest()
