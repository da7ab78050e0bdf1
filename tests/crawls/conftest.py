"""The job tests' stacks (`pg_stack`, `embedded_stack`) and helpers live in tests/plugin.py, shared with
tests/realtime and the benchmarks; the names below keep `from tests.crawls.conftest import …` working."""

from __future__ import annotations

from tests.plugin import (  # noqa: F401 - re-exported
    Stack,
    free_port,
    fresh_storage,
    register,
    stack_env,
    user_id_of,
    wait_for_job,
    ws_close_code,
)
