"""Serve the dashboard page at ``/`` and its assets at ``/static``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"

# The page has no inline scripts or styles, so the policy can stay this strict. No page may frame it
# (clickjacking: a hidden dashboard under a decoy button); X-Frame-Options says the same to old browsers.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)

router = APIRouter()


@lru_cache(maxsize=1)
def _index_html() -> str:
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


async def index(request: Request) -> HTMLResponse:
    """Return the single-page dashboard; its query string (``?tab=notices&q=…``) belongs to the page."""
    return HTMLResponse(
        _index_html(),
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-cache",
        },
    )


# A plain Starlette route rather than an API route: the API's app-wide dependencies (such as the
# refusal of unknown query parameters) must not apply to the page's own, client-side query string.
router.add_route("/", index, methods=["GET", "HEAD"], include_in_schema=False)


def mount_static(app: FastAPI) -> None:
    """Mount the dashboard's scripts and styles at ``/static``."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
