"""key store: tenant signing keys per channel, private keys encrypted at rest; raw payment data (179)

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-23
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("key_type", sa.String(length=8), nullable=False),
        sa.Column("key_name", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("private_key", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(length=16), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("key_type IN ('rsa', 'sm2')", name=op.f("ck_signing_keys_key_type")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_signing_keys_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
        sa.UniqueConstraint("tenant_id", "channel", "key_name",
                            name=op.f("uq_signing_keys_tenant_id_channel_key_name")),
    )
    op.create_index(op.f("ix_signing_keys_tenant_id"), "signing_keys", ["tenant_id"], unique=False)

    op.create_table(
        "payment_raw",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_payment_raw_order_id_orders")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_payment_raw_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_payment_raw")),
    )
    op.create_index(op.f("ix_payment_raw_tenant_id"), "payment_raw", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_table("payment_raw")
    op.drop_table("signing_keys")
