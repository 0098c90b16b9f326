"""tenant_enterprises: the enterprise codes each tenant may file under

Revision ID: 0032
Revises: 0002
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_enterprises",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_enterprises_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_enterprises")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_tenant_enterprises_tenant_id_code")),
    )
    op.create_index(op.f("ix_tenant_enterprises_tenant_id"), "tenant_enterprises", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tenant_enterprises_tenant_id"), table_name="tenant_enterprises")
    op.drop_table("tenant_enterprises")
