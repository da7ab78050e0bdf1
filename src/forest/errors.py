"""Domain errors and the one handler layer that renders every error as RFC 9457 problem+json."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocket, WebSocketState

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://forest.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ForestError(Exception):
    """An error the client should see, with a stable machine-readable code."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.errors = errors


class ValidationFailed(ForestError):
    status, code, title = 422, "validation_error", "Validation failed"


class UnknownParameter(ForestError):
    status, code, title = 400, "unknown_parameter", "Unknown query parameter"


class CursorError(ForestError):
    status, code, title = 400, "invalid_cursor", "Invalid cursor"


class CursorMismatch(ForestError):
    status, code, title = 400, "cursor_mismatch", "Cursor does not match this query"


class UnsupportedSort(ForestError):
    status, code, title = 400, "unsupported_sort", "Unsupported sort"


class Unauthorized(ForestError):
    status, code, title = 401, "unauthorized", "Not authenticated"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ForestError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(ForestError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(ForestError):
    status, code, title = 409, "conflict", "Conflict"


class IdempotencyKeyReused(ForestError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency-Key reused with a different request"


class UrlNotAllowed(ForestError):
    status, code, title = 400, "url_not_allowed", "URL not allowed"


class RateLimited(ForestError):
    status, code, title = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(ForestError):
    status, code, title = 503, "service_unavailable", "Service unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


class FieldError(BaseModel):
    """One invalid field of a request."""

    loc: list[str]
    field: str
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, with Forest's stable machine-readable `code`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


def _problem_response(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


# Documented on every operation: any of them can answer these, always as problem+json.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_response("Bad request: unknown_parameter, invalid_cursor, cursor_mismatch, unsupported_sort, "
                           "url_not_allowed"),
    401: _problem_response("unauthorized"),
    403: _problem_response("forbidden"),
    404: _problem_response("not_found"),
    409: _problem_response("conflict"),
    413: _problem_response("payload_too_large: the request body is over the size limit"),
    422: _problem_response("validation_error or idempotency_key_reused"),
    429: _problem_response("rate_limited"),
    503: _problem_response("service_unavailable"),
}


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
                 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
                 429: "rate_limited", 503: "service_unavailable"}


def problem(status: int, code: str, detail: str, *, title: str | None = None,
            headers: dict[str, str] | None = None, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    """Build an RFC 9457 problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    # The charset is explicit: clients that do not treat problem+json as JSON (requests' `.text`) would
    # otherwise guess an encoding from the bytes and garble non-ASCII details (a Korean department name).
    return JSONResponse(body, status_code=status, headers=headers, media_type=f"{PROBLEM_MEDIA_TYPE}; charset=utf-8")


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        out.append({"loc": loc, "field": ".".join(loc[1:]) or ".".join(loc), "message": message,
                    "type": err.get("type", "")})
    return out


async def _forest_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ForestError)
    return problem(exc.status, exc.code, exc.detail, title=exc.title, headers=exc.headers, errors=exc.errors)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) or "Invalid request"
    return problem(422, "validation_error", detail, title="Validation failed", errors=errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    return problem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


async def _database_down(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return problem(503, "service_unavailable", "The database is unreachable; try again shortly.",
                   title="Service unavailable", headers={"Retry-After": "5"})


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal_error", "An unexpected error occurred.")


def install_error_handlers(app: FastAPI) -> None:
    """Render every error the app can raise as problem+json (on a WebSocket: a close code)."""
    app.add_exception_handler(ForestError, _http_only(_forest_error))
    app.add_exception_handler(RequestValidationError, _http_only(_validation_error))
    app.add_exception_handler(StarletteHTTPException, _http_only(_http_error))
    for exc_type in (OperationalError, InterfaceError, PoolTimeoutError, ConnectionError, OSError, TimeoutError):
        app.add_exception_handler(exc_type, _http_only(_database_down))
    app.add_exception_handler(DBAPIError, _http_only(_dbapi_error))
    app.add_exception_handler(Exception, _unexpected)


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]
WS_POLICY_VIOLATION, WS_INTERNAL_ERROR, WS_TRY_AGAIN_LATER = 1008, 1011, 1013


def _http_only(handler: Handler) -> Handler:
    """Starlette routes WebSocket errors through the same handlers: there, close the socket instead.

    An HTTP response cannot be sent on a WebSocket (the ASGI server raises RuntimeError). Client errors
    close with 1008; an unreachable or exhausted database with 1013 (try again later); anything else 1011.
    """

    async def handle(conn: Request, exc: Exception) -> JSONResponse:
        if conn.scope["type"] != "websocket":
            return await handler(conn, exc)
        if isinstance(exc, ForestError | RequestValidationError | StarletteHTTPException):
            status = getattr(exc, "status", getattr(exc, "status_code", 400))
            code = WS_TRY_AGAIN_LATER if status in (429, 503) else WS_POLICY_VIOLATION
        elif isinstance(exc, DBAPIError) and not exc.connection_invalidated and not isinstance(
                exc, OperationalError | InterfaceError):
            log.exception("unhandled error in a WebSocket", exc_info=exc)
            code = WS_INTERNAL_ERROR
        else:
            log.warning("database unavailable during a WebSocket: %s", exc)
            code = WS_TRY_AGAIN_LATER
        websocket = cast(WebSocket, conn)  # Starlette hands WebSocket handlers the WebSocket itself
        with contextlib.suppress(Exception):
            if code != WS_POLICY_VIOLATION and websocket.client_state == WebSocketState.CONNECTING:
                # So that browsers see the close code; fails harmlessly if the route had accepted.
                with contextlib.suppress(Exception):
                    await websocket.accept()
            await websocket.close(code=code)
        return None  # type: ignore[return-value]  # Starlette sends nothing when a handler returns None

    return handle


async def _dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated:
        return await _database_down(request, exc)
    orig = type(exc.orig).__name__ if exc.orig is not None else ""
    if orig in {"QueryCanceledError", "QueryCanceled"}:
        return problem(503, "service_unavailable", "The query took too long; try a narrower filter.",
                       headers={"Retry-After": "5"})
    return await _unexpected(request, exc)
