"""Crawl jobs in creation order: the admin's list of every user's jobs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 21:00:00+00:00

Why it exists and how to verify it: migrations/README.md, "0009".
"""

from __future__ import annotations

from collections.abc import Sequence

from forest.migration_ops import create_index_concurrently, drop_index_concurrently

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Built without blocking job submissions and progress writes (CONCURRENTLY, its own step).
    create_index_concurrently("ix_crawl_job_created_at_id", "crawl_job", ["created_at", "id"])


def downgrade() -> None:
    drop_index_concurrently("ix_crawl_job_created_at_id", "crawl_job")
