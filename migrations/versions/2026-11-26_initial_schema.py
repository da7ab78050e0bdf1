"""Initial schema: users, sources, bids, crawl jobs and their events, alerts, idempotency keys.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 19:42:48.396375+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('source',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('start_url', sa.String(length=2048), nullable=False),
    sa.Column('preset', sa.String(length=50), nullable=True),
    sa.Column('selectors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('encoding', sa.String(length=50), nullable=True),
    sa.Column('max_pages', sa.Integer(), nullable=False),
    sa.Column('schedule', sa.String(length=100), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('polite', sa.Boolean(), nullable=False),
    sa.Column('delay_seconds', sa.Float(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_crawled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source')),
    sa.UniqueConstraint('name', name=op.f('uq_source_name'))
    )
    op.create_index(op.f('ix_source_next_run_at'), 'source', ['next_run_at'], unique=False)
    op.create_table('user',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('email', name=op.f('uq_user_email'))
    )
    op.create_table('alert',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('filters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('webhook_url', sa.String(length=2048), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_alert_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert'))
    )
    op.create_index(op.f('ix_alert_user_id'), 'alert', ['user_id'], unique=False)
    op.create_table('bid',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.Column('post_date', sa.Date(), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('attachments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_bid_source_id_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bid')),
    sa.UniqueConstraint('source_id', 'external_id', name=op.f('uq_bid_source_id_external_id'))
    )
    op.create_table('crawl_job',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('max_pages', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('pages_done', sa.Integer(), nullable=False),
    sa.Column('pages_total', sa.Integer(), nullable=True),
    sa.Column('items_seen', sa.Integer(), nullable=False),
    sa.Column('items_new', sa.Integer(), nullable=False),
    sa.Column('items_updated', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retry_of', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['retry_of'], ['crawl_job.id'], name=op.f('fk_crawl_job_retry_of_crawl_job'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_crawl_job_source_id_source'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_crawl_job_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crawl_job'))
    )
    op.create_index(op.f('ix_crawl_job_source_id'), 'crawl_job', ['source_id'], unique=False)
    op.create_index('ix_crawl_job_state_heartbeat_at', 'crawl_job', ['state', 'heartbeat_at'], unique=False)
    op.create_index(op.f('ix_crawl_job_task_id'), 'crawl_job', ['task_id'], unique=False)
    op.create_index('ix_crawl_job_user_id_created_at', 'crawl_job', ['user_id', 'created_at', 'id'], unique=False)
    op.create_table('ws_ticket',
    sa.Column('ticket_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_ws_ticket_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_hash', name=op.f('pk_ws_ticket'))
    )
    op.create_index(op.f('ix_ws_ticket_user_id'), 'ws_ticket', ['user_id'], unique=False)
    op.create_table('idempotency_key',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['crawl_job.id'], name=op.f('fk_idempotency_key_job_id_crawl_job'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_idempotency_key_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_key')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotency_key_user_id_key'))
    )
    op.create_index(op.f('ix_idempotency_key_expires_at'), 'idempotency_key', ['expires_at'], unique=False)
    op.create_table('job_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=True),
    sa.Column('alert_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], name=op.f('fk_job_event_alert_id_alert'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['crawl_job.id'], name=op.f('fk_job_event_job_id_crawl_job'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_job_event_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_event'))
    )
    op.create_index('ix_job_event_job_id_id', 'job_event', ['job_id', 'id'], unique=False)
    op.create_index('ix_job_event_user_id_id', 'job_event', ['user_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_job_event_user_id_id', table_name='job_event')
    op.drop_index('ix_job_event_job_id_id', table_name='job_event')
    op.drop_table('job_event')
    op.drop_index(op.f('ix_idempotency_key_expires_at'), table_name='idempotency_key')
    op.drop_table('idempotency_key')
    op.drop_index(op.f('ix_ws_ticket_user_id'), table_name='ws_ticket')
    op.drop_table('ws_ticket')
    op.drop_index('ix_crawl_job_user_id_created_at', table_name='crawl_job')
    op.drop_index(op.f('ix_crawl_job_task_id'), table_name='crawl_job')
    op.drop_index('ix_crawl_job_state_heartbeat_at', table_name='crawl_job')
    op.drop_index(op.f('ix_crawl_job_source_id'), table_name='crawl_job')
    op.drop_table('crawl_job')
    op.drop_table('bid')
    op.drop_index(op.f('ix_alert_user_id'), table_name='alert')
    op.drop_table('alert')
    op.drop_table('user')
    op.drop_index(op.f('ix_source_next_run_at'), table_name='source')
    op.drop_table('source')
