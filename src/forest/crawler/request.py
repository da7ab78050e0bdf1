"""One request of a crawl, as the engine and board parsers pass it around."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A GET, or a POST of url-encoded form fields; `page` is the list page number it asks for, if known."""

    method: str
    url: str
    form: tuple[tuple[str, str], ...] = ()
    page: int | None = None

    @property
    def key(self) -> str:
        """What makes two requests the same page (for the repeated-page rule)."""
        return f"{self.method} {self.url} {urlencode(self.form)}"

    @property
    def link(self) -> str:
        """A URL a person can open: a POST's form as a query string (many boards accept both)."""
        if self.method == "GET" or not self.form:
            return self.url
        return f"{self.url}{'&' if '?' in self.url else '?'}{urlencode(self.form)}"
