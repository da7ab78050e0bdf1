"""The migration safety lint passes every unreleased migration, and fails a blocking one."""

from __future__ import annotations

from pathlib import Path

from tests.migrations.lint import RELEASED, lint_config, lint_revision, revisions_to_lint

FIXTURES = Path(__file__).parent / "fixtures"


def test_lint_every_migration_after_the_released_ones_is_safe(tmp_path: Path) -> None:
    config = lint_config(tmp_path)
    scripts = revisions_to_lint(config)
    assert all(s.revision not in RELEASED for s in scripts)
    findings = [f for script in scripts for f in lint_revision(config, script, tmp_path)]
    assert not findings, "unsafe migration SQL (see migrations/README.md, \"Writing a safe migration\"):\n" + \
        "\n".join(map(str, findings))


def test_lint_refuses_a_plain_create_index_on_bid(tmp_path: Path) -> None:
    config = lint_config(tmp_path, (FIXTURES / "blocking",))
    script = next(s for s in revisions_to_lint(config) if s.revision == "f_blocking")
    findings = lint_revision(config, script, tmp_path)
    assert [f.rule for f in findings] == ["require-concurrent-index-creation"]
    report = str(findings[0])
    assert "blocking_index.py (revision f_blocking)" in report
    assert "CREATE INDEX ix_bid_title_department ON bid (title, department);" in report


def test_lint_accepts_the_migration_ops_helpers(tmp_path: Path) -> None:
    config = lint_config(tmp_path, (FIXTURES / "safe",))
    script = next(s for s in revisions_to_lint(config) if s.revision == "f_safe")
    assert lint_revision(config, script, tmp_path) == []
