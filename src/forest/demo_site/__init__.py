"""A local Korean public-agency bid board: the default crawl source, test target and benchmark target."""

from __future__ import annotations

from forest.demo_site.app import create_demo_app
from forest.demo_site.board import Board
from forest.demo_site.faults import Fault
from forest.demo_site.notices import Notice
from forest.demo_site.params import get_board

__all__ = ["Board", "Fault", "Notice", "create_demo_app", "get_board"]
