"""receipt_events: one row per return entity of a receipt, matched to its filing

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "receipt_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("filing_id", sa.String(length=36), nullable=False),
        sa.Column("message_type", sa.String(length=30), nullable=False),
        sa.Column("status_code", sa.String(length=10), nullable=False),
        sa.Column("status_time", sa.String(length=17), nullable=False),
        sa.Column("info", sa.Text(), nullable=True),
        sa.Column("parsed", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('applied', 'ignored')", name=op.f("ck_receipt_events_outcome")),
        sa.ForeignKeyConstraint(["filing_id"], ["filings.id"], name=op.f("fk_receipt_events_filing_id_filings")),
        sa.ForeignKeyConstraint(["receipt_id"], ["receipts.id"], name=op.f("fk_receipt_events_receipt_id_receipts")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_receipt_events_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_events")),
    )
    op.create_index(op.f("ix_receipt_events_filing_id"), "receipt_events", ["filing_id"], unique=False)
    op.create_index(op.f("ix_receipt_events_receipt_id"), "receipt_events", ["receipt_id"], unique=False)
    op.create_index(op.f("ix_receipt_events_tenant_id"), "receipt_events", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_table("receipt_events")
