"""Migration safety lint: squawk over the PostgreSQL SQL that `alembic upgrade --sql` emits, one revision at a time.

Released revisions (0001–0003) are the baseline and are not linted: they created the schema, ran on empty
tables at install, and cannot change for databases that already applied them. Every later revision is
linted strictly. Rules left out, and why:
- prefer-robust-stmts: every revision runs in its own transaction and the alembic version row moves with
  it; the steps that run outside one (forest.migration_ops) are written to be re-run.
- prefer-bigint-over-int, prefer-bigint-over-smallint, prefer-identity, prefer-text-field: column-type
  preferences, not lock or rewrite hazards; the models choose the types (`String(n)`, `Integer` counts,
  BIGSERIAL ids) and `forest db check` keeps migrations equal to them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory

from forest.cli import migrate
from tests.conftest import make_settings

RELEASED = ("0001", "0002", "0003")
PG_VERSION = "15"
EXCLUDED_RULES = ("prefer-robust-stmts", "prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity",
                  "prefer-text-field")
# Emitting SQL needs only the dialect, never a connection.
LINT_URL = "postgresql+asyncpg://lint@127.0.0.1:1/lint"


@dataclass(frozen=True)
class Finding:
    """One squawk warning, with the SQL line it points at."""

    revision: str
    path: str
    rule: str
    message: str
    help: str
    sql_line: str

    def __str__(self) -> str:
        return (f"{self.path} (revision {self.revision}): {self.rule}: {self.message}\n"
                f"    SQL: {self.sql_line}\n    fix: {self.help}")


def squawk_binary() -> str:
    """The squawk executable installed beside this interpreter (squawk-cli from PyPI)."""
    local = Path(sys.executable).with_name("squawk")
    found = str(local) if local.exists() else shutil.which("squawk")
    if found is None:
        raise RuntimeError("squawk is not installed: pip install -e '.[dev]' (it comes with squawk-cli)")
    return found


def lint_config(var_dir: Path, extra_versions: tuple[Path, ...] = ()) -> Config:
    """An alembic config that emits PostgreSQL SQL, with optional fixture revisions."""
    return migrate.alembic_config(make_settings(LINT_URL, var_dir), extra_versions=extra_versions)


def revisions_to_lint(config: Config) -> list[Script]:
    """Every revision after the released baseline, oldest first."""
    scripts = list(ScriptDirectory.from_config(config).walk_revisions("base", "heads"))
    return [s for s in reversed(scripts) if s.revision not in RELEASED]


def lint_revision(config: Config, script: Script, work: Path) -> list[Finding]:
    """Squawk's findings on the upgrade SQL of one revision."""
    down = script.down_revision
    start = down[0] if isinstance(down, tuple) else down
    sql = migrate.sql(start or "base", script.revision, config=config)
    target = work / f"{script.revision}.sql"
    target.write_text(sql)
    proc = subprocess.run(
        [squawk_binary(), f"--pg-version={PG_VERSION}", "--reporter=json", f"--exclude={','.join(EXCLUDED_RULES)}",
         str(target)], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode not in (0, 1) or not proc.stdout.strip().startswith("["):
        raise RuntimeError(f"squawk failed on {target}: {proc.stderr or proc.stdout}")
    lines = sql.splitlines()
    path = Path(script.path).name
    return [Finding(script.revision, path, w["rule_name"], w["message"], w.get("help") or "",
                    lines[w["line"]].strip() if 0 <= w["line"] < len(lines) else "")
            for w in json.loads(proc.stdout)]
