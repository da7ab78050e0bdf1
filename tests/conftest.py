"""Loads Forest's fixtures plugin (tests/plugin.py), the one home of every shared fixture and test helper.

The names imported below keep `from tests.conftest import …` working in test modules written against it.
"""

from __future__ import annotations

from tests.plugin import (  # noqa: F401 - re-exported
    NO_RATE_LIMITS,
    NO_RATE_LIMITS_ENV,
    PG_ADMIN_DSN,
    PG_TEST_DB,
    REDIS_URL,
    SECRET,
    Account,
    make_settings,
    pg_url,
    serving,
)
from tests.plugin import recreate_database as _recreate_pg  # noqa: F401 - the name older modules import

pytest_plugins = ["tests.plugin"]
