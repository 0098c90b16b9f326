"""filings(message_type, state): the dispatcher finds the held order summaries (CEB701 not yet built with
their inventory's number) among the pending CEB701 filings, not by walking every pending outbox row

Revision ID: 0038
Revises: 0002
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0038"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_filings_message_type_state", "filings", ["message_type", "state"])


def downgrade() -> None:
    op.drop_index("ix_filings_message_type_state", table_name="filings")
