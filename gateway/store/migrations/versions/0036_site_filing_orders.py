"""orders.kind: an order, or a document another party files on its own (CEB513 waybill status, CEB711 entry
list, CEB215 return tally, CEB701 summary listing inventories; docs/site-filings.md), stored as an order row
of its own kind so its filings use the outbox, receipts and combined status unchanged

Revision ID: 0036
Revises: 0002
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("order", "logistics-status", "entry-list", "return-tally", "summary")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="order"))
        batch.create_check_constraint("kind", "kind IN (" + ", ".join(repr(k) for k in KINDS) + ")")


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("kind", type_="check")
        batch.drop_column("kind")
