"""A cap on request body sizes, enforced before and while the body is read.

A pure ASGI middleware: a declared `Content-Length` over the cap is refused before a byte of the body is
read; a chunked (or understated) body is refused as soon as what has arrived passes the cap, so no
endpoint ever buffers more than `FOREST_MAX_BODY_BYTES`.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forest.errors import problem


class BodyTooLarge(HTTPException):
    """The body passed the cap while it was being read (413 `payload_too_large`).

    An HTTPException, so that FastAPI, which wraps any other error raised while it reads a body in a
    400, passes it on to the error handlers unchanged.
    """

    def __init__(self, max_bytes: int) -> None:
        # `Connection: close`: the server stops reading the rest of the body instead of draining it.
        super().__init__(413, _detail(max_bytes), headers={"Connection": "close"})


def _detail(max_bytes: int) -> str:
    return f"The request body is larger than the limit of {max_bytes} bytes."


class BodySizeLimit:
    """Refuse HTTP request bodies over `max_bytes` with 413 problem+json."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        response_started = False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, tracking_send)
        except BodyTooLarge:
            # Raised where no error handler ran (code reading the stream outside a FastAPI route).
            if response_started:
                raise
            await self._refuse(scope, receive, tracking_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "payload_too_large", _detail(self.max_bytes), headers={"Connection": "close"})
        await response(scope, receive, send)
