"""corrections: appType and the corrected filing on filings, corrections, order_versions

Revision ID: 0008
Revises: 0002
Create Date: 2026-11-26
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN with a server default / nullable works on SQLite as is (no foreign key: see the model)
    op.add_column("filings", sa.Column("app_type", sa.String(length=1), server_default="1", nullable=False))
    op.add_column("filings", sa.Column("corrects_id", sa.String(length=36), nullable=True))
    op.create_index(op.f("ix_filings_corrects_id"), "filings", ["corrects_id"], unique=False)

    op.create_table(
        "corrections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("filing_id", sa.String(length=36), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("order_version", sa.Integer(), nullable=True),
        sa.Column("due_by", sa.Date(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('modify', 'delete', 'replace', 'cancel', 'return')",
                           name=op.f("ck_corrections_kind")),
        sa.ForeignKeyConstraint(["filing_id"], ["filings.id"], name=op.f("fk_corrections_filing_id_filings")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_corrections_order_id_orders")),
        sa.ForeignKeyConstraint(["target_id"], ["filings.id"], name=op.f("fk_corrections_target_id_filings")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_corrections_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
        sa.UniqueConstraint("filing_id", name=op.f("uq_corrections_filing_id")),
    )
    op.create_index(op.f("ix_corrections_order_id"), "corrections", ["order_id"], unique=False)
    op.create_index(op.f("ix_corrections_target_id"), "corrections", ["target_id"], unique=False)
    op.create_index(op.f("ix_corrections_tenant_id"), "corrections", ["tenant_id"], unique=False)

    op.create_table(
        "order_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_order_versions_order_id_orders")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_order_versions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_versions")),
        sa.UniqueConstraint("order_id", "version", name=op.f("uq_order_versions_order_id_version")),
    )
    op.create_index(op.f("ix_order_versions_tenant_id"), "order_versions", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_table("order_versions")
    op.drop_table("corrections")
    op.drop_index(op.f("ix_filings_corrects_id"), table_name="filings")
    with op.batch_alter_table("filings") as batch:
        batch.drop_column("corrects_id")
        batch.drop_column("app_type")
