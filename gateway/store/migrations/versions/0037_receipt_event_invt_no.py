"""receipt_events.invt_no: the inventory number customs gives in a CEB622 receipt, indexed, so that a
CEB816/818 tax bill finds its inventory by one index lookup instead of a scan of every inventory
receipt's JSON (issue 14); filled for the receipts stored before

Revision ID: 0037
Revises: 0002
Create Date: 2026-12-07
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("receipt_events") as batch:
        batch.add_column(sa.Column("invt_no", sa.String(64), nullable=True))
        batch.create_index("ix_receipt_events_invt_no", ["invt_no"])
    events = sa.table("receipt_events", sa.column("id", sa.Integer), sa.column("message_type", sa.String),
                      sa.column("parsed", sa.Text), sa.column("invt_no", sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(events.c.id, events.c.parsed)
                        .where(events.c.message_type == "CEB622Message", events.c.parsed.is_not(None))).all()
    for row_id, parsed in rows:
        invt_no = (json.loads(parsed) or {}).get("invtNo")
        if invt_no:
            bind.execute(events.update().where(events.c.id == row_id).values(invt_no=str(invt_no)[:64]))


def downgrade() -> None:
    with op.batch_alter_table("receipt_events") as batch:
        batch.drop_index("ix_receipt_events_invt_no")
        batch.drop_column("invt_no")
