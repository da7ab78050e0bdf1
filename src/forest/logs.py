"""Credentials never reach a log line: query parameters such as `?ticket=` and `?token=` are redacted.

Browsers open `/ws/notifications?ticket=…`, feed readers fetch `…?token=…`, webhook URLs may carry a
receiver's `?access_token=…`: uvicorn's access log, Celery and Forest's own messages would print them.
A log record factory redacts every record when it is made, whichever logger or handler it goes to, so
it holds for handlers added later (uvicorn's, Celery's) too. Forest's JSON access log
(`forest.replay.recording`) drops the same parameters from its `query` field.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

#: Query parameters whose values are credentials (compared case-insensitively, after percent-decoding).
CREDENTIAL_PARAMS: frozenset[str] = frozenset({
    "access_token", "api_key", "api-key", "apikey", "auth", "authorization", "client_secret", "code_verifier",
    "id_token", "key", "passwd", "password", "pwd", "refresh_token", "secret", "session", "sig", "signature",
    "ticket", "token", "x-amz-signature",
})
REDACTED = "[redacted]"

# One `name=value` pair of a query string inside any text: after `?`, `&` or `;`, up to the next separator.
_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#?\s\"'<>]+)=(?P<value>[^&;#\s\"'<>]*)")


def _replace(match: re.Match[str]) -> str:
    name = match["name"]
    if unquote_plus(name).strip().lower() not in CREDENTIAL_PARAMS or not match["value"]:
        return match[0]
    return f"{match['lead']}{name}={REDACTED}"


def redact(text: str) -> str:
    """`text` with the value of every credential query parameter replaced by `[redacted]`."""
    if "=" not in text:
        return text
    return _PARAM.sub(_replace, text)


def _redact_arg(value: Any) -> Any:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    cleaned = redact(text)
    # Unchanged values keep their type (a `%d` or `%r` still formats as before); changed ones become text.
    return value if cleaned == text else cleaned


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record's message and arguments in place, keeping the shape of `args` (uvicorn unpacks them)."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_redact_arg(a) for a in args)
    elif isinstance(args, dict):
        record.args = {k: _redact_arg(v) for k, v in args.items()}
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        # Formatters use a record's `exc_text` when set: the traceback (an httpx error names its URL) is
        # formatted here once, redacted, and printed as it is.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


def install_log_redaction() -> None:
    """Make every log record of this process redacted when it is created (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "forest_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        # A log line must never fail because of its redaction: a value that cannot be printed stays as it was.
        with contextlib.suppress(Exception):
            redact_record(record)
        return record

    factory.forest_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
