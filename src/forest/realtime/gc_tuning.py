"""Garbage-collector settings for an API process that holds many WebSockets.

CPython's full collection walks every tracked object and blocks the event loop while it does. An API
process holding 1,000 sockets tracks about 370,000 objects: some 155,000 from importing the app, the
rest (about 200 per socket) from the sockets' ASGI stacks. A full collection then took ~230 ms on the
benchmark machine, and it ran every few broadcasts, triggered by the broadcasts' own allocations, so it
landed in the middle of one (bench/RESULTS.md, Jobs). Two settings, applied once per process:

- the objects that exist once the app has started (modules, classes, routes) are moved to the permanent
  generation (`gc.freeze()`, after one collection so no garbage is frozen): they live as long as the
  process, and a full collection no longer walks them (~40% less work);
- the young generation is collected after 20,000 net allocations instead of 700: objects in flight
  while a broadcast runs (futures, timeouts, rows) are far less often caught alive by a collection and
  promoted, and full collections are triggered by promotions, so they become rare. A young collection
  costs a few milliseconds at most.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 20_000
_applied = False


def settle() -> None:
    """Freeze what startup created and widen the young generation (once per process; later calls do nothing)."""
    global _applied
    if _applied:
        return
    _applied = True
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_GENERATION_THRESHOLD), middle, old)
