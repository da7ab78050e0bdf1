"""The demo board's control API under `/_demo/`: its state and truth, new notices, edits, faults, robots.txt, reset."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from forest.demo_site.faults import FaultKind
from forest.demo_site.params import board_of, int_param


async def control_state(request: Request) -> Response:
    """Board size, newest id, active faults and per-path request counters."""
    return JSONResponse(board_of(request).state())


def _count_param(request: Request) -> int | Response:
    count = int_param(request, "count", 1)
    if count is None or count < 0 or count > 100_000:
        return JSONResponse({"detail": "count must be an integer between 0 and 100000"}, status_code=422)
    return count


async def control_add(request: Request) -> Response:
    """Post `count` new notices on top of the board."""
    count = _count_param(request)
    if isinstance(count, Response):
        return count
    board = board_of(request)
    added = board.add_notices(count)
    return JSONResponse({"added": [n.ntt_id for n in added], "total": board.total, "newest_id": board.newest_id})


async def control_truth(request: Request) -> Response:
    """Every notice with the facts its body states (`TenderFacts.to_json()` without evidence)."""
    return JSONResponse({"notices": board_of(request).truth()})


async def control_correct(request: Request) -> Response:
    """Post a 정정공고 for notice `ntt_id`: its deadline (and opening) move by `days` (default 7)."""
    ntt_id = int_param(request, "ntt_id")
    days = int_param(request, "days", 7)
    if ntt_id is None or days is None:
        return JSONResponse({"detail": "ntt_id and days must be integers"}, status_code=422)
    try:
        notice = board_of(request).correct_deadline(ntt_id, days=days)
    except LookupError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return JSONResponse({"corrected": notice.ntt_id, "title": notice.title, "facts": notice.facts.without_evidence()})


async def control_edit(request: Request) -> Response:
    """Correct `count` recent notices."""
    count = _count_param(request)
    if isinstance(count, Response):
        return count
    edited = board_of(request).edit_notices(count)
    return JSONResponse({"edited": [n.ntt_id for n in edited]})


class _FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    remaining: int | None = None
    path_prefix: str | None = None
    delay: float = 1.0
    hops: int = 3
    location: str | None = None
    gzip: bool = False
    charset: str = "base64"


_FAULTS_IN: TypeAdapter[dict[FaultKind, _FaultIn | None]] = TypeAdapter(dict[FaultKind, _FaultIn | None])


async def control_faults(request: Request) -> Response:
    """Turn faults on (an object of parameters) or off (null); other faults stay as they are."""
    board = board_of(request)
    if request.method == "DELETE":
        board.clear_faults()
        return JSONResponse({"faults": {}})
    try:
        faults_in = _FAULTS_IN.validate_json(await request.body())
        for kind, fault_in in faults_in.items():
            if fault_in is None:
                board.clear_fault(kind)
            else:
                board.set_fault(kind, **fault_in.model_dump())
    except ValidationError as exc:
        return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, status_code=422)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return JSONResponse({"faults": {kind: f.to_json() for kind, f in board.faults.items()}})


async def control_robots(request: Request) -> Response:
    """Replace robots.txt with the request body."""
    board = board_of(request)
    board.robots_txt = (await request.body()).decode()
    return PlainTextResponse(board.robots_txt)


async def control_reset(request: Request) -> Response:
    """Regenerate the board from its seed and clear faults, counters and robots.txt changes."""
    board = board_of(request)
    board.reset()
    return JSONResponse(board.state())



def control_routes() -> list[Route]:
    """The routes of the control API."""
    return [
        Route("/_demo/state", control_state),
        Route("/_demo/notices", control_add, methods=["POST"]),
        Route("/_demo/notices", control_truth, methods=["GET"]),
        Route("/_demo/corrections", control_correct, methods=["POST"]),
        Route("/_demo/edits", control_edit, methods=["POST"]),
        Route("/_demo/faults", control_faults, methods=["POST", "DELETE"]),
        Route("/_demo/robots", control_robots, methods=["PUT"]),
        Route("/_demo/reset", control_reset, methods=["POST"]),
    ]
