"""Built-in board layouts, by the name a Source's `preset` uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from forest.crawler.parse import BoardParser
from forest.crawler.presets.demo import DEMO_CUSTOM_SELECTORS, DEMO_LIST_PATH, demo_board
from forest.crawler.presets.egov import EgovBoardParser


@dataclass(frozen=True, slots=True)
class Preset:
    """A named layout and how to build its parser."""

    name: str
    description: str
    make_parser: Callable[[], BoardParser]


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "egov_board",
            "eGovFrame notice board (table.board_list / 번호·제목·담당부서·작성일·조회수), "
            "ids from nttId/nttSn/bbsSn/seq or fn_egov_* JavaScript links",
            EgovBoardParser,
        ),
        Preset("demo_board", "Forest's local demo board (an eGovFrame board)", demo_board),
    )
}


class UnknownPreset(ValueError):
    """A preset name that is not built in."""


def get_parser(name: str) -> BoardParser:
    """A fresh parser for a built-in preset; raises UnknownPreset."""
    preset = PRESETS.get(name)
    if preset is None:
        raise UnknownPreset(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return preset.make_parser()


__all__ = ["DEMO_CUSTOM_SELECTORS", "DEMO_LIST_PATH", "PRESETS", "Preset", "UnknownPreset", "get_parser"]
