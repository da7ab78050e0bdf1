"""Alembic commands driven from Forest's settings."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config

from forest.config import Settings, get_settings

ROOT = Path(__file__).resolve().parents[3]
VERSIONS = ROOT / "migrations" / "versions"


def alembic_config(settings: Settings | None = None, *, extra_versions: Sequence[Path] = ()) -> Config:
    """An Alembic config for the repository's migrations and these settings.

    `extra_versions` adds directories of revisions (tests use it for fixture migrations).
    """
    ini = ROOT / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if extra_versions:
        cfg.set_main_option("path_separator", "os")
        cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in (VERSIONS, *extra_versions)))
    cfg.attributes["settings"] = settings or get_settings()
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(revision: str = "head", settings: Settings | None = None) -> None:
    """Upgrade the database to `revision`."""
    command.upgrade(alembic_config(settings), revision)


def downgrade(revision: str, settings: Settings | None = None) -> None:
    """Downgrade the database to `revision`."""
    command.downgrade(alembic_config(settings), revision)


def check(settings: Settings | None = None) -> None:
    """Raise if autogenerate would produce any operation (models and migrations disagree)."""
    command.check(alembic_config(settings))


def sql(start: str, end: str, settings: Settings | None = None, *, config: Config | None = None) -> str:
    """The SQL `alembic upgrade start:end --sql` emits for the settings' database dialect; nothing is run."""
    cfg = config or alembic_config(settings)
    out = io.StringIO()
    cfg.output_buffer = out
    command.upgrade(cfg, f"{start}:{end}", sql=True)
    return out.getvalue()
