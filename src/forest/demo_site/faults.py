"""The demo board's fault modes: their kinds and parameters, and the switches that turn them on and take them."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

FaultKind = Literal[
    "slow", "unavailable", "rate_limited", "reset", "redirect_chain", "oversized", "repeat_last_page", "bad_charset",
    "drop_session",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
# Faults that replace the response; at most one of them fires per request, in this order.
ACTION_FAULTS: tuple[FaultKind, ...] = (
    "redirect_chain", "unavailable", "rate_limited", "reset", "oversized", "bad_charset"
)
# A charset label the bad_charset fault may declare: one header token, never a header injection.
_CHARSET_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,40}")


@dataclass(frozen=True, slots=True)
class Fault:
    """An active fault mode; `remaining=None` means until cleared."""

    kind: FaultKind
    remaining: int | None = None
    path_prefix: str | None = None
    delay: float = 1.0
    hops: int = 3
    location: str | None = None
    gzip: bool = False
    charset: str = "base64"

    def matches(self, path: str) -> bool:
        """Whether this fault applies to a request for `path`."""
        if self.path_prefix is not None:
            return path.startswith(self.path_prefix)
        # Unscoped faults leave robots.txt alone so a crawler's robots fetch does not eat them.
        return path != "/robots.txt"

    def to_json(self) -> dict[str, Any]:
        """The fault in the control API's JSON shape."""
        data: dict[str, Any] = {"remaining": self.remaining, "path_prefix": self.path_prefix}
        if self.kind == "slow":
            data["delay"] = self.delay
        elif self.kind == "redirect_chain":
            data["hops"] = self.hops
            data["location"] = self.location
        elif self.kind == "oversized":
            data["gzip"] = self.gzip
        elif self.kind == "bad_charset":
            data["charset"] = self.charset
        return data


@dataclass(frozen=True, slots=True)
class RequestFaults:
    """What the faults decided for one request: a delay and at most one replacing fault."""

    delay: float = 0.0
    action: Fault | None = None



class FaultSwitches:
    """The fault half of `Board`: every method runs under the board's lock, on state the board sets up."""

    _lock: threading.RLock
    _faults: dict[FaultKind, Fault]
    # Per target: requests let through the redirect fault because they end a chain (`allow_redirect_target`).
    _redirect_passes: Counter[str]

    @property
    def faults(self) -> dict[FaultKind, Fault]:
        """The active faults by kind."""
        with self._lock:
            return dict(self._faults)

    def set_fault(
        self,
        kind: FaultKind,
        *,
        remaining: int | None = None,
        path_prefix: str | None = None,
        delay: float = 1.0,
        hops: int = 3,
        location: str | None = None,
        gzip: bool = False,
        charset: str = "base64",
    ) -> Fault:
        """Turn on a fault for the next `remaining` matching requests (all, if None)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if remaining is not None and remaining < 1:
            raise ValueError("remaining must be >= 1 or null")
        if not 0 <= delay <= 60:
            raise ValueError("delay must be between 0 and 60 seconds")
        if not 1 <= hops <= 50:
            raise ValueError("hops must be between 1 and 50")
        if path_prefix is not None and not path_prefix.startswith("/"):
            raise ValueError("path_prefix must start with '/'")
        if not _CHARSET_LABEL.fullmatch(charset):
            raise ValueError("charset must be 1 to 40 letters, digits or _.:-")
        fault = Fault(
            kind=kind,
            remaining=remaining,
            path_prefix=path_prefix,
            delay=delay,
            hops=hops,
            location=location,
            gzip=gzip,
            charset=charset,
        )
        with self._lock:
            self._faults[kind] = fault
        return fault

    def clear_fault(self, kind: FaultKind) -> None:
        """Turn one fault off."""
        with self._lock:
            self._faults.pop(kind, None)

    def clear_faults(self) -> None:
        """Turn every fault off."""
        with self._lock:
            self._faults.clear()
            self._redirect_passes.clear()

    def _consume(self, kind: FaultKind) -> Fault:
        fault = self._faults[kind]
        if fault.remaining is not None:
            if fault.remaining <= 1:
                del self._faults[kind]
            else:
                self._faults[kind] = replace(fault, remaining=fault.remaining - 1)
        return fault

    def take_fault(self, kind: FaultKind, path: str) -> Fault | None:
        """Use one firing of fault `kind` if it is active for `path`."""
        with self._lock:
            fault = self._faults.get(kind)
            if fault is None or not fault.matches(path):
                return None
            return self._consume(kind)

    def take_request_faults(self, path: str, target: str) -> RequestFaults:
        """Decide the faults for one request to `path` (`target` is path plus query)."""
        with self._lock:
            slow = self.take_fault("slow", path)
            for kind in ACTION_FAULTS:
                fault = self._faults.get(kind)
                if fault is None or not fault.matches(path):
                    continue
                if kind == "redirect_chain" and self._redirect_passes[target] > 0:
                    # The client has just walked the chain to this page; serve the page itself.
                    self._redirect_passes[target] -= 1
                    continue
                return RequestFaults(delay=slow.delay if slow else 0.0, action=self._consume(kind))
            return RequestFaults(delay=slow.delay if slow else 0.0)

    def allow_redirect_target(self, target: str) -> None:
        """Let the next request for `target` through the redirect fault: it ends a chain."""
        with self._lock:
            self._redirect_passes[target] += 1
