"""The identity of an ad-hoc crawl's board: its normalised full URL."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise(url: str) -> str:
    """`url` with scheme and host lower-cased, the default port dropped, query parameters sorted (all kept,
    blank ones too), percent-escapes made uniform and the fragment dropped.

    Two spellings of one board page normalise alike, and two boards that differ only in a query parameter
    (`?bbsId=A`, `?bbsId=B`, the common shape of Korean eGov boards) stay apart.
    """
    canonical = canonicalize_url(url, keep_blank_values=True, keep_fragments=False)
    parts = urlsplit(canonical)
    netloc = parts.netloc
    if parts.port is not None and _DEFAULT_PORTS.get(parts.scheme) == parts.port:
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def key(normalised: str) -> str:
    """The lookup key of a normalised URL (fixed length, whatever the URL's)."""
    return hashlib.sha256(normalised.encode()).hexdigest()
