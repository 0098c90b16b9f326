"""realtime179_calls: customs' platDataOpen calls, one upload per (tenant, order, session)

Revision ID: 0034
Revises: 0002
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "realtime179_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("order_no", sa.String(length=60), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=45), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_realtime179_calls_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realtime179_calls")),
        sa.UniqueConstraint("tenant_id", "order_no", "session_id",
                            name=op.f("uq_realtime179_calls_tenant_id_order_no_session_id")),
    )
    op.create_index(op.f("ix_realtime179_calls_tenant_id"), "realtime179_calls", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_realtime179_calls_tenant_id"), table_name="realtime179_calls")
    op.drop_table("realtime179_calls")
