"""What the demo app's routes read from a request: the live board behind it and integer query parameters."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request

from forest.demo_site.board import Board


def get_board(app: Starlette) -> Board:
    """The live Board behind an app made by create_demo_app."""
    board: Board = app.state.board
    return board


def board_of(request: Request) -> Board:
    """The live Board behind the app serving `request`."""
    return get_board(request.app)


def int_param(request: Request, name: str, default: int | None = None) -> int | None:
    """Query parameter `name` as an integer; `default` when it is missing or not one."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return default
