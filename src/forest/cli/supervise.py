"""Child processes kept running: one that dies is started again after a backoff, as a supervisor would.

Used by `forest up` (demo board, worker, API) and `forest worker --concurrency N` (N worker processes).
A child that keeps dying waits 1, 2, 4 ... up to 30 s before each restart; one that ran a minute
starts from 1 s again. Every exit and restart is logged with the child's pid and exit code.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0  # a child that ran this long gets the first backoff again when it dies
STOP_TIMEOUT = 15.0
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None
    restarts: int = 0
    env: dict[str, str] | None = field(default=None, repr=False)


class Supervisor:
    """Starts children, restarts those that die, stops them all (last started first)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.children: dict[str, Child] = {}
        self.stopping = False

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a child and keep it running."""
        child = self.children.get(name) or Child(name=name, argv=argv, env=env)
        self.children[name] = child
        # Each child leads its own process group, so what it started itself (the worker's beat process) is
        # stopped with it, and does not outlive a child that was killed. Being out of our group, a child is
        # told to stop by the kernel if this process is killed outright (Linux).
        child.proc = subprocess.Popen(child.argv, env=child.env, start_new_session=True,
                                      preexec_fn=_stop_with_parent if sys.platform == "linux" else None)
        child.started_at = time.monotonic()
        child.restart_at = None
        self.log(f"started {name} (pid {child.proc.pid})")
        return child.proc

    def poll(self) -> None:
        """Notice children that exited and restart those whose backoff has passed."""
        now = time.monotonic()
        for child in list(self.children.values()):
            if self.stopping or child.proc is None:
                continue
            if child.restart_at is None:
                code = child.proc.poll()
                if code is None:
                    continue
                _signal_group(child.proc, signal.SIGKILL)  # its leftovers
                if now - child.started_at >= HEALTHY_AFTER:
                    child.backoff = BACKOFF_FIRST
                child.restart_at = now + child.backoff
                self.log(f"{child.name} (pid {child.proc.pid}) exited with {code}; "
                         f"restarting in {child.backoff:g} s")
                child.backoff = min(BACKOFF_MAX, child.backoff * 2)
            elif now >= child.restart_at:
                child.restarts += 1
                self.start(child.name, child.argv, child.env)

    def stop(self) -> None:
        """Terminate every child (kill those still running after 15 s); no restarts from now on."""
        self.stopping = True
        running = [c.proc for c in reversed(self.children.values()) if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            _signal_group(proc, signal.SIGKILL)


def _stop_with_parent() -> None:
    # prctl(PR_SET_PDEATHSIG, SIGTERM): the child gets SIGTERM when its parent dies, even by SIGKILL.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):  # the group is gone already
        return
