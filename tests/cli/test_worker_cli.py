"""`forest worker` options that are refused before a worker starts."""

from __future__ import annotations

from typer.testing import CliRunner

from forest.cli.main import app


def test_worker_refuses_an_unknown_queue() -> None:
    result = CliRunner().invoke(app, ["worker", "--queues", "forest,forest.webhook"])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())  # the error panel may wrap anywhere
    assert "unknown queue(s) forest.webhook;" in text and "known: forest, forest.webhooks" in text


def test_worker_refuses_zero_crawls_per_process() -> None:
    result = CliRunner().invoke(app, ["worker", "--crawls-per-process", "0"])
    assert result.exit_code == 2
    assert "--crawls-per-process" in " ".join(result.output.replace("│", " ").split())
