"""initial schema: tenants, api_keys, orders, filings, outbox, receipts, audit_events, kv_cursors

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('subject_type', sa.String(length=30), nullable=False),
    sa.Column('subject_id', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_index('ix_audit_events_subject', 'audit_events', ['subject_type', 'subject_id'], unique=False)
    op.create_index(op.f('ix_audit_events_tenant_id'), 'audit_events', ['tenant_id'], unique=False)

    op.create_table('kv_cursors',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_kv_cursors'))
    )
    op.create_table('tenants',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('cop_code', sa.String(length=18), nullable=False),
    sa.Column('cop_name', sa.String(length=100), nullable=False),
    sa.Column('dxp_id', sa.String(length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('prefix', sa.String(length=8), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_keys_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_index(op.f('ix_api_keys_prefix'), 'api_keys', ['prefix'], unique=False)
    op.create_index(op.f('ix_api_keys_tenant_id'), 'api_keys', ['tenant_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('order_no', sa.String(length=60), nullable=False),
    sa.Column('regime', sa.String(length=10), nullable=False),
    sa.Column('direction', sa.String(length=6), nullable=False),
    sa.Column('platform_code', sa.String(length=18), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('normalized', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('cop_no', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("direction IN ('import', 'export')", name=op.f('ck_orders_direction')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_orders_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('tenant_id', 'platform_code', 'order_no', name=op.f('uq_orders_tenant_id_platform_code_order_no'))
    )
    op.create_index(op.f('ix_orders_tenant_id'), 'orders', ['tenant_id'], unique=False)

    op.create_table('filings',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('message_type', sa.String(length=30), nullable=False),
    sa.Column('agency', sa.String(length=10), nullable=False),
    sa.Column('guid', sa.String(length=36), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('last_status_code', sa.String(length=10), nullable=True),
    sa.Column('signed_bytes', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('business_key', sa.String(length=200), nullable=False),
    sa.Column('built_with', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("agency IN ('customs', 'inspection', 'fx', 'tax')", name=op.f('ck_filings_agency')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_filings_order_id_orders')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_filings_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filings')),
    sa.UniqueConstraint('guid', name=op.f('uq_filings_guid'))
    )
    op.create_index(op.f('ix_filings_business_key'), 'filings', ['business_key'], unique=False)
    op.create_index(op.f('ix_filings_order_id'), 'filings', ['order_id'], unique=False)
    op.create_index(op.f('ix_filings_tenant_id'), 'filings', ['tenant_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('filing_id', sa.String(length=36), nullable=False),
    sa.Column('adapter', sa.String(length=50), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('pending', 'sent', 'failed', 'done')", name=op.f('ck_outbox_state')),
    sa.ForeignKeyConstraint(['filing_id'], ['filings.id'], name=op.f('fk_outbox_filing_id_filings')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_outbox_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('filing_id', name=op.f('uq_outbox_filing_id'))
    )
    op.create_index('ix_outbox_state_next_attempt_at', 'outbox', ['state', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_outbox_tenant_id'), 'outbox', ['tenant_id'], unique=False)

    op.create_table('receipts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('filing_id', sa.String(length=36), nullable=True),
    sa.Column('adapter', sa.String(length=50), nullable=False),
    sa.Column('cursor', sa.String(length=100), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=30), nullable=True),
    sa.Column('status_code', sa.String(length=10), nullable=True),
    sa.Column('status_time', sa.String(length=17), nullable=True),
    sa.Column('info', sa.Text(), nullable=True),
    sa.Column('parsed', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('applied', 'ignored', 'quarantined', 'unmatched')", name=op.f('ck_receipts_outcome')),
    sa.ForeignKeyConstraint(['filing_id'], ['filings.id'], name=op.f('fk_receipts_filing_id_filings')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_receipts_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipts')),
    sa.UniqueConstraint('sha256', name=op.f('uq_receipts_sha256'))
    )
    op.create_index(op.f('ix_receipts_filing_id'), 'receipts', ['filing_id'], unique=False)
    op.create_index(op.f('ix_receipts_tenant_id'), 'receipts', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_receipts_tenant_id'), table_name='receipts')
    op.drop_index(op.f('ix_receipts_filing_id'), table_name='receipts')

    op.drop_table('receipts')
    op.drop_index(op.f('ix_outbox_tenant_id'), table_name='outbox')
    op.drop_index('ix_outbox_state_next_attempt_at', table_name='outbox')

    op.drop_table('outbox')
    op.drop_index(op.f('ix_filings_tenant_id'), table_name='filings')
    op.drop_index(op.f('ix_filings_order_id'), table_name='filings')
    op.drop_index(op.f('ix_filings_business_key'), table_name='filings')

    op.drop_table('filings')
    op.drop_index(op.f('ix_orders_tenant_id'), table_name='orders')

    op.drop_table('orders')
    op.drop_index(op.f('ix_api_keys_tenant_id'), table_name='api_keys')
    op.drop_index(op.f('ix_api_keys_prefix'), table_name='api_keys')

    op.drop_table('api_keys')
    op.drop_table('tenants')
    op.drop_table('kv_cursors')
    op.drop_index(op.f('ix_audit_events_tenant_id'), table_name='audit_events')
    op.drop_index('ix_audit_events_subject', table_name='audit_events')

    op.drop_table('audit_events')