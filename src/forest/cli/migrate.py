"""Alembic commands driven from Forest's settings."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from forest.config import Settings, get_settings


def alembic_config(settings: Settings | None = None) -> Config:
    """An Alembic config for the repository's migrations and these settings."""
    root = Path(__file__).resolve().parents[3]
    ini = root / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    cfg.set_main_option("script_location", str(root / "migrations"))
    cfg.attributes["settings"] = settings or get_settings()
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(revision: str = "head", settings: Settings | None = None) -> None:
    """Upgrade the database to `revision`."""
    # "head" means every head: branches adding revisions in parallel each start from the same parent.
    command.upgrade(alembic_config(settings), "heads" if revision == "head" else revision)


def downgrade(revision: str, settings: Settings | None = None) -> None:
    """Downgrade the database to `revision`."""
    command.downgrade(alembic_config(settings), revision)


def check(settings: Settings | None = None) -> None:
    """Raise if autogenerate would produce any operation (models and migrations disagree)."""
    command.check(alembic_config(settings))
