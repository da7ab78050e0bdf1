"""Signed cursors: the signer, the filter digest and how sort values travel inside a cursor."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from forest.errors import CursorError

CURSOR_VERSION = 1
# Longer than any cursor the server signs (a few hundred characters); a longer one is refused unread.
MAX_CURSOR_LENGTH = 2048
Kind = Literal["int", "date", "datetime", "str", "uuid", "decimal"]


class CursorSigner:
    """Signs and verifies cursors with HMAC-SHA256; older keys still verify during rotation."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one signing key is required")
        self._keys = [hashlib.sha256(b"forest-cursor:" + k).digest() for k in keys]

    def dumps(self, payload: Mapping[str, Any]) -> str:
        """Encode and sign a payload with the current key."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        sig = hmac.digest(self._keys[0], body, "sha256")  # one-shot, in C: no HMAC object per cursor
        return _b64(body) + "." + _b64(sig)

    def loads(self, token: str) -> dict[str, Any]:
        """Verify and decode a cursor, raising CursorError if it is malformed or not ours."""
        if len(token) > MAX_CURSOR_LENGTH:
            raise CursorError("The cursor is malformed (too long).")
        try:
            body_part, sig_part = token.split(".")
            body, sig = _unb64(body_part), _unb64(sig_part)
        except (ValueError, TypeError) as exc:
            raise CursorError("The cursor is malformed.") from exc
        if not any(hmac.compare_digest(hmac.digest(k, body, "sha256"), sig) for k in self._keys):
            raise CursorError("The cursor's signature does not verify.")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise CursorError("The cursor is malformed.") from exc
        if not isinstance(payload, dict) or payload.get("v") != CURSOR_VERSION:
            raise CursorError("The cursor's version is not supported.")
        return payload


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text_: str) -> bytes:
    return base64.urlsafe_b64decode(text_ + "=" * (-len(text_) % 4))


def filter_hash(filters: Mapping[str, Any]) -> str:
    """A stable digest of the normalised filter set a cursor is bound to."""
    norm: list[tuple[str, str | tuple[str, ...]]] = []
    for key, value in filters.items():
        if value is None or value == [] or value == ():
            continue
        if isinstance(value, list | tuple | set | frozenset):
            norm.append((key, tuple(sorted(str(v) for v in value))))
        else:
            norm.append((key, str(value)))
    return _digest(tuple(norm))


@functools.lru_cache(maxsize=1024)  # a list's few filter sets repeat on every page; bounded whatever clients send
def _digest(norm: tuple[tuple[str, str | tuple[str, ...]], ...]) -> str:
    body = {key: list(value) if isinstance(value, tuple) else value for key, value in norm}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def _encode(value: Any, kind: Kind) -> Any:
    if value is None:
        return None  # a nullable sort column: the position is in the trailing run of nulls
    if kind in ("date", "datetime"):
        return value.isoformat()
    if kind in ("uuid", "decimal"):
        return str(value)
    return value


def _decode(value: Any, kind: Kind) -> Any:
    try:
        if kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError
            return value
        if kind == "date":
            return dt.date.fromisoformat(value)
        if kind == "datetime":
            parsed = dt.datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        if kind == "uuid":
            return uuid.UUID(value)
        if kind == "decimal":
            if not isinstance(value, str):
                raise TypeError
            number = Decimal(value)
            if not number.is_finite():
                raise ValueError
            return number
        if not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise CursorError("The cursor's position is malformed.") from exc

