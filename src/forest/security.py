"""Password hashing and access tokens."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import os
import secrets
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from forest.config import Settings
from forest.errors import Unauthorized

# argon2id with RFC 9106's memory and time (64 MiB, 3 passes) on one lane: with pwdlib's default 4 lanes
# every hash starts 4 threads, so a pool of N threads could still take 4N cores. One lane costs the same CPU
# (measured: 0.18 s either way on 2 cores) and makes FOREST_PASSWORD_HASH_THREADS the real bound. Hashes
# made with other parameters still verify (their parameters are in the hash).
_hasher = PasswordHash((Argon2Hasher(parallelism=1),))
# Verified against when the user does not exist, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("forest-timing-equaliser")
_ALGORITHM = "HS256"


_pool: ThreadPoolExecutor | None = None
_pool_threads = 1
# Niceness of the argon2 threads (argon2's own lane threads inherit it). At 19 they get only the CPU that
# the event loop, the database and everything else leave over: a login flood then costs the other requests
# almost nothing, and sign-ins are what slows down when the machine is saturated (see docs/security.md).
_pool_nice = 19
_pool_lock = threading.Lock()


def configure_password_hashing(*, threads: int, nice: int) -> None:
    """Size the process's argon2 thread pool and set its niceness (later calls replace it for new work)."""
    global _pool, _pool_threads, _pool_nice
    with _pool_lock:
        if _pool is not None and (threads, nice) != (_pool_threads, _pool_nice):
            _pool.shutdown(wait=False)  # work already queued there still runs
            _pool = None
        _pool_threads, _pool_nice = threads, nice


def _lower_priority(nice: int) -> None:
    if nice and sys.platform == "linux":  # a Linux thread has its own niceness; elsewhere this would renice the process
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


def _password_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_pool_threads, thread_name_prefix="forest-argon2",
                                       initializer=_lower_priority, initargs=(_pool_nice,))
        return _pool


async def hash_password_off_loop(password: str) -> str:
    """`hash_password` on the bounded argon2 pool: the event loop keeps serving while it runs.

    argon2-cffi releases the GIL, so the loop really runs meanwhile; a flood of logins waits in the
    pool's queue (a few hashes at a time per process), not in front of every other request.
    """
    return await asyncio.get_running_loop().run_in_executor(_password_pool(), hash_password, password)


async def verify_password_off_loop(password: str, password_hash: str | None) -> bool:
    """`verify_password` on the bounded argon2 pool (see `hash_password_off_loop`)."""
    return await asyncio.get_running_loop().run_in_executor(_password_pool(), verify_password, password,
                                                            password_hash)


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
