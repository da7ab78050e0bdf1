"""Every benchmark module imports against the current code, so a change to the API cannot silently break one."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
MODULES = sorted(".".join(p.relative_to(BENCH.parent).with_suffix("").parts) for p in BENCH.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_benchmark_module_imports(module: str) -> None:
    importlib.import_module(module)
