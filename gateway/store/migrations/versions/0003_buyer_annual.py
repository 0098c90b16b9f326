"""buyer_annual_amounts: CBEC annual amount per buyer (append-only ledger)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "buyer_annual_amounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("buyer_key", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.String(length=24), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("ruleset", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('counted', 'restored')", name=op.f("ck_buyer_annual_amounts_kind")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_buyer_annual_amounts_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buyer_annual_amounts")),
        sa.UniqueConstraint("order_id", "kind", name=op.f("uq_buyer_annual_amounts_order_id_kind")),
    )
    op.create_index("ix_buyer_annual_amounts_buyer_key_year", "buyer_annual_amounts", ["buyer_key", "year"],
                    unique=False)
    op.create_index(op.f("ix_buyer_annual_amounts_tenant_id"), "buyer_annual_amounts", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_table("buyer_annual_amounts")
