"""Templates of requests and URLs: their `{name}` placeholders and how they are filled."""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]{1,40})\}")


def template_names(template: str) -> set[str]:
    """The `{name}` placeholders of a template; raises ValueError for a malformed one."""
    rest = _PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        raise ValueError(f"bad template {template!r}: placeholders are {{name}} with letters, digits or _")
    return set(_PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str]) -> str:
    """A template with its placeholders filled; raises ValueError naming a missing value."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            raise ValueError(f"no value for {{{match.group(1)}}} in {template!r}")
        return value

    return _PLACEHOLDER.sub(fill, template)
