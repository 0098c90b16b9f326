"""audit chain head, signed checkpoints, auditors and their grants; chain the existing audit events

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-22

Existing audit_events rows (written before the chain existed) are chained here, in id order, with
the same hashing as gateway.audit.chain, and the head row is written, so the chain starts at the
first record ever written.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("key_name", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "auditors",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auditors")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_auditors_key_hash")),
    )
    op.create_index(op.f("ix_auditors_prefix"), "auditors", ["prefix"], unique=False)
    op.create_table(
        "auditor_grants",
        sa.Column("auditor_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["auditor_id"], ["auditors.id"], name=op.f("fk_auditor_grants_auditor_id_auditors")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_auditor_grants_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("auditor_id", "tenant_id", name=op.f("pk_auditor_grants")),
    )
    op.create_index(op.f("ix_auditor_grants_tenant_id"), "auditor_grants", ["tenant_id"], unique=False)
    _chain_existing_events()


def _chain_existing_events() -> None:
    from gateway.audit.chain import record_hash
    from gateway.store.models import UTCDateTime

    events = sa.table(
        "audit_events", sa.column("id", sa.Integer()), sa.column("tenant_id", sa.String()),
        sa.column("subject_type", sa.String()), sa.column("subject_id", sa.String()),
        sa.column("action", sa.String()), sa.column("detail", sa.Text()), sa.column("at", UTCDateTime()),
        sa.column("prev_hash", sa.String()), sa.column("hash", sa.String()))
    head = sa.table("audit_chain_head", sa.column("id", sa.Integer()), sa.column("hash", sa.String()),
                    sa.column("records", sa.Integer()), sa.column("updated_at", UTCDateTime()))
    bind = op.get_bind()
    prev, n = None, 0
    rows = bind.execute(sa.select(events.c.id, events.c.tenant_id, events.c.subject_type, events.c.subject_id,
                                  events.c.action, events.c.detail, events.c.at).order_by(events.c.id)).all()
    for row in rows:
        h = record_hash(prev, row.tenant_id, row.subject_type, row.subject_id, row.action, row.detail, row.at)
        bind.execute(events.update().where(events.c.id == row.id).values(prev_hash=prev, hash=h))
        prev, n = h, n + 1
    bind.execute(head.insert().values(id=1, hash=prev, records=n, updated_at=datetime.now(UTC)))


def downgrade() -> None:
    op.drop_index(op.f("ix_auditor_grants_tenant_id"), table_name="auditor_grants")
    op.drop_table("auditor_grants")
    op.drop_index(op.f("ix_auditors_prefix"), table_name="auditors")
    op.drop_table("auditors")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_head")
