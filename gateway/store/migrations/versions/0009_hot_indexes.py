"""hot lookups of the dispatcher: filings by (tenant, order, sequence), due outbox rows by adapter

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-07

- ``ix_filings_tenant_order_sequence``: an order's filings (combined status, the send order within
  an order, the API's order view). Without it SQLite walked ``ix_filings_tenant_id`` (one tenant's
  every filing) when the statistics were missing: 47 ms a lookup at 46k filings.
- ``ix_outbox_state_adapter_next_attempt_at``: the claim (pending rows of one adapter, oldest due first).
"""
from __future__ import annotations

from alembic import op

revision: str = "0009"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_filings_tenant_order_sequence", "filings", ["tenant_id", "order_id", "sequence"])
    op.create_index("ix_outbox_state_adapter_next_attempt_at", "outbox", ["state", "adapter", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_state_adapter_next_attempt_at", table_name="outbox")
    op.drop_index("ix_filings_tenant_order_sequence", table_name="filings")
